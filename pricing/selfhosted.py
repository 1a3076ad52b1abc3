"""Self-hosted inference: the effective price per million tokens of a GPU deployment, and the
monthly volume at which it beats an API model.

Pure Decimal arithmetic on a ``SelfHostedSpec``; every result carries its arithmetic as readable
steps (the web page shows them). The planner stores deployments; this module only computes.

Cost model. A replica (``gpus_per_replica`` GPUs at ``gpu_hourly_cost`` each per hour) reads input
at ``input_tokens_per_second`` when it only processes prompts (prefill) and writes output at
``output_tokens_per_second`` when it only generates (decode). A mixed load shares the replica's
time between the two, so a request occupies the replica ``input / X_in + output / X_out`` seconds
and each kind of token has its own price, whatever the mix::

    effective throughput = throughput x throughput_multiplier x target_utilisation   (tokens/s)
    $/Mtok               = replica $/hour / (effective throughput x 3600) x 1,000,000

``target_utilisation`` is the share of paid hours that serve traffic (idle headroom, uneven load);
``throughput_multiplier`` adjusts throughputs measured at another quantization (1 = measured as is).

Break-even. A replica costs its hours whether used or not: its fixed monthly cost is
``F = $/hour x 730`` (8,760 hours a year / 12). At a workload's token mix (``input_share`` of the
tokens are input) the API costs ``a`` dollars per token and one replica serves at most ``C``
tokens a month at the target utilisation. Serving ``V`` tokens a month on ``ceil(V / C)`` replicas
costs ``ceil(V / C) x F`` against ``V x a`` on the API. When ``F / a <= C`` a replica pays for
itself before it is full and self-hosting wins from ``V* = F / a`` tokens a month (just after each
added replica the API is briefly cheaper again, until ``n x F / a``); when ``F / a > C`` the API
is cheaper at every volume and there is no break-even.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

#: Hours billed per month for an always-on replica: 8,760 hours a year / 12.
HOURS_PER_MONTH = Decimal(730)
SECONDS_PER_HOUR = Decimal(3600)
MILLION = Decimal(1_000_000)
#: $/Mtok are quantized like the catalog's price columns (10 decimal places).
MTOK_QUANTUM = Decimal("0.0000000001")
#: The largest $/Mtok the catalog's price columns hold (20 digits, 10 of them decimals). A
#: deployment priced above it (a throughput of 1e-300 tokens/s) has no price anyone could store.
MAX_MTOK = Decimal("9999999999.9999999999")


class SelfHostedPriceOutOfRange(ValueError):
    """A derived $/Mtok above ``MAX_MTOK``; ``field`` is the throughput of that kind of token."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def _decimal(name: str, value: float | int | Decimal) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, float | int | Decimal):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    # repr() of a float is the shortest string that reads back to it: 0.6 stays 0.6.
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite():
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def _plain(value: Decimal, places: int = 4) -> str:
    """A number for the steps: thousands separators, ``places`` decimals, trailing zeros dropped."""
    text = f"{value:,.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(frozen=True)
class SelfHostedSpec:
    """A deployment's parameters (see the module docstring for their meaning)."""

    gpu_hourly_cost: Decimal
    gpus_per_replica: int
    input_tokens_per_second: float
    output_tokens_per_second: float
    target_utilization: float
    throughput_multiplier: float = 1.0
    quantization: str = ""

    def __post_init__(self) -> None:
        cost = _decimal("gpu_hourly_cost", self.gpu_hourly_cost)
        if cost < 0:
            raise ValueError(f"gpu_hourly_cost must be at least 0, got {self.gpu_hourly_cost}")
        if isinstance(self.gpus_per_replica, bool) or not isinstance(self.gpus_per_replica, int):
            raise ValueError(f"gpus_per_replica must be an integer, got {self.gpus_per_replica!r}")
        if self.gpus_per_replica < 1:
            raise ValueError(f"gpus_per_replica must be at least 1, got {self.gpus_per_replica}")
        for name in ("input_tokens_per_second", "output_tokens_per_second", "throughput_multiplier"):
            if _decimal(name, getattr(self, name)) <= 0:
                raise ValueError(f"{name} must be above 0, got {getattr(self, name)}")
        utilization = _decimal("target_utilization", self.target_utilization)
        if not 0 < utilization <= 1:
            raise ValueError(f"target_utilization must be in (0, 1], got {self.target_utilization}")


@dataclass(frozen=True)
class SelfHostedCost:
    """The effective prices of a deployment and the steps that derive them."""

    replica_hourly_cost: Decimal
    input_tokens_per_hour: Decimal
    output_tokens_per_hour: Decimal
    input_mtok: Decimal
    output_mtok: Decimal
    monthly_fixed_cost: Decimal
    steps: tuple[str, ...]

    def structure(self) -> dict[str, str]:
        """The genai-prices-shaped price structure: input and output per million tokens."""
        return {"input_mtok": format(self.input_mtok, "f"), "output_mtok": format(self.output_mtok, "f")}


def self_hosted_cost(spec: SelfHostedSpec) -> SelfHostedCost:
    """Effective $/Mtok for input and output, and the fixed monthly cost of one replica.

    Raises ``SelfHostedPriceOutOfRange`` when a price is above ``MAX_MTOK``.
    """
    gpu_cost = _decimal("gpu_hourly_cost", spec.gpu_hourly_cost)
    multiplier = _decimal("throughput_multiplier", spec.throughput_multiplier)
    utilization = _decimal("target_utilization", spec.target_utilization)
    replica = gpu_cost * spec.gpus_per_replica
    steps = [
        f"Replica cost: ${_plain(gpu_cost)} per GPU-hour x {spec.gpus_per_replica} "
        f"GPU{'s' if spec.gpus_per_replica != 1 else ''} = ${_plain(replica)} per hour"
    ]
    quantization = f" ({spec.quantization})" if spec.quantization else ""
    rates: dict[str, tuple[Decimal, Decimal]] = {}
    for kind, raw in (("input", spec.input_tokens_per_second), ("output", spec.output_tokens_per_second)):
        throughput = _decimal(f"{kind}_tokens_per_second", raw)
        effective = throughput * multiplier * utilization
        per_hour = effective * SECONDS_PER_HOUR
        mtok = replica / per_hour * MILLION
        if mtok > MAX_MTOK:
            raise SelfHostedPriceOutOfRange(
                f"{kind}_tokens_per_second",
                f"At ${_plain(replica)} per replica-hour, {float(raw):g} {kind} tokens/s x "
                f"{float(multiplier):g} throughput multiplier x {float(utilization):g} target utilisation "
                f"costs more per million {kind} tokens than the largest price the catalog holds "
                f"(${MAX_MTOK:,f}): enter the replica's real throughput.",
            )
        mtok = mtok.quantize(MTOK_QUANTUM, rounding=ROUND_HALF_EVEN)
        rates[kind] = (per_hour, mtok)
        steps.append(
            f"Effective {kind} throughput: {_plain(throughput)} tokens/s x {_plain(multiplier)} "
            f"throughput multiplier{quantization} x {_plain(utilization)} target utilisation = "
            f"{_plain(effective)} tokens/s = {_plain(per_hour, 0)} tokens per hour"
        )
        steps.append(
            f"{kind.capitalize()} price: ${_plain(replica)} per hour / {_plain(per_hour, 0)} tokens per hour "
            f"x 1,000,000 = ${_plain(mtok, 6)} per million {kind} tokens"
        )
    monthly = replica * HOURS_PER_MONTH
    steps.append(
        f"Fixed monthly cost of one replica: ${_plain(replica)} per hour x 730 hours = ${_plain(monthly, 2)}"
    )
    return SelfHostedCost(
        replica_hourly_cost=replica,
        input_tokens_per_hour=rates["input"][0],
        output_tokens_per_hour=rates["output"][0],
        input_mtok=rates["input"][1],
        output_mtok=rates["output"][1],
        monthly_fixed_cost=monthly,
        steps=tuple(steps),
    )


@dataclass(frozen=True)
class BreakEven:
    """Self-hosting against an API model at a token mix.

    ``volume_tokens`` is the monthly token volume (input + output) from which one replica is
    cheaper than the API, ``None`` when the API is cheaper at every volume.
    """

    input_share: Decimal
    api_mtok: Decimal
    self_hosted_mtok: Decimal
    monthly_fixed_cost: Decimal
    replica_capacity_tokens: Decimal
    volume_tokens: Decimal | None
    steps: tuple[str, ...]


def break_even_volume(
    spec: SelfHostedSpec,
    *,
    api_input_mtok: Decimal,
    api_output_mtok: Decimal,
    input_tokens: float,
    output_tokens: float,
) -> BreakEven:
    """The monthly volume at which self-hosting ``spec`` beats an API priced ``api_*_mtok``.

    ``input_tokens`` and ``output_tokens`` give the workload's mix (per request, or any totals:
    only their ratio matters). See the module docstring for the rule.
    """
    api_in = _decimal("api_input_mtok", api_input_mtok)
    api_out = _decimal("api_output_mtok", api_output_mtok)
    tokens_in = _decimal("input_tokens", input_tokens)
    tokens_out = _decimal("output_tokens", output_tokens)
    if min(api_in, api_out, tokens_in, tokens_out) < 0:
        raise ValueError("API prices and token counts must be at least 0.")
    if tokens_in + tokens_out <= 0:
        raise ValueError("The token mix needs some input or output tokens.")
    cost = self_hosted_cost(spec)
    share = tokens_in / (tokens_in + tokens_out)
    api = share * api_in + (1 - share) * api_out
    seconds_per_token = share * SECONDS_PER_HOUR / cost.input_tokens_per_hour + (1 - share) * (
        SECONDS_PER_HOUR / cost.output_tokens_per_hour
    )
    capacity = HOURS_PER_MONTH * SECONDS_PER_HOUR / seconds_per_token
    own = cost.monthly_fixed_cost / capacity * MILLION
    steps = [
        f"Token mix: {_plain(tokens_in, 2)} input : {_plain(tokens_out, 2)} output, "
        f"so {_plain(share * 100, 2)}% of tokens are input",
        f"API price at this mix: {_plain(share, 6)} x ${_plain(api_in, 6)} + {_plain(1 - share, 6)} x "
        f"${_plain(api_out, 6)} = ${_plain(api, 6)} per million tokens",
        f"Capacity of one replica at target utilisation: 730 h x 3600 s / {_plain(seconds_per_token, 10)} "
        f"s per token = {_plain(capacity, 0)} tokens per month",
        f"Self-hosted price of a full replica: ${_plain(cost.monthly_fixed_cost, 2)} / "
        f"{_plain(capacity, 0)} tokens x 1,000,000 = ${_plain(own, 6)} per million tokens",
    ]
    volume: Decimal | None = None
    if api > 0 and api > own:
        volume = cost.monthly_fixed_cost / api * MILLION
        steps.append(
            f"Break-even: ${_plain(cost.monthly_fixed_cost, 2)} fixed per month / ${_plain(api, 6)} per "
            f"million tokens = {_plain(volume, 0)} tokens per month "
            f"({_plain(volume / capacity * 100, 1)}% of one replica's capacity); "
            "above it self-hosting is cheaper"
        )
    else:
        steps.append(
            "No break-even: a full replica costs more per token than the API at this mix, "
            "so the API is cheaper at every volume"
        )
    return BreakEven(
        input_share=share,
        api_mtok=api,
        self_hosted_mtok=own,
        monthly_fixed_cost=cost.monthly_fixed_cost,
        replica_capacity_tokens=capacity,
        volume_tokens=volume,
        steps=tuple(steps),
    )
