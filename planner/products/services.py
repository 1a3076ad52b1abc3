"""Services that build a product: the product itself, tiers, workloads with their model mix,
usage distributions and the correlation between workloads.

Every function validates with ``full_clean`` (field-level ``ValidationError``) and writes in a
transaction, so a rejected call leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from planner.accounts.models import Organization
from planner.core.services import model_update
from planner.core.validators import model_mix_validate
from planner.prices.models import PriceSheetEntry, SelfHostedDeployment
from planner.products.models import (
    USAGE_PARAMETERS,
    Product,
    Tier,
    UsageDistribution,
    Workload,
    WorkloadCorrelation,
    WorkloadModel,
)

FloatArray = npt.NDArray[np.float64]

#: Smallest eigenvalue accepted as "positive semi-definite": round-off in a valid matrix
#: (for example all pairs at 1.0) gives eigenvalues like -1e-16, never below -1e-9.
PSD_TOLERANCE = 1e-9

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


def product_create(
    *,
    organization: Organization,
    name: str,
    description: str = "",
    default_correlation: float = 0.8,
) -> Product:
    """Create a product of ``organization``; ``default_correlation`` ties workloads without
    a correlation of their own (0.8: heavy users tend to be heavy everywhere)."""
    product = Product(
        organization=organization,
        name=name,
        description=description,
        default_correlation=default_correlation,
    )
    product.full_clean()
    product.save()
    return product


def tier_create(
    *,
    product: Product,
    name: str,
    monthly_fee: Decimal = Decimal(0),
    seat_fee: Decimal | None = None,
    seats: int | None = None,
    annual_price: Decimal | None = None,
    included_credits: float | None = None,
    overage_price_per_credit: Decimal | None = None,
    hard_cap_credits: float | None = None,
    payment_fee_pct: Decimal = Decimal(0),
    payment_fee_fixed: Decimal = Decimal(0),
    subscribers: int = 0,
    churn_monthly: float = 0.0,
    position: int | None = None,
) -> Tier:
    """Create a tier. ``included_credits=None`` is unlimited; ``overage_price_per_credit=None``
    is no overage (the quota then acts as a cap); ``payment_fee_pct`` is a fraction (0.029)."""
    tier = Tier(
        product=product,
        name=name,
        position=_next_position(product.tiers) if position is None else position,
        monthly_fee=monthly_fee,
        seat_fee=seat_fee,
        seats=seats,
        annual_price=annual_price,
        included_credits=included_credits,
        overage_price_per_credit=overage_price_per_credit,
        hard_cap_credits=hard_cap_credits,
        payment_fee_pct=payment_fee_pct,
        payment_fee_fixed=payment_fee_fixed,
        subscribers=subscribers,
        churn_monthly=churn_monthly,
    )
    tier.full_clean()
    tier.save()
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
    name: str,
    credits_per_request: float,
    input_tokens_median: float,
    input_tokens_p90: float,
    output_tokens_median: float,
    output_tokens_p90: float,
    models: Sequence[ModelShare | tuple[Any, ...]],
    reasoning_tokens_median: float | None = None,
    reasoning_tokens_p90: float | None = None,
    calls_per_request_median: float | None = None,
    calls_per_request_p90: float | None = None,
    prompt_cache_share: float = 0.0,
    prompt_cache_write_share: float = 0.0,
    response_cache_hit_rate: float = 0.0,
    batch_share: float = 0.0,
    distillation: float = 0.0,
    position: int | None = None,
) -> Workload:
    """Create a workload with its model mix ``models`` (entries ``(ai_model, share[, variant,
    uses_reasoning])``; shares sum to 1). Token counts are per model call; calls per request
    ``None`` means one call."""
    workload = Workload(
        product=product,
        name=name,
        position=_next_position(product.workloads) if position is None else position,
        credits_per_request=credits_per_request,
        input_tokens_median=input_tokens_median,
        input_tokens_p90=input_tokens_p90,
        output_tokens_median=output_tokens_median,
        output_tokens_p90=output_tokens_p90,
        reasoning_tokens_median=reasoning_tokens_median,
        reasoning_tokens_p90=reasoning_tokens_p90,
        calls_per_request_median=calls_per_request_median,
        calls_per_request_p90=calls_per_request_p90,
        prompt_cache_share=prompt_cache_share,
        prompt_cache_write_share=prompt_cache_write_share,
        response_cache_hit_rate=response_cache_hit_rate,
        batch_share=batch_share,
        distillation=distillation,
    )
    rows = _workload_validate(workload=workload, models=models)
    with transaction.atomic():
        workload.save()
        for row in rows:
            row.workload = workload
        WorkloadModel.objects.bulk_create(rows)
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
) -> UsageDistribution:
    """Create or replace the usage distribution of ``tier`` for ``workload``.

    Parameters by ``kind``: lognormal (median, p90), gamma (mean, shape), pareto (scale, alpha,
    optional upper), empirical (values). Parameters of other kinds are stored as given but unused.
    """
    distribution = UsageDistribution.objects.filter(
        tier=tier, workload=workload
    ).first() or UsageDistribution(tier=tier, workload=workload)
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


def correlation_set(
    *, product: Product, workload_a: Workload, workload_b: Workload, rho: float
) -> WorkloadCorrelation:
    """Set the usage correlation of two workloads of ``product``.

    The product's whole correlation matrix must stay positive semi-definite; otherwise nothing
    is saved and the error (under ``rho``) names the pairs in conflict.
    """
    with transaction.atomic():
        correlation = _correlation_store(product, workload_a, workload_b, rho)
        _correlation_matrix_check(product)
    assert correlation is not None
    return correlation


def correlations_set(
    *,
    product: Product,
    default_correlation: float,
    pairs: Mapping[tuple[Workload, Workload], float | None],
) -> None:
    """Set ``product``'s default correlation and some pair correlations in one go.

    A pair given ``None`` follows the default again (its stored value is removed). Only the
    final matrix must be positive semi-definite, so a change that needs both a new default and
    new pairs is accepted; otherwise nothing is saved and the error (under ``rho``) names the
    pairs in conflict.
    """
    try:
        with transaction.atomic():
            model_update(
                instance=product,
                fields=PRODUCT_FIELDS,
                data={"default_correlation": default_correlation},
                refresh_on_error=False,  # below, once the transaction has rolled back
            )
            for (workload_a, workload_b), rho in pairs.items():
                _correlation_store(product, workload_a, workload_b, rho)
            _correlation_matrix_check(product)
    except ValidationError:
        product.refresh_from_db()  # the transaction rolled back: drop the unsaved default too
        raise


def _correlation_store(
    product: Product, workload_a: Workload, workload_b: Workload, rho: float | None
) -> WorkloadCorrelation | None:
    """Store one pair's correlation (None: remove it, so the pair follows the default)."""
    low, high = sorted((workload_a, workload_b), key=lambda w: w.pk)
    stored = WorkloadCorrelation.objects.filter(workload_a=low, workload_b=high)
    if rho is None:
        stored.delete()
        return None
    correlation = stored.first() or WorkloadCorrelation(product=product, workload_a=low, workload_b=high)
    correlation.rho = rho
    correlation.full_clean()
    correlation.save()
    return correlation


def _correlation_matrix_check(product: Product) -> None:
    """The matrix as stored now must be positive semi-definite (errors under ``rho``)."""
    try:
        correlation_matrix(product=product)
    except ValidationError as exc:
        raise ValidationError({"rho": exc.messages}) from exc


def correlation_matrix(*, product: Product) -> tuple[list[int], FloatArray]:
    """The Gaussian-copula correlation matrix of ``product``'s workloads.

    Returns ``(keys, matrix)``: ``keys`` are the Workload ids in the product's workload order
    (position, id) and ``matrix[i, j]`` the correlation of ``keys[i]`` and ``keys[j]``: the
    stored value for the pair, else ``product.default_correlation``; 1 on the diagonal.
    Raises ValidationError (under ``correlation``) when the matrix is not positive
    semi-definite, naming the pairs that conflict.
    """
    workloads = list(product.workloads.order_by("position", "id"))
    keys = [w.pk for w in workloads]
    index = {key: i for i, key in enumerate(keys)}
    size = len(keys)
    matrix = np.full((size, size), float(product.default_correlation))
    np.fill_diagonal(matrix, 1.0)
    for a_id, b_id, rho in WorkloadCorrelation.objects.filter(product=product).values_list(
        "workload_a_id", "workload_b_id", "rho"
    ):
        if a_id in index and b_id in index:
            matrix[index[a_id], index[b_id]] = matrix[index[b_id], index[a_id]] = rho
    if size:
        _psd_check(matrix, names=[w.name for w in workloads])
    return keys, matrix


def _psd_check(matrix: FloatArray, *, names: list[str]) -> None:
    """Raise when ``matrix`` has an eigenvalue below ``-PSD_TOLERANCE``.

    The pairs named are those that weigh most in the eigenvector of the most negative
    eigenvalue, i.e. the correlations whose combination is impossible.
    """
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    lowest = float(eigenvalues[0])
    if lowest >= -PSD_TOLERANCE:
        return
    vector = eigenvectors[:, 0]
    size = len(names)
    pairs = sorted(
        ((abs(vector[i] * vector[j] * matrix[i, j]), i, j) for i in range(size) for j in range(i + 1, size)),
        reverse=True,
    )
    described = ", ".join(f"{names[i]} ~ {names[j]} ({matrix[i, j]:g})" for _, i, j in pairs[:3])
    raise ValidationError(
        {
            "correlation": (
                "These workload correlations cannot hold together (the matrix is not positive "
                f"semi-definite; smallest eigenvalue {lowest:.3g}). Check the pairs: {described}."
            )
        }
    )


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
    """Change the fields in ``data`` (``TIER_FIELDS``), validate the whole tier, save."""
    model_update(instance=tier, fields=TIER_FIELDS, data=data)
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
    """Delete ``tier`` and its usage distributions."""
    tier.delete()


def workload_delete(*, workload: Workload) -> None:
    """Delete ``workload`` with its model mix, usage and correlations.

    Refused while a scenario's lever names the workload: dropping it from the lever's list
    would silently widen the lever (an empty list means every workload).
    """
    users = sorted(
        scenario.name
        for scenario in workload.product.scenarios.all()
        if any(workload.pk in (lever.get("workloads") or []) for lever in scenario.levers)
    )
    if users:
        raise ValidationError(
            {
                "workload": f"Levers of these scenarios name this workload: {', '.join(users)}. "
                "Edit them first."
            }
        )
    workload.delete()


def usage_distribution_delete(*, distribution: UsageDistribution) -> None:
    distribution.delete()
