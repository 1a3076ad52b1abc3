"""Reference inputs for tests and benchmarks: linear per-token pricers and the standard scenario.

``LinearPricer`` is the simplest :class:`~planner.engine.types.RequestPricer` (flat $/Mtok
rates, no context tiers); the product prices real catalog models through ``pricing.calculator``.
``standard_scenario`` is the benchmark scenario of shared/design/BENCHMARKS.md with the given
model pricers.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.engine.types import (
    EngineInput,
    FloatArray,
    LogNormalSpec,
    ModelOption,
    RequestPricer,
    Tier,
    TokenBatch,
    UsageDist,
    Workload,
)


@dataclass(frozen=True)
class LinearPricer:
    """Flat prices per million tokens; reasoning tokens at ``reasoning`` (default: output)."""

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None
    reasoning: float | None = None
    per_request: float = 0.0

    def __call__(self, tokens: TokenBatch) -> FloatArray:
        cache_read = self.input if self.cache_read is None else self.cache_read
        cache_write = self.input if self.cache_write is None else self.cache_write
        reasoning = self.output if self.reasoning is None else self.reasoning
        return (
            tokens.input_tokens * self.input
            + tokens.cache_read_tokens * cache_read
            + tokens.cache_write_tokens * cache_write
            + tokens.output_tokens * self.output
            + tokens.reasoning_tokens * reasoning
        ) / 1e6 + self.per_request


def standard_scenario(
    *,
    small: tuple[str, RequestPricer],
    frontier: tuple[str, RequestPricer],
    reasoning: tuple[str, RequestPricer],
    horizon_months: int = 12,
) -> EngineInput:
    """The BENCHMARKS.md standard scenario priced with the given (key, pricer) models."""

    def option(model: tuple[str, RequestPricer], share: float, uses_reasoning: bool = False) -> ModelOption:
        return ModelOption(key=model[0], share=share, pricer=model[1], uses_reasoning=uses_reasoning)

    workloads = (
        Workload(
            key="chat",
            credits_per_request=1,
            models=(option(small, 0.7), option(frontier, 0.3)),
            input_tokens=LogNormalSpec(800, 3000),
            output_tokens=LogNormalSpec(300, 1200),
        ),
        Workload(
            key="docs",
            credits_per_request=2,
            models=(option(frontier, 1.0),),
            input_tokens=LogNormalSpec(6000, 30000),
            output_tokens=LogNormalSpec(500, 1500),
            prompt_cache_share=0.5,
        ),
        Workload(
            key="agent",
            credits_per_request=10,
            models=(option(frontier, 0.8), option(reasoning, 0.2, uses_reasoning=True)),
            input_tokens=LogNormalSpec(4000, 16000),
            output_tokens=LogNormalSpec(400, 2000),
            reasoning_tokens=LogNormalSpec(2000, 8000),
            calls_per_request=LogNormalSpec(10, 30),
        ),
    )
    pro_medians = (40.0, 5.0, 1.0)

    def usage(scale: float) -> tuple[UsageDist, ...]:
        return tuple(UsageDist(kind="lognormal", median=m * scale, p90=6 * m * scale) for m in pro_medians)

    tiers = (
        Tier("free", 0.0, 30, None, 30, 0.0, 0.0, 7000, usage(1 / 3), churn_monthly=0.08),
        Tier("pro", 20.0, None, None, None, 0.029, 0.30, 2500, usage(1.0), churn_monthly=0.04),
        Tier("team", 60.0, 2000, 0.02, 10000, 0.029, 0.30, 500, usage(3.0), churn_monthly=0.02),
    )
    rho = 0.8
    correlation = tuple(tuple(1.0 if i == j else rho for j in range(3)) for i in range(3))
    return EngineInput(
        tiers=tiers,
        workloads=workloads,
        correlation=correlation,
        horizon_months=horizon_months,
        price_trend_yearly=-0.30,
        usage_growth_monthly=0.05,
    )


def standard_scenario_linear(horizon_months: int = 12) -> EngineInput:
    """The standard scenario with list prices of gpt-4o-mini, gpt-4o and o3 as flat rates."""
    return standard_scenario(
        small=("openai/gpt-4o-mini", LinearPricer(0.15, 0.6, cache_read=0.075)),
        frontier=("openai/gpt-4o", LinearPricer(2.5, 10.0, cache_read=1.25)),
        reasoning=("openai/o3", LinearPricer(2.0, 8.0, cache_read=0.5)),
        horizon_months=horizon_months,
    )
