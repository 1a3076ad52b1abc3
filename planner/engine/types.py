"""The engine's input contract: frozen dataclasses built once from the database ("load, then compute").

Everything here is plain Python/numpy data. The ORM -> engine adapter
(planner.simulation.adapter) turns ORM rows and a run snapshot into these objects; the engine never
queries anything.

Units: money in the organisation's currency as float64 (prices per million tokens for models,
per month for tiers), token counts per call, usage in requests per user per month.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class TokenBatch:
    """Token counts of a batch of requests (one element per request), as priced by a provider.

    ``input_tokens`` counts *uncached* input tokens; ``cache_read_tokens`` and
    ``cache_write_tokens`` are the prompt-cache parts of the input. Reasoning tokens are billed
    separately from ``output_tokens``.
    """

    input_tokens: FloatArray
    cache_read_tokens: FloatArray
    cache_write_tokens: FloatArray
    output_tokens: FloatArray
    reasoning_tokens: FloatArray


class RequestPricer(Protocol):
    """Prices a batch of requests: returns the cost of each request in money units.

    Implementations live in ``pricing.calculator`` (the one cost calculator); the engine only
    calls them, so it stays free of Django and of price-catalog details (context tiers included).
    """

    def __call__(self, tokens: TokenBatch) -> FloatArray: ...


@dataclass(frozen=True)
class ModelOption:
    """One model in a workload's model mix.

    ``share`` is the fraction of the workload's requests served by this model. ``batch_pricer``
    prices requests sent through the provider's batch API (``None``: batch is not offered and
    the standard price applies). ``uses_reasoning`` says whether the workload's reasoning-token
    distribution applies to this model.
    """

    key: str
    share: float
    pricer: RequestPricer
    batch_pricer: RequestPricer | None = None
    uses_reasoning: bool = False


@dataclass(frozen=True)
class LogNormalSpec:
    """A positive quantity given by its median and 90th percentile (p90 >= median).

    ``p90 == median`` means a constant. Used for token counts per call and calls per request.
    """

    median: float
    p90: float

    @property
    def sigma(self) -> float:
        """Log-scale standard deviation: ln(p90/median) / z(0.9)."""
        return float(np.log(self.p90 / self.median) / Z90) if self.median > 0 else 0.0


#: The standard normal 90th percentile.
Z90 = 1.2815515655446004


@dataclass(frozen=True)
class Workload:
    """A feature of the product that spends tokens (chat, document Q&A, an agent task...).

    - ``credits_per_request``: quota credits one request consumes (cached or not).
    - ``calls_per_request``: model calls per request (agentic loops); ``None`` means one call.
      Token distributions are per call.
    - ``prompt_cache_share``: fraction of each call's input tokens read from the prompt cache.
    - ``prompt_cache_write_share``: fraction of each call's input tokens written to the cache.
    - ``response_cache_hit_rate``: fraction of requests answered from a response cache; they
      use quota but cost nothing.
    - ``batch_share``: fraction of requests sent through the batch API.
    - ``distillation``: fraction of input tokens removed by prompt distillation (0 = none).
    """

    key: str
    credits_per_request: float
    models: tuple[ModelOption, ...]
    input_tokens: LogNormalSpec
    output_tokens: LogNormalSpec
    reasoning_tokens: LogNormalSpec | None = None
    calls_per_request: LogNormalSpec | None = None
    prompt_cache_share: float = 0.0
    prompt_cache_write_share: float = 0.0
    response_cache_hit_rate: float = 0.0
    batch_share: float = 0.0
    distillation: float = 0.0


#: The fields of :class:`Workload` that are fractions in [0, 1].
WORKLOAD_FRACTIONS = (
    "prompt_cache_share",
    "prompt_cache_write_share",
    "response_cache_hit_rate",
    "batch_share",
    "distillation",
)


UsageKind = Literal["lognormal", "gamma", "pareto", "empirical"]


@dataclass(frozen=True)
class UsageDist:
    """Each user's *expected* requests per month for one workload (the latent intensity).

    - lognormal: ``median`` and ``p90``;
    - gamma: ``mean`` and ``shape``;
    - pareto: ``scale`` (minimum), ``alpha`` and optional ``upper`` truncation; alpha must be
      > 2 unless truncated, so the mean and its Monte Carlo error are finite;
    - empirical: ``values`` (observed intensities; sampled by their quantile function).

    ``overdispersion`` is the shape k of a monthly gamma shock with mean 1 multiplying the
    intensity (negative-binomial counts); ``None`` gives plain Poisson counts.
    """

    kind: UsageKind
    median: float = 0.0
    p90: float = 0.0
    mean: float = 0.0
    shape: float = 0.0
    scale: float = 0.0
    alpha: float = 0.0
    upper: float | None = None
    values: tuple[float, ...] = ()
    overdispersion: float | None = None


@dataclass(frozen=True)
class Segment:
    """A named share of a tier's users with usage of its own (e.g. 85% "chat", 15% "agentic
    power users"). ``usage`` holds one distribution per workload, aligned with
    ``EngineInput.workloads``."""

    key: str
    share: float
    usage: tuple[UsageDist, ...]


@dataclass(frozen=True)
class Tier:
    """A subscription tier. ``monthly_price`` is the resolved monthly revenue per subscriber
    (per-seat fee x seats, or an annual price / 12).

    ``included_credits=None`` means unlimited. With included credits and no overage price, use
    beyond the quota is blocked (the quota acts as a hard cap). ``hard_cap`` stops serving
    requests once the month's credits reach it. ``usage`` holds one distribution per workload,
    aligned with ``EngineInput.workloads``: the whole tier's usage. ``segments``, when given,
    replace it: each user belongs to one segment with probability its share (shares sum to 1)
    and draws its usage from that segment's distributions.
    """

    key: str
    monthly_price: float
    included_credits: float | None
    overage_price: float | None
    hard_cap: float | None
    payment_fee_pct: float
    payment_fee_fixed: float
    subscribers: int
    usage: tuple[UsageDist, ...]
    churn_monthly: float = 0.0
    segments: tuple[Segment, ...] = ()
    #: New subscribers joining at the start of month 2 (month 1's are ``subscribers``), growing
    #: by ``new_subscribers_growth_monthly`` each month after; each costs ``cac`` to acquire.
    new_subscribers_monthly: float = 0.0
    new_subscribers_growth_monthly: float = 0.0
    cac: float = 0.0

    @property
    def mixture(self) -> tuple[Segment, ...]:
        """The tier's users as segments: its ``segments``, or one segment (key ``""``) holding
        the whole tier's ``usage``."""
        return self.segments or (Segment(key="", share=1.0, usage=self.usage),)

    @property
    def is_paying(self) -> bool:
        return self.monthly_price > 0

    @property
    def effective_cap(self) -> float | None:
        """Credits a user can consume in a month (``None``: no limit)."""
        caps = [c for c in (self.hard_cap,) if c is not None]
        if self.included_credits is not None and self.overage_price is None:
            caps.append(self.included_credits)
        return min(caps) if caps else None


@dataclass(frozen=True)
class TierChange:
    """A lever's change to one tier's plan; each field left as ``None`` keeps the tier's value.

    ``fee_scale`` multiplies what the tier bills (relative); ``monthly_price`` sets it (the
    caller resolves a seat fee or an annual price to the monthly revenue per subscriber).
    ``included_credits``, ``overage_price`` and ``hard_cap`` set those fields.
    """

    tier: str
    fee_scale: float | None = None
    monthly_price: float | None = None
    included_credits: float | None = None
    overage_price: float | None = None
    hard_cap: float | None = None


@dataclass(frozen=True)
class Lever:
    """A what-if evaluated on the same simulated users as the baseline (common random numbers).

    Cost fields left as ``None`` keep the baseline. ``routing_share`` moves that fraction of the
    requests of every other model to ``routing_model`` (a cheap model for easy requests).
    ``workloads`` limits the cost fields to these workload keys (empty: all). ``plan`` changes
    tiers' prices, quotas and caps (at most one change per tier); a lever may combine both.
    """

    key: str
    label: str
    workloads: tuple[str, ...] = ()
    routing_model: ModelOption | None = None
    routing_share: float | None = None
    response_cache_hit_rate: float | None = None
    prompt_cache_share: float | None = None
    distillation: float | None = None
    batch_share: float | None = None
    plan: tuple[TierChange, ...] = ()

    @property
    def changes_costs(self) -> bool:
        """Whether the lever changes any workload's cost (else it changes the plan only)."""
        return any(
            value is not None
            for value in (
                self.routing_model,
                self.routing_share,
                self.response_cache_hit_rate,
                self.prompt_cache_share,
                self.distillation,
                self.batch_share,
            )
        )


@dataclass(frozen=True)
class ModelCost:
    """A model cost (training, fine-tuning, evaluation): ``amount`` paid in ``month`` (1 = the
    first month of the horizon), and again every ``every_months`` months after it when set (a
    retrain). Months beyond the horizon are not in its figures."""

    label: str
    month: int
    amount: float
    every_months: int | None = None

    def amounts(self, months: int) -> FloatArray:
        """What this cost adds to each month of a ``months``-long horizon."""
        paid = np.zeros(months)
        month = self.month
        while month <= months:
            paid[month - 1] += self.amount
            if self.every_months is None:
                break
            month += self.every_months
        return paid


@dataclass(frozen=True)
class EngineInput:
    """Everything one simulation needs. ``correlation`` is the workloads' Gaussian-copula
    correlation matrix (positive semi-definite, unit diagonal). ``model_costs`` and
    ``fixed_costs_monthly`` enter the lifetime figures only (``planner.engine.lifetime``)."""

    tiers: tuple[Tier, ...]
    workloads: tuple[Workload, ...]
    correlation: tuple[tuple[float, ...], ...]
    horizon_months: int = 12
    price_trend_yearly: float = 0.0
    usage_growth_monthly: float = 0.0
    discount_rate_yearly: float = 0.10
    target_margin: float = 0.5
    levers: tuple[Lever, ...] = field(default=())
    model_costs: tuple[ModelCost, ...] = field(default=())
    fixed_costs_monthly: float = 0.0
