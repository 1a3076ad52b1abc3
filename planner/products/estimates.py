"""Quick estimates for the scenario editor, computed as the user types (no simulation):

- ``cost_per_request_estimate``: the expected cost of one request of a workload at its token
  *medians*, per model of the mix and share-weighted, with the one cost calculator
  (``pricing.calculator.request_cost``) at the organisation's price (discounts applied) on the
  scenario's price date. A typical request, not the mean: token distributions are skewed, so the
  simulated mean cost is higher.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError

from planner.accounts.models import Organization
from planner.prices.models import PriceSheetEntry, SelfHostedDeployment
from planner.prices.terms import organization_terms, price_resolver
from pricing.calculator import PriceSchedule, request_cost
from pricing.models import AIModel
from pricing.resolve import price_instant
from pricing.selectors import PriceNotFound, catalog_models_for_keys

MixSource = AIModel | PriceSheetEntry | SelfHostedDeployment


def mix_source_for_key(*, organization: Organization, key: str, on: dt.date) -> MixSource | None:
    """The price source a model-mix key names: ``provider/model`` (a current catalog model),
    ``private/<slug>`` (the entry of the organisation's sheet in force on ``on`` that lists it,
    as ``pricing.resolve`` finds it) or ``self-hosted/<name>``. None when nothing matches."""
    head, _, tail = key.strip().partition("/")
    if not tail:
        return None
    if head == "private":
        private = organization_terms(organization_id=organization.pk).private_model_on(slug=tail, on=on)
        if private is None:
            return None
        return PriceSheetEntry.objects.select_related("sheet").get(pk=private.source["price_sheet_entry_id"])
    if head == "self-hosted":
        return SelfHostedDeployment.objects.filter(organization=organization, name=tail).first()
    return catalog_models_for_keys([key]).get(key.strip())


def mix_source_key(source: MixSource) -> str:
    if isinstance(source, PriceSheetEntry):
        return f"private/{source.slug}"
    if isinstance(source, SelfHostedDeployment):
        return source.mix_key
    return f"{source.provider.slug}/{source.slug}"


@dataclass(frozen=True)
class ModelEstimate:
    key: str
    share: float
    cost_per_request: float | None
    error: str = ""


@dataclass(frozen=True)
class RequestEstimate:
    models: list[ModelEstimate]
    cost_per_request: float | None  # share-weighted; None if any model has no price
    calls_per_request: float


def cost_per_request_estimate(
    *,
    organization: Organization,
    price_date: dt.date,
    mix: Sequence[tuple[str, float, str, bool]],
    input_tokens: float,
    output_tokens: float,
    reasoning_tokens: float = 0.0,
    calls_per_request: float = 1.0,
    prompt_cache_share: float = 0.0,
    prompt_cache_write_share: float = 0.0,
    response_cache_hit_rate: float = 0.0,
    distillation: float = 0.0,
) -> RequestEstimate:
    """Cost of a request at the token medians: ``mix`` is ``(key, share, variant, uses_reasoning)``.

    Input tokens shrink by ``distillation``; the prompt-cache shares split the input into cache
    reads and writes; a response-cache hit costs nothing; each of ``calls_per_request`` calls is
    priced on its own. Raises ValidationError for counts that are not finite and >= 0."""
    numbers = (input_tokens, output_tokens, reasoning_tokens, calls_per_request)
    if not all(math.isfinite(x) and x >= 0 for x in numbers):
        raise ValidationError("Token counts must be finite numbers of at least 0.")
    at = price_instant(price_date)
    catalog = catalog_models_for_keys(key for key, *_ in mix)
    resolver = price_resolver(organization_id=organization.pk, model_ids=[m.pk for m in catalog.values()])
    total_input = round(input_tokens * (1 - distillation))
    cache_read = round(total_input * prompt_cache_share)
    cache_write = round(total_input * prompt_cache_write_share)
    serve = (1 - response_cache_hit_rate) * max(calls_per_request, 1.0)
    estimates = []
    for key, share, variant, uses_reasoning in mix:
        reasoning = round(reasoning_tokens) if uses_reasoning else 0
        try:
            price = resolver.price_for_key(key=key, at=at, variant=variant, catalog=catalog)
            if price is None:
                estimates.append(ModelEstimate(key, share, None, "not in the catalog"))
                continue
            schedule = PriceSchedule.from_structure(price.structure)
            cost = request_cost(
                schedule,
                input_tokens=total_input,
                output_tokens=round(output_tokens) + reasoning,
                cache_read_tokens=cache_read,
                cache_write_tokens=cache_write,
                reasoning_tokens=reasoning,
            )
        except (PriceNotFound, ValueError) as exc:
            estimates.append(ModelEstimate(key, share, None, str(exc).split(";")[0][:160]))
            continue
        estimates.append(ModelEstimate(key, share, float(cost * Decimal(repr(serve)))))
    weighted: float | None = None
    if estimates and all(e.cost_per_request is not None for e in estimates):
        weighted = sum(e.share * (e.cost_per_request or 0.0) for e in estimates)
    return RequestEstimate(estimates, weighted, max(calls_per_request, 1.0))
