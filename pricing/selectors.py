"""Reading the price catalog: the price in force for a model at an instant, and catalog search."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Case, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.utils import timezone

from pricing.models import AIModel, ModelPrice
from pricing.periods import as_utc, row_in_force


class PriceNotFound(LookupError):
    """No price in the catalog for that provider, model and variant at that instant."""


def price_not_found(*, provider_slug: str, model_slug: str, at: datetime, variant: str) -> PriceNotFound:
    """The error for a missing price, saying what is missing: the model, the variant or the date."""
    model = AIModel.objects.filter(provider__slug=provider_slug, slug=model_slug).first()
    if model is None:
        return PriceNotFound(
            f"No model {model_slug!r} from provider {provider_slug!r} in the price catalog "
            "(is the catalog imported? run `manage.py import_prices`)."
        )
    variants = sorted(set(model.prices.values_list("variant", flat=True)))
    if variant not in variants:
        return PriceNotFound(
            f"{provider_slug}/{model_slug} has no price variant {variant!r}; "
            f"its variants are {', '.join(repr(name) for name in variants) or 'none'}."
        )
    return PriceNotFound(
        f"No price for {provider_slug}/{model_slug} (variant {variant!r}) in force at {at.isoformat()}."
    )


def model_price_at(*, provider_slug: str, model_slug: str, at: datetime, variant: str = "") -> ModelPrice:
    """The complete price of a model for ``variant`` (``""``: standard) in force at ``at``.

    ``at`` is an instant (naive means UTC); dated prices start at midnight UTC, time-of-day
    prices apply inside their daily UTC window. Prices still in the catalog win over retired
    ones; a retired price answers only for instants that no current price covers. Its
    ``structure`` gives the same cost as ``genai_prices.calc_price(...,
    genai_request_timestamp=at, price_context=row.when)``. Raises ``PriceNotFound``.
    """
    rows = list(
        ModelPrice.objects.filter(
            model__provider__slug=provider_slug, model__slug=model_slug, variant=variant
        ).select_related("model__provider")
    )
    row = row_in_force((row for row in rows if row.retired_at is None), at) or row_in_force(
        (row for row in rows if row.retired_at is not None), at
    )
    if row is None:
        raise price_not_found(
            provider_slug=provider_slug, model_slug=model_slug, at=as_utc(at), variant=variant
        )
    return row


def catalog_models_for_keys(keys: Iterable[str]) -> dict[str, AIModel]:
    """The current catalog models named ``provider/model`` among ``keys`` (others are left out)."""
    pairs = {tuple(key.strip().split("/", 1)) for key in keys if "/" in key}
    if not pairs:
        return {}
    named = Q()
    for provider_slug, model_slug in pairs:
        named |= Q(provider__slug=provider_slug, slug=model_slug)
    models = AIModel.objects.filter(named, retired_at__isnull=True).select_related("provider")
    return {f"{model.provider.slug}/{model.slug}": model for model in models}


#: ``catalog_search`` orders: relevance, or a current standard price (cheapest or dearest first).
CATALOG_SORTS = ("relevance", "input", "-input", "output", "-output")


def catalog_search(
    *, query: str, limit: int, at: datetime | None = None, sort: str = "relevance"
) -> QuerySet[AIModel]:
    """Current catalog models whose provider or model (slug or name) contains every word of ``query``.

    At most ``limit`` models. ``sort="relevance"``: exact then prefix matches on the model slug
    first, then by provider and model slug; ``"input"``/``"output"`` (``"-input"``/``"-output"``):
    cheapest (dearest) current price first, models without one last. Each carries
    ``current_input_mtok``, ``current_output_mtok``, ``current_cache_read_mtok`` (per million
    tokens) and ``current_requests_kcount`` (per thousand requests), the all-day standard price in
    force at ``at`` (default: now), for display and sorting (``None`` when the model has no such
    price, e.g. a per-request-only model).
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    if sort not in CATALOG_SORTS:
        raise ValueError(f"sort must be one of {', '.join(CATALOG_SORTS)}, got {sort!r}")
    at = as_utc(at) if at is not None else timezone.now()
    words = query.split()
    models = AIModel.objects.filter(retired_at__isnull=True).select_related("provider")
    for word in words:
        models = models.filter(
            Q(slug__icontains=word)
            | Q(name__icontains=word)
            | Q(provider__slug__icontains=word)
            | Q(provider__name__icontains=word)
        )
    current = (
        ModelPrice.objects.filter(
            model=OuterRef("pk"), variant="", retired_at__isnull=True, start_time__isnull=True
        )
        .filter(Q(effective_from__isnull=True) | Q(effective_from__lte=at))
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gt=at))
        .order_by(F("effective_from").desc(nulls_last=True))
    )
    phrase = query.strip()
    rank = (
        Case(
            When(slug__iexact=phrase, then=Value(0)),
            When(slug__istartswith=phrase, then=Value(1)),
            default=Value(2),
            output_field=IntegerField(),
        )
        if phrase
        else Value(2, output_field=IntegerField())
    )
    annotated = models.annotate(
        current_input_mtok=Subquery(current.values("input_mtok")[:1]),
        current_output_mtok=Subquery(current.values("output_mtok")[:1]),
        current_cache_read_mtok=Subquery(current.values("cache_read_mtok")[:1]),
        current_requests_kcount=Subquery(current.values("requests_kcount")[:1]),
        search_rank=rank,
    )
    if sort == "relevance":
        return annotated.order_by("search_rank", "provider__slug", "slug")[:limit]
    column = F(f"current_{sort.lstrip('-')}_mtok")
    price_order = column.desc(nulls_last=True) if sort.startswith("-") else column.asc(nulls_last=True)
    return annotated.order_by(price_order, "provider__slug", "slug")[:limit]


def model_price_history(*, model_id: int) -> QuerySet[ModelPrice]:
    """Every price row of a catalog model (retired ones included), by variant then date."""
    return ModelPrice.objects.filter(model_id=model_id).order_by(
        "variant", F("effective_from").asc(nulls_first=True), "start_time"
    )
