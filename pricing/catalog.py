"""The price catalog import: every provider, model and price bundled in the pinned genai-prices.

Promises:

- ``catalog_import`` reads only the package's bundled data (``genai_prices.data.providers``),
  never its network updater, and writes in one transaction with bulk operations.
- Idempotent: a second run changes nothing. After a package upgrade it adds new rows, closes the
  rows that disappeared (``effective_to`` and ``retired_at`` set) and deletes nothing, because
  run snapshots and usage reports may refer to old prices.
- It reports, per model, the earliest instant its price history changed
  (``CatalogImportReport.price_changes``) and, once committed, sends
  ``pricing.signals.prices_changed`` with them, so usage priced earlier can be repriced.
- Each stored price row is a *complete* price, so a row alone reproduces
  ``genai_prices.calc_price``: ``price_rows_from_genai`` asks genai-prices itself
  (``ModelInfo.get_prices``) for the price in force on each side of every date at which the
  standard price or a variant changes, and inside every time-of-day window. A variant row is the
  standard price with the variant's keys overriding it, first matching variant first, as
  genai-prices resolves a ``price_context`` equal to the variant's ``when``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import genai_prices
from django.db import transaction
from django.utils import timezone
from genai_prices import data as genai_data
from genai_prices import types as genai

from pricing.calculator import PriceSchedule, price_json
from pricing.models import PRICE_COLUMNS, AIModel, ModelPrice, Provider
from pricing.periods import as_utc, in_daily_window
from pricing.signals import prices_changed

SOURCE = f"genai-prices {genai_prices.__version__}"

# The summary columns keep 10 decimal places (the structure keeps every digit).
_COLUMN_QUANTUM = Decimal("1e-10")
# Before every dated price in the package: the date at which the "since forever" price is read.
_LONG_AGO = date(2000, 1, 1)


def structure_from_genai(model_price: genai.ModelPrice) -> dict[str, Any]:
    """A genai-prices ``ModelPrice`` as a JSON-ready dict, every set price key kept, in order.

    Decimals become strings; a tiered key becomes ``{"base": "3", "tiers": [{"start": 200000,
    "price": "6"}]}``. ``PriceSchedule.from_structure`` reads it back.
    """
    structure: dict[str, Any] = {}
    for key, value in model_price.__dict__.items():
        if key.startswith("_") or value is None:
            continue
        if isinstance(value, genai.TieredPrices):
            structure[key] = price_json(value.base, ((tier.start, tier.price) for tier in value.tiers))
        else:
            structure[key] = price_json(value)
    return structure


def variant_key(when: Mapping[str, str]) -> str:
    """The stable key of a price variant: ``{"service_tier": "priority"}`` -> ``"service_tier=priority"``."""
    return "&".join(f"{key}={value}" for key, value in sorted(when.items()))


@dataclass(frozen=True)
class PriceRowSpec:
    """A price row as the importer wants it (see ``pricing.models.ModelPrice`` for the fields)."""

    variant: str
    when: Mapping[str, str]
    effective_from: datetime | None
    effective_to: datetime | None
    start_time: time | None
    end_time: time | None
    structure: Mapping[str, Any]

    @property
    def source_hash(self) -> str:
        """Identity of the row's content: everything but ``effective_to``, which later prices move."""
        content = {
            "variant": self.variant,
            "when": dict(self.when),
            "effective_from": self.effective_from.isoformat() if self.effective_from else None,
            "start_time": self.start_time.isoformat() if self.start_time else None,
            "end_time": self.end_time.isoformat() if self.end_time else None,
            "structure": self.structure,
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


Window = tuple[time, time]


def _utc_window(constraint: genai.TimeOfDateConstraint) -> Window:
    def utc(value: time) -> time:
        if value.tzinfo is None:
            return value
        # The same anchor day as genai_prices.types._utc_timetz, so zone offsets convert alike.
        return datetime.combine(date(1970, 1, 1), value).astimezone(UTC).time()

    return utc(constraint.start_time), utc(constraint.end_time)


def _constraint_parts(constraints: Iterable[object]) -> tuple[set[date], set[Window]]:
    dates: set[date] = set()
    windows: set[Window] = set()
    for constraint in constraints:
        if isinstance(constraint, genai.StartDateConstraint):
            dates.add(constraint.start_date)
        elif isinstance(constraint, genai.TimeOfDateConstraint):
            windows.add(_utc_window(constraint))
        elif constraint is not None:
            raise ValueError(f"Unsupported genai-prices price constraint: {constraint!r}")
    return dates, windows


def _disjoint(windows: Iterable[Window]) -> list[Window]:
    """The windows in order; overlapping ones are refused, since one row per window could not
    say which price wins where they overlap."""
    ordered = sorted(windows)
    for index, (start, end) in enumerate(ordered):
        for other_start, other_end in ordered[index + 1 :]:
            if in_daily_window(start, other_start, other_end) or in_daily_window(other_start, start, end):
                raise ValueError(f"Overlapping time-of-day prices are not supported: {ordered}")
    return ordered


def _off_window_time(windows: list[Window]) -> time:
    """A time of day outside every window, where the all-day price applies."""
    for candidate in [time(0), *(end for _, end in windows)]:
        if not any(in_daily_window(candidate, start, end) for start, end in windows):
            return candidate
    raise ValueError(f"Time-of-day prices cover the whole day: {windows}")


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _variant_rows(
    model: genai.ModelInfo, when: Mapping[str, str], dates: set[date], windows: set[Window]
) -> list[PriceRowSpec]:
    context = dict(when) or None
    ordered_windows = _disjoint(windows)
    off_window = _off_window_time(ordered_windows)
    # (first day or None, all-day structure, ((window, structure), ...)); equal neighbours merged.
    segments: list[tuple[date | None, dict[str, Any], tuple[tuple[Window, dict[str, Any]], ...]]] = []
    for day in [None, *sorted(dates)]:
        read_day = day or min(dates, default=_LONG_AGO) - timedelta(days=1)
        all_day = structure_from_genai(
            model.get_prices(datetime.combine(read_day, off_window, tzinfo=UTC), context)
        )
        in_windows = tuple(
            (window, structure)
            for window in ordered_windows
            if (
                structure := structure_from_genai(
                    model.get_prices(datetime.combine(read_day, window[0], tzinfo=UTC), context)
                )
            )
            != all_day
        )
        if segments and segments[-1][1:] == (all_day, in_windows):
            continue
        segments.append((day, all_day, in_windows))

    rows: list[PriceRowSpec] = []
    for index, (day, all_day, in_windows) in enumerate(segments):
        start = _midnight(day) if day else None
        next_day = segments[index + 1][0] if index + 1 < len(segments) else None
        end = _midnight(next_day) if next_day else None
        variant = variant_key(when)
        rows.append(PriceRowSpec(variant, dict(when), start, end, None, None, all_day))
        rows.extend(
            PriceRowSpec(variant, dict(when), start, end, window[0], window[1], structure)
            for window, structure in in_windows
        )
    return rows


def price_rows_from_genai(model: genai.ModelInfo) -> list[PriceRowSpec]:
    """Every complete price row of a genai-prices model: the standard price, then each variant.

    Pure: reads nothing but ``model``. Rows of one variant tile time: consecutive date periods,
    each with an all-day row and a row per time-of-day window whose price differs.
    """
    conditionals = (
        model.prices if isinstance(model.prices, list) else [genai.ConditionalPrice(prices=model.prices)]
    )
    base_dates, base_windows = _constraint_parts(conditional.constraint for conditional in conditionals)
    rows = _variant_rows(model, {}, base_dates, base_windows)

    variants = model.price_variants or []
    whens: dict[str, Mapping[str, str]] = {}
    for variant in variants:
        whens.setdefault(variant_key(variant.when), variant.when)
    for key, when in whens.items():
        dates, windows = _constraint_parts(
            variant.constraint for variant in variants if variant_key(variant.when) == key
        )
        rows.extend(_variant_rows(model, when, base_dates | dates, base_windows | windows))
    return rows


@dataclass(frozen=True)
class ImportCounts:
    """What an import did to one kind of row."""

    created: int = 0
    updated: int = 0
    closed: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return (
            f"{self.created} created, {self.updated} updated, "
            f"{self.closed} closed, {self.unchanged} unchanged"
        )


@dataclass(frozen=True)
class CatalogImportReport:
    """Counts per kind of row. ``closed`` providers/models are retired; ``closed`` prices got an end."""

    source: str
    providers: ImportCounts
    models: ImportCounts
    prices: ImportCounts
    #: Model id -> the earliest instant its price history changed (None: from the beginning).
    price_changes: Mapping[int, datetime | None] = dataclasses.field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """Whether the import wrote anything."""
        return any(
            counts.created or counts.updated or counts.closed
            for counts in (self.providers, self.models, self.prices)
        )

    def __str__(self) -> str:
        return (
            f"Price catalog from {self.source}\n"
            f"  providers: {self.providers}\n"
            f"  models:    {self.models}\n"
            f"  prices:    {self.prices}"
        )


_PROVIDER_FIELDS = ("name", "api_pattern", "pricing_urls", "description", "price_comments")
_MODEL_FIELDS = ("name", "description", "context_window", "deprecated", "match", "price_comments")


def _provider_fields(provider: genai.Provider) -> dict[str, Any]:
    return {
        "name": provider.name,
        "api_pattern": provider.api_pattern,
        "pricing_urls": list(provider.pricing_urls or []),
        "description": provider.description or "",
        "price_comments": provider.price_comments or "",
    }


def _clause_data(clause: object) -> Any:
    """A genai-prices match clause as plain data: ``ClauseOr(or_=[...])`` -> ``{"or": [...]}``."""
    if dataclasses.is_dataclass(clause):
        return {
            item.name.rstrip("_"): _clause_data(getattr(clause, item.name))
            for item in dataclasses.fields(clause)
        }
    if isinstance(clause, list):
        return [_clause_data(item) for item in clause]
    return clause


def _model_fields(model: genai.ModelInfo) -> dict[str, Any]:
    return {
        "name": model.name or "",
        "description": model.description or "",
        "context_window": model.context_window,
        "deprecated": bool(model.deprecated),
        "match": _clause_data(model.match),
        "price_comments": model.price_comments or "",
    }


Key = TypeVar("Key")
Entity = TypeVar("Entity", Provider, AIModel)


def _sync_entities(
    *,
    existing: Mapping[Key, Entity],
    desired: Mapping[Key, dict[str, Any]],
    build: Callable[[Key, dict[str, Any]], Entity],
    field_names: Sequence[str],
    now: datetime,
) -> ImportCounts:
    """Create, update, revive or retire providers or models so that the live ones are ``desired``."""
    counts: Counter[str] = Counter()
    to_create: list[Entity] = []
    to_update: list[Entity] = []
    for key, fields in desired.items():
        row = existing.get(key)
        if row is None:
            to_create.append(build(key, fields))
            counts["created"] += 1
        elif row.retired_at is not None or any(getattr(row, name) != value for name, value in fields.items()):
            for name, value in fields.items():
                setattr(row, name, value)
            row.retired_at = None
            to_update.append(row)
            counts["updated"] += 1
        else:
            counts["unchanged"] += 1
    for key, row in existing.items():
        if key not in desired and row.retired_at is None:
            row.retired_at = now
            to_update.append(row)
            counts["closed"] += 1
    if to_create:
        type(to_create[0]).objects.bulk_create(to_create, batch_size=500)
    if to_update:
        type(to_update[0]).objects.bulk_update(to_update, [*field_names, "retired_at"], batch_size=500)
    return ImportCounts(**counts)


def _columns(schedule: PriceSchedule) -> dict[str, Decimal | None]:
    bases = {price.price_key: price.base for price in schedule.prices}
    return {
        column: bases[column].quantize(_COLUMN_QUANTUM) if column in bases else None
        for column in PRICE_COLUMNS
    }


def _closing_instant(row: ModelPrice, now: datetime) -> datetime:
    """When a price that disappeared from the package ends: now, but never before it began."""
    end = now if row.effective_from is None else max(now, row.effective_from)
    return end if row.effective_to is None else min(row.effective_to, end)


def _earliest(*instants: datetime | None) -> datetime | None:
    """The earliest of ``instants``, where None means the beginning of time."""
    return None if any(instant is None for instant in instants) else min(instants)  # type: ignore[type-var]


def _end_change(old_end: datetime | None, new_end: datetime | None) -> datetime:
    """When a row whose end moves from ``old_end`` to ``new_end`` starts to price differently
    (None: open-ended). The two differ, so at least one is set."""
    return min(end for end in (old_end, new_end) if end is not None)


def _sync_prices(
    desired: Sequence[tuple[int, PriceRowSpec]], now: datetime
) -> tuple[ImportCounts, dict[int, datetime | None]]:
    """Create, reopen and close price rows; returns the counts and, per model whose history
    changed, the earliest instant the change affects (None: from the beginning)."""
    counts: Counter[str] = Counter()
    changes: dict[int, datetime | None] = {}

    def changed(model_id: int, since: datetime | None) -> None:
        changes[model_id] = _earliest(changes[model_id], since) if model_id in changes else since

    existing = {
        (row.model_id, row.variant, row.source_hash): row
        for row in ModelPrice.objects.only(
            "id", "model_id", "variant", "source_hash", "effective_from", "effective_to", "retired_at"
        )
    }
    to_create: list[ModelPrice] = []
    to_update: list[ModelPrice] = []
    for model_id, spec in desired:
        source_hash = spec.source_hash
        row = existing.pop((model_id, spec.variant, source_hash), None)
        if row is None:
            schedule = PriceSchedule.from_structure(spec.structure)
            to_create.append(
                ModelPrice(
                    model_id=model_id,
                    variant=spec.variant,
                    when=dict(spec.when),
                    effective_from=spec.effective_from,
                    effective_to=spec.effective_to,
                    start_time=spec.start_time,
                    end_time=spec.end_time,
                    has_tiers=schedule.has_tiers,
                    structure=dict(spec.structure),
                    source=SOURCE,
                    source_hash=source_hash,
                    **_columns(schedule),
                )
            )
            counts["created"] += 1
            changed(model_id, spec.effective_from)
        elif row.retired_at is not None or row.effective_to != spec.effective_to:
            closing = row.retired_at is None and spec.effective_to is not None
            if row.effective_to != spec.effective_to:
                changed(model_id, _end_change(row.effective_to, spec.effective_to))
            row.retired_at = None
            row.effective_to = spec.effective_to
            to_update.append(row)
            counts["closed" if closing else "updated"] += 1
        else:
            counts["unchanged"] += 1
    for row in existing.values():
        if row.retired_at is None:
            end = _closing_instant(row, now)
            if end != row.effective_to:
                changed(row.model_id, _end_change(row.effective_to, end))
            row.effective_to = end
            row.retired_at = now
            to_update.append(row)
            counts["closed"] += 1
    ModelPrice.objects.bulk_create(to_create, batch_size=500)
    ModelPrice.objects.bulk_update(to_update, ["effective_to", "retired_at"], batch_size=500)
    return ImportCounts(**counts), changes


def catalog_import(
    *, now: datetime | None = None, providers: Sequence[genai.Provider] | None = None
) -> CatalogImportReport:
    """Bring the catalog in line with genai-prices' bundled data (or ``providers``, for tests).

    ``now`` (default: the current time) stamps what gets retired. Returns what changed. When
    prices changed, ``pricing.signals.prices_changed`` is sent after the transaction commits.
    """
    now = as_utc(now) if now is not None else timezone.now()
    providers = genai_data.providers if providers is None else providers
    with transaction.atomic():
        provider_counts = _sync_entities(
            existing={row.slug: row for row in Provider.objects.all()},
            desired={provider.id: _provider_fields(provider) for provider in providers},
            build=lambda slug, fields: Provider(slug=slug, **fields),
            field_names=_PROVIDER_FIELDS,
            now=now,
        )
        provider_ids = dict(Provider.objects.values_list("slug", "id"))
        model_counts = _sync_entities(
            existing={(row.provider_id, row.slug): row for row in AIModel.objects.all()},
            desired={
                (provider_ids[provider.id], model.id): _model_fields(model)
                for provider in providers
                for model in provider.models
            },
            build=lambda key, fields: AIModel(provider_id=key[0], slug=key[1], **fields),
            field_names=_MODEL_FIELDS,
            now=now,
        )
        model_ids = {
            (row[0], row[1]): row[2] for row in AIModel.objects.values_list("provider_id", "slug", "id")
        }
        desired_prices = [
            (model_ids[(provider_ids[provider.id], model.id)], spec)
            for provider in providers
            for model in provider.models
            for spec in price_rows_from_genai(model)
        ]
        price_counts, price_changes = _sync_prices(desired_prices, now)
        if price_changes:
            transaction.on_commit(
                lambda: prices_changed.send(sender=catalog_import, changes=dict(price_changes))
            )
    return CatalogImportReport(SOURCE, provider_counts, model_counts, price_counts, price_changes)
