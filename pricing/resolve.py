"""THE price resolution: what model M costs organisation O at instant T under variant V.

Every caller that needs a price goes through :class:`PriceResolver`: the run snapshot, the
editor's live per-request estimate, the self-hosted break-even, usage ingestion and repricing.

Plain data in, prices out. The planner loads an organisation's terms (the discount and private
model entries of its price sheets, its self-hosted deployments) into :class:`OrganizationTerms`;
this module reads only the catalog, which ``pricing`` owns, and imports nothing of the planner.

The rules, in one place:

- **Catalog row.** The row in force at ``at`` (``pricing.periods.row_in_force``); rows still in
  the catalog win over retired ones, a retired row answers only for instants no current row
  covers (the same rule as ``pricing.selectors.model_price_at``, whose errors are reused).
- **Discount.** The organisation's discount in force on ``at``'s UTC date: the model's own entry,
  else its provider's; every price key is multiplied by ``1 - discount``
  (``pricing.custom.discounted_structure``). Sheets never overlap for one provider or model, so
  there is at most one of each.
- **Private model.** ``private/<slug>`` is priced by the sheet in force on ``at``'s UTC date that
  lists the slug (a newer sheet may reprice it).
- **Self-hosted.** ``self-hosted/<name>`` costs the deployment's effective $/Mtok
  (``pricing.selfhosted.self_hosted_cost``), whatever the instant.
- **Ingestion's rule.** Usage is priced at ingest with the catalog price in force and no sheet
  (docs/ACTUALS.md): it resolves with :data:`CATALOG_PRICES`, terms without any sheet, so the
  stored cost is the list price whatever the organisation negotiated.

Load, then compute: :meth:`PriceResolver.load` reads every price row of the models involved in
one query; resolving is then arithmetic on loaded rows, for one price or for a batch of records.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
from django.db import connection

from pricing.custom import discounted_structure
from pricing.models import AIModel, ModelPrice
from pricing.periods import as_utc, row_in_force
from pricing.selectors import PriceNotFound, price_not_found
from pricing.selfhosted import SelfHostedSpec, self_hosted_cost

PRIVATE_PREFIX = "private/"
SELF_HOSTED_PREFIX = "self-hosted/"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


def epoch_us(moment: dt.datetime) -> int:
    """An aware datetime as integer microseconds since the Unix epoch."""
    return (moment - EPOCH) // _MICROSECOND


def price_instant(day: dt.date) -> dt.datetime:
    """The instant a price date is read at: noon UTC (dated price changes start at midnight UTC,
    so noon is unambiguously inside the day)."""
    return dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)


@dataclass(frozen=True, kw_only=True)
class SheetTerm:
    """A term of a price sheet: in force from ``valid_from`` to ``valid_to`` (both inclusive, the
    sheet's dates; ``valid_to`` None: open-ended); ``source`` says where it comes from, as run
    snapshots record it."""

    valid_from: dt.date
    valid_to: dt.date | None
    source: Mapping[str, Any]

    def in_force(self, on: dt.date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)


@dataclass(frozen=True, kw_only=True)
class Discount(SheetTerm):
    """A negotiated discount: on one ``model_id`` of a provider, or (``model_id`` None) on every
    model of ``provider_id``; ``rate`` is a fraction (0.2 = 20% off)."""

    provider_id: int
    model_id: int | None
    rate: Decimal


@dataclass(frozen=True, kw_only=True)
class PrivateModel(SheetTerm):
    """A private model ``slug`` priced by a sheet (a genai-prices ``structure``)."""

    slug: str
    structure: Mapping[str, Any]


@dataclass(frozen=True)
class SelfHosted:
    """A self-hosted deployment ``name``: its cost parameters and the ``source`` to record."""

    name: str
    spec: SelfHostedSpec
    source: Mapping[str, Any]


@dataclass(frozen=True)
class OrganizationTerms:
    """An organisation's own prices, as plain data; the planner loads them.

    ``private_models`` are in the order their sheets were created (the first match wins should
    two sheets in force list one slug).
    """

    discounts: tuple[Discount, ...] = ()
    private_models: tuple[PrivateModel, ...] = ()
    self_hosted: tuple[SelfHosted, ...] = ()

    def discount_on(self, *, model: AIModel, on: dt.date) -> Discount | None:
        """The discount on ``model`` in force on ``on``: the model's own entry, else its provider's."""
        matches = [
            discount
            for discount in self.discounts
            if discount.provider_id == model.provider_id
            and discount.model_id in (model.pk, None)
            and discount.in_force(on)
        ]
        matches.sort(key=lambda discount: discount.model_id is None)
        return matches[0] if matches else None

    def private_model_on(self, *, slug: str, on: dt.date) -> PrivateModel | None:
        """The private model ``slug`` as priced by the sheet in force on ``on``, if any."""
        return next(
            (private for private in self.private_models if private.slug == slug and private.in_force(on)),
            None,
        )

    def self_hosted_named(self, name: str) -> SelfHosted | None:
        return next((deployment for deployment in self.self_hosted if deployment.name == name), None)


#: Ingestion's terms: the catalog price in force, no sheet applied (docs/ACTUALS.md).
CATALOG_PRICES = OrganizationTerms()


@dataclass(frozen=True)
class ResolvedPrice:
    """A price as the organisation pays it: the model ``key`` (``provider/model``,
    ``private/<slug>`` or ``self-hosted/<name>``), its genai-prices ``structure``, the catalog
    ``row`` it derives from (None for private and self-hosted models), the ``discount`` applied
    and the ``source`` recorded in run snapshots."""

    key: str
    structure: Mapping[str, Any]
    source: Mapping[str, Any]
    row: ModelPrice | None = None
    discount: Discount | None = None


class _History:
    """The price rows of one model and variant, with the row in force on each interval between
    price changes (found by ``searchsorted`` when no row has a daily window)."""

    def __init__(self, rows: Sequence[ModelPrice]) -> None:
        self._current = [row for row in rows if row.retired_at is None]
        self._retired = [row for row in rows if row.retired_at is not None]
        self._windowed = any(row.start_time is not None for row in rows)
        edges = sorted(
            {moment for row in rows for moment in (row.effective_from, row.effective_to) if moment}
        )
        self._edges = np.array([epoch_us(moment) for moment in edges], dtype=np.int64)
        probes = [dt.datetime.min.replace(tzinfo=dt.UTC), *edges]
        self._by_interval = [self.at(moment) for moment in probes]

    def at(self, moment: dt.datetime) -> ModelPrice | None:
        return row_in_force(self._current, moment) or row_in_force(self._retired, moment)

    def changes_within(self, start: dt.datetime, end: dt.datetime) -> bool:
        """Whether a price row starts or ends strictly between ``start`` and ``end``."""
        edges = self._edges
        return bool(((edges > epoch_us(start)) & (edges < epoch_us(end))).any())

    def rows_at(
        self, moments: Sequence[dt.datetime], micros: npt.NDArray[np.int64]
    ) -> list[ModelPrice | None]:
        if self._windowed:
            return [self.at(moment) for moment in moments]
        interval = np.searchsorted(self._edges, micros, side="right")
        return [self._by_interval[i] for i in interval.tolist()]


#: Histories ``PriceResolver.load_reusing`` built, by model ids: (rows' fingerprint, histories).
#: Histories are read-only once built, so threads may share them.
_REUSABLE: dict[frozenset[int], tuple[tuple[Any, ...], dict[tuple[int, str], _History]]] = {}
_REUSABLE_LIMIT = 256


@dataclass(frozen=True)
class PriceResolver:
    """Resolves prices under one organisation's ``terms`` over the catalog rows it loaded."""

    terms: OrganizationTerms
    _histories: dict[tuple[int, str], _History] = field(repr=False)

    @classmethod
    def load(cls, *, model_ids: Iterable[int], terms: OrganizationTerms) -> PriceResolver:
        """Load every price row (all variants, retired ones too) of ``model_ids`` in one query.

        ``terms`` is required on purpose: pass the organisation's (planner.prices.terms) or
        :data:`CATALOG_PRICES` for list prices."""
        grouped: dict[tuple[int, str], list[ModelPrice]] = {}
        rows = ModelPrice.objects.filter(model_id__in=set(model_ids)).order_by("pk")
        for row in rows.select_related("model__provider"):
            grouped.setdefault((row.model_id, row.variant), []).append(row)
        return cls(terms, {key: _History(rows) for key, rows in grouped.items()})

    @classmethod
    def load_reusing(cls, *, model_ids: Iterable[int], terms: OrganizationTerms) -> PriceResolver:
        """``load``, reusing the histories this process built earlier for the same models while
        their rows are unchanged: one small query instead of loading and building every row.
        The fingerprint is each row's id, model, variant and ``source_hash`` (its price structure
        never changes under one hash: the importer adds rows, and on a row it keeps changes only
        the end and the retirement) with its end and retirement. For paths that load per
        request (ingestion)."""
        ids = frozenset(model_ids)
        # Raw SQL (the same rows and columns as the ORM would read): this runs once per ingested
        # batch, where building the ORM query costs more than running it.
        with connection.cursor() as cursor:
            placeholders = ", ".join(["%s"] * len(ids)) or "NULL"
            cursor.execute(
                "SELECT id, model_id, variant, source_hash, effective_to, retired_at "
                f"FROM {ModelPrice._meta.db_table} WHERE model_id IN ({placeholders}) ORDER BY id",
                sorted(ids),
            )
            fingerprint = tuple(cursor.fetchall())
        cached = _REUSABLE.get(ids)
        if cached is None or cached[0] != fingerprint:
            resolver = cls.load(model_ids=ids, terms=CATALOG_PRICES)
            if len(_REUSABLE) >= _REUSABLE_LIMIT:
                _REUSABLE.clear()
            cached = _REUSABLE[ids] = (fingerprint, resolver._histories)
        return cls(terms, cached[1])

    def changes_within(self, *, model_id: int, variant: str, start: dt.datetime, end: dt.datetime) -> bool:
        """Whether a loaded model's ``variant`` changes price strictly between ``start`` and
        ``end`` (False when it has no such variant)."""
        history = self._histories.get((model_id, variant))
        return history is not None and history.changes_within(start, end)

    def variants(self, model_id: int) -> list[str]:
        """The price variants the catalog has for a loaded model."""
        return sorted(variant for model, variant in self._histories if model == model_id)

    def catalog_row(self, *, model: AIModel, at: dt.datetime, variant: str = "") -> ModelPrice:
        """The list-price row of a loaded ``model`` in force at ``at``. Raises ``PriceNotFound``."""
        history = self._histories.get((model.pk, variant))
        row = history.at(as_utc(at)) if history is not None else None
        if row is None:
            raise price_not_found(
                provider_slug=model.provider.slug, model_slug=model.slug, at=as_utc(at), variant=variant
            )
        return row

    def catalog_price(self, *, model: AIModel, at: dt.datetime, variant: str = "") -> ResolvedPrice:
        """``model`` (``variant``) at ``at`` with the organisation's discount in force on ``at``'s
        UTC date applied to every price key. Raises ``PriceNotFound``."""
        row = self.catalog_row(model=model, at=at, variant=variant)
        discount = self.terms.discount_on(model=model, on=as_utc(at).date())
        key = f"{model.provider.slug}/{model.slug}"
        if discount is None:
            return ResolvedPrice(key, dict(row.structure), {"kind": "catalog"}, row)
        structure = discounted_structure(row.structure, discount=discount.rate)
        return ResolvedPrice(key, structure, {"kind": "catalog", **discount.source}, row, discount)

    def private_price(self, *, slug: str, at: dt.datetime) -> ResolvedPrice:
        """Private model ``slug`` as priced by the sheet in force on ``at``'s UTC date. Raises
        ``PriceNotFound`` when no sheet in force then lists it."""
        on = as_utc(at).date()
        private = self.terms.private_model_on(slug=slug, on=on)
        if private is None:
            raise PriceNotFound(f"Private model {slug!r} has no price on {on.isoformat()}.")
        return ResolvedPrice(f"{PRIVATE_PREFIX}{slug}", dict(private.structure), dict(private.source))

    def self_hosted_price(self, *, name: str) -> ResolvedPrice:
        """Self-hosted deployment ``name`` at its effective $/Mtok. Raises ``PriceNotFound``."""
        deployment = self.terms.self_hosted_named(name)
        if deployment is None:
            raise PriceNotFound(f"No self-hosted deployment named {name!r}.")
        structure = self_hosted_cost(deployment.spec).structure()
        return ResolvedPrice(f"{SELF_HOSTED_PREFIX}{name}", structure, dict(deployment.source))

    def price_for_key(
        self, *, key: str, at: dt.datetime, variant: str, catalog: Mapping[str, AIModel]
    ) -> ResolvedPrice | None:
        """The price of a model-mix key: ``provider/model`` (a current catalog model, looked up in
        ``catalog``: ``pricing.selectors.catalog_models_for_keys``), ``private/<slug>`` or
        ``self-hosted/<name>``. None when the key names nothing (no such model, no sheet in force
        listing the slug, no such deployment); raises ``PriceNotFound`` when a catalog model has no
        price for ``variant`` at ``at``."""
        head, _, tail = key.strip().partition("/")
        if not tail:
            return None
        if head == PRIVATE_PREFIX.rstrip("/"):
            if self.terms.private_model_on(slug=tail, on=as_utc(at).date()) is None:
                return None
            return self.private_price(slug=tail, at=at)
        if head == SELF_HOSTED_PREFIX.rstrip("/"):
            return self.self_hosted_price(name=tail) if self.terms.self_hosted_named(tail) else None
        model = catalog.get(key.strip())
        return None if model is None else self.catalog_price(model=model, at=at, variant=variant)

    def rows_at(
        self, keys: Sequence[tuple[int, str]], moments: Sequence[dt.datetime], micros: npt.NDArray[np.int64]
    ) -> list[ModelPrice | None]:
        """The list-price row in force for each of a batch of records, given by (model id,
        variant), instant and the instant in epoch microseconds (None: no price). Only for
        :data:`CATALOG_PRICES` (ingestion's rule): a sheet would change the price, not the row."""
        if self.terms != CATALOG_PRICES:
            raise ValueError("rows_at resolves list prices only: load the resolver with CATALOG_PRICES.")
        result: list[ModelPrice | None] = [None] * len(keys)
        groups: dict[tuple[int, str], list[int]] = {}
        for index, key in enumerate(keys):
            groups.setdefault(key, []).append(index)
        for key, indexes in groups.items():
            history = self._histories.get(key)
            if history is None:
                continue
            chosen = history.rows_at([moments[i] for i in indexes], micros[indexes])
            for index, row in zip(indexes, chosen, strict=True):
                result[index] = row
        return result
