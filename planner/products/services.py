"""Services that build a product: the product itself, tiers, workloads with their model mix and
usage distributions (the correlation between workloads is ``planner.products.correlations``).

Every function validates with ``full_clean`` (field-level ``ValidationError``) and writes in a
transaction, so a rejected call leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from planner.accounts.models import Organization
from planner.core.services import model_update
from planner.core.validators import model_mix_validate
from planner.prices.models import PriceSheetEntry, SelfHostedDeployment
from planner.products.correlations import correlation_matrix
from planner.products.models import (
    USAGE_PARAMETERS,
    Product,
    Segment,
    Tier,
    UsageDistribution,
    Workload,
    WorkloadModel,
)

#: Editable fields of each model, in display order: the update services accept these, and the
#: web forms, the API serializers and the scenario document are built from them. The parent
#: (product, tier, workload) is fixed: a tier or workload moved to another product would orphan
#: its usage and the scenarios' levers.
PRODUCT_FIELDS = ("name", "description", "default_correlation")
#: What a subscriber of a tier pays and gets: fees, seats, annual price, quota, overage and cap.
TIER_PLAN_FIELDS = (
    "monthly_fee",
    "seat_fee",
    "seats",
    "annual_price",
    "included_credits",
    "overage_price_per_credit",
    "hard_cap_credits",
)
TIER_FIELDS = (
    "name",
    "position",
    *TIER_PLAN_FIELDS,
    "payment_fee_pct",
    "payment_fee_fixed",
    "subscribers",
    "churn_monthly",
    "new_subscribers_monthly",
    "new_subscribers_growth_monthly",
    "cac",
)
WORKLOAD_FIELDS = (
    "name",
    "position",
    "credits_per_request",
    "input_tokens_median",
    "input_tokens_p90",
    "output_tokens_median",
    "output_tokens_p90",
    "reasoning_tokens_median",
    "reasoning_tokens_p90",
    "calls_per_request_median",
    "calls_per_request_p90",
    "prompt_cache_share",
    "prompt_cache_write_share",
    "response_cache_hit_rate",
    "batch_share",
    "distillation",
)
#: A usage distribution's kind and parameters (its tier and workload are its key).
USAGE_DISTRIBUTION_FIELDS = ("kind", *USAGE_PARAMETERS, "values", "overdispersion")
# The error on a create service's keyword that is none of the model's editable fields.
_UNKNOWN_FIELD = "Unknown field."


class ModelShare(NamedTuple):
    """One entry of a model mix. Plain tuples ``(source, share)`` or
    ``(source, share, variant, uses_reasoning)`` are accepted wherever this is. The source is a
    catalog ``pricing.models.AIModel``, a private model's ``PriceSheetEntry`` or a
    ``SelfHostedDeployment``."""

    model: Any  # AIModel | PriceSheetEntry | SelfHostedDeployment
    share: float
    variant: str = ""
    uses_reasoning: bool = False


def _next_position(queryset: Any) -> int:
    current = queryset.aggregate(top=Max("position"))["top"]
    return 0 if current is None else current + 1


def product_create(*, organization: Organization, **fields: Any) -> Product:
    """Create a product of ``organization`` from ``fields`` (any of ``PRODUCT_FIELDS``; the others
    take the model's defaults: ``default_correlation`` 0.8, heavy users tend to be heavy
    everywhere). Another key is refused with a ``ValidationError`` on it."""
    product = Product(organization=organization)
    model_update(instance=product, fields=PRODUCT_FIELDS, data=fields, unknown_message=_UNKNOWN_FIELD)
    return product


def tier_create(
    *,
    product: Product,
    scenario: Any = None,
    live_tier: Tier | None = None,
    position: int | None = None,
    **fields: Any,
) -> Tier:
    """Create a tier of ``product`` from ``fields`` (any of ``TIER_FIELDS``; the others take the
    model's defaults: free, unlimited, no overage, no cap, no payment fees, no subscribers, no
    churn), placed last in its plan unless ``position`` is given. ``included_credits=None`` is
    unlimited; ``overage_price_per_credit=None`` is no overage (the quota then acts as a cap);
    ``payment_fee_pct`` is a fraction (0.029).

    ``scenario`` None creates a live tier; a ``planner.simulation.models.Scenario`` of the
    product puts the tier in that scenario's plan, standing for ``live_tier`` (a live tier of
    the product) when given."""
    plan = Tier.objects.filter(product=product, scenario=scenario)
    tier = Tier(
        product=product,
        scenario=scenario,
        live_tier=live_tier,
        position=_next_position(plan) if position is None else position,
    )
    model_update(instance=tier, fields=TIER_FIELDS, data=fields, unknown_message=_UNKNOWN_FIELD)
    return tier


def _model_mix_rows(
    *, workload: Workload, models: Sequence[ModelShare | tuple[Any, ...]]
) -> list[WorkloadModel]:
    """Validate a model mix for ``workload`` and return unsaved rows (errors under ``models``)."""
    entries = [ModelShare(*entry) for entry in models]
    try:
        model_mix_validate(entry.share for entry in entries)
    except ValidationError as exc:
        raise ValidationError({"models": exc.messages}) from exc
    errors: list[str] = []
    seen: set[tuple[str, int, str]] = set()
    rows: list[WorkloadModel] = []
    for entry in entries:
        key = (type(entry.model).__name__, entry.model.pk, entry.variant)
        if key in seen:
            errors.append(f"{entry.model} ({entry.variant or 'standard'}) appears twice in the mix.")
        seen.add(key)
        if entry.uses_reasoning and workload.reasoning_tokens_median is None:
            errors.append(
                f"{entry.model} uses reasoning but the workload has no reasoning-token distribution."
            )
        row = WorkloadModel(
            workload=workload,
            **_source_fields(entry.model),
            share=entry.share,
            variant=entry.variant,
            uses_reasoning=entry.uses_reasoning,
        )
        try:
            row.full_clean(exclude=["workload"], validate_unique=False)
        except ValidationError as exc:
            errors.extend(f"{entry.model}: {message}" for message in exc.messages)
        rows.append(row)
    if errors:
        raise ValidationError({"models": errors})
    return rows


def _source_fields(source: Any) -> dict[str, Any]:
    """The WorkloadModel field that holds ``source`` (a model, a private model or a deployment)."""
    if isinstance(source, PriceSheetEntry):
        return {"price_sheet_entry": source}
    if isinstance(source, SelfHostedDeployment):
        return {"self_hosted": source}
    return {"model": source}


def _workload_validate(
    *, workload: Workload, models: Sequence[ModelShare | tuple[Any, ...]]
) -> list[WorkloadModel]:
    """Validate the workload's fields and its model mix together; return the unsaved mix rows.

    Raises one ``ValidationError`` with the field errors of both, so a form shows them all.
    """
    errors: dict[str, list[str]] = {}
    try:
        workload.full_clean()
    except ValidationError as exc:
        errors.update(exc.message_dict)
    rows: list[WorkloadModel] = []
    try:
        rows = _model_mix_rows(workload=workload, models=models)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return rows


def workload_create(
    *,
    product: Product,
    models: Sequence[ModelShare | tuple[Any, ...]],
    position: int | None = None,
    **fields: Any,
) -> Workload:
    """Create a workload of ``product`` from ``fields`` (any of ``WORKLOAD_FIELDS``; the others
    take the model's defaults) with its model mix ``models`` (entries ``(ai_model, share[,
    variant, uses_reasoning])``; shares sum to 1), placed last unless ``position`` is given.
    Token counts are per model call; calls per request ``None`` means one call.

    A new workload is an unsaved one given its fields and mix: ``workload_update`` validates and
    saves both. Every tier of every plan (live and scenarios') gets a zero usage for it
    (``UsageDistribution.is_placeholder``: runnable, flagged "set usage" in the editor). Nothing
    is saved on error."""
    workload = Workload(
        product=product, position=_next_position(product.workloads) if position is None else position
    )
    with transaction.atomic():
        workload_update(workload=workload, data=fields, models=models)
        UsageDistribution.objects.bulk_create(
            UsageDistribution(
                tier=tier,
                workload=workload,
                kind=UsageDistribution.Kind.EMPIRICAL,
                values=list(UsageDistribution.PLACEHOLDER_VALUES),
            )
            for tier in product.all_tiers.all()
        )
    return workload


def workload_models_set(
    *, workload: Workload, models: Sequence[ModelShare | tuple[Any, ...]]
) -> list[WorkloadModel]:
    """Replace ``workload``'s model mix with ``models`` (validated as a whole: shares sum to 1)."""
    rows = _model_mix_rows(workload=workload, models=models)
    with transaction.atomic():
        workload.model_mix.all().delete()
        return WorkloadModel.objects.bulk_create(rows)


def usage_distribution_set(
    *,
    tier: Tier,
    workload: Workload,
    kind: str,
    median: float | None = None,
    p90: float | None = None,
    mean: float | None = None,
    shape: float | None = None,
    scale: float | None = None,
    alpha: float | None = None,
    upper: float | None = None,
    values: Sequence[float] | None = None,
    overdispersion: float | None = None,
    segment: Segment | None = None,
) -> UsageDistribution:
    """Create or replace the usage distribution of ``tier`` (of its ``segment`` when given) for
    ``workload``.

    Parameters by ``kind``: lognormal (median, p90), gamma (mean, shape), pareto (scale, alpha,
    optional upper), empirical (values). Parameters of other kinds are stored as given but unused.
    """
    if segment is not None and segment.tier_id != tier.pk:
        raise ValidationError({"segment": "The segment belongs to another tier."})
    distribution = UsageDistribution.objects.filter(
        tier=tier, workload=workload, segment=segment
    ).first() or UsageDistribution(tier=tier, workload=workload, segment=segment)
    parameters = {
        "kind": kind,
        "median": median,
        "p90": p90,
        "mean": mean,
        "shape": shape,
        "scale": scale,
        "alpha": alpha,
        "upper": upper,
        "values": list(values) if values is not None else [],
        "overdispersion": overdispersion,
    }
    model_update(
        instance=distribution, fields=USAGE_DISTRIBUTION_FIELDS, data=parameters, refresh_on_error=False
    )
    return distribution


# --- Updates and deletes ---------------------------------------------------------------------


def product_update(*, product: Product, data: Mapping[str, Any]) -> Product:
    """Change the fields in ``data`` (``PRODUCT_FIELDS``); a new default correlation must
    keep the correlation matrix positive semi-definite. Nothing is saved on error."""

    def validate(product: Product) -> None:
        product.full_clean()
        if "default_correlation" in data:
            try:
                correlation_matrix(product=product)
            except ValidationError as exc:
                raise ValidationError({"default_correlation": exc.messages}) from exc

    model_update(instance=product, fields=PRODUCT_FIELDS, data=data, validate=validate)
    return product


def tier_update(*, tier: Tier, data: Mapping[str, Any]) -> Tier:
    """Change the fields in ``data`` (``TIER_FIELDS``, and ``live_tier`` for a scenario's
    tier), validate the whole tier, save."""
    model_update(instance=tier, fields=(*TIER_FIELDS, "live_tier"), data=data)
    return tier


def workload_update(
    *,
    workload: Workload,
    data: Mapping[str, Any],
    models: Sequence[ModelShare | tuple[Any, ...]] | None = None,
) -> Workload:
    """Change the fields in ``data`` (``WORKLOAD_FIELDS``) and, when ``models`` is given,
    replace the model mix. The mix is re-validated against the new fields either way (a model
    that uses reasoning needs a reasoning-token distribution). Nothing is saved on error."""
    rows: list[WorkloadModel] = []

    def validate(workload: Workload) -> None:
        mix = _model_mix_stored(workload) if models is None else models
        rows.extend(_workload_validate(workload=workload, models=mix))

    with transaction.atomic():
        model_update(instance=workload, fields=WORKLOAD_FIELDS, data=data, validate=validate)
        workload.model_mix.all().delete()
        WorkloadModel.objects.bulk_create(rows)
    return workload


def _model_mix_stored(workload: Workload) -> list[ModelShare]:
    """``workload``'s model mix as stored."""
    return [
        ModelShare(row.source, row.share, row.variant, row.uses_reasoning)
        for row in workload.model_mix.select_related("model", "price_sheet_entry__sheet", "self_hosted")
    ]


def product_delete(*, product: Product) -> None:
    """Delete ``product`` with its tiers, workloads, usage, scenarios and their runs."""
    product.delete()


def tier_delete(*, tier: Tier) -> None:
    """Delete ``tier`` with its segments and usage distributions (a live tier's stand-ins in
    scenarios stay, standing for no live tier). A scenario tier is dropped from its scenario's
    levers; a lever that named only this tier goes (an empty list would widen it to every tier)."""
    with transaction.atomic():
        if tier.scenario is not None:
            _levers_without(tier.scenario, "tiers", tier.pk)
        tier.delete()


def _levers_without(scenario: Any, field: str, pk: int) -> None:
    """Drop ``pk`` from the ``field`` list ("tiers", "workloads") of ``scenario``'s levers and
    save them when that changed anything. A lever that named only ``pk`` goes: an empty list
    would widen it to every tier or workload. ``scenario`` is a Scenario, reached through a
    reverse relation (scenarios sit above products)."""
    levers = []
    for lever in scenario.levers:
        named = lever.get(field) or []
        if pk not in named:
            levers.append(lever)
        elif len(named) > 1:
            levers.append({**lever, field: [x for x in named if x != pk]})
    if levers != scenario.levers:
        scenario.levers = levers
        scenario.save(update_fields=["levers", "updated_at"])


def workload_dependents(*, workload: Workload) -> list[str]:
    """What deleting ``workload`` changes in the product's scenarios, one line per scenario
    (its levers that name the workload, its override of it), sorted by scenario name. Read
    through reverse relations: scenarios sit above products."""
    overridden = set(workload.overrides.values_list("scenario_id", flat=True))
    lines = []
    for scenario in workload.product.scenarios.order_by("name"):
        levers = [
            lever.get("label") or lever.get("key")
            for lever in scenario.levers
            if workload.pk in (lever.get("workloads") or [])
        ]
        parts = [f"levers {', '.join(map(repr, levers))}"] if levers else []
        if scenario.pk in overridden:
            parts.append("its override of the workload")
        if parts:
            lines.append(f"{scenario.name}: {' and '.join(parts)}")
    return lines


def workload_delete(*, workload: Workload, confirm: bool = False) -> None:
    """Delete ``workload`` with its model mix, usage in every plan, correlations and the
    scenarios' overrides of it.

    When scenarios use it (``workload_dependents``), deleting needs ``confirm``: a ValidationError
    lists them otherwise. Confirmed, each lever drops the workload from its list, and a lever
    that named only this workload is removed (an empty list would widen it to every workload).
    """
    dependents = workload_dependents(workload=workload)
    if dependents and not confirm:
        raise ValidationError(
            {
                "workload": f"Scenarios use this workload ({'; '.join(dependents)}). "
                "Confirm to delete it and remove those."
            }
        )
    with transaction.atomic():
        for scenario in workload.product.scenarios.all():
            _levers_without(scenario, "workloads", workload.pk)
        workload.delete()


def usage_distribution_delete(*, distribution: UsageDistribution) -> None:
    distribution.delete()
