"""The plan a replay re-rates usage under, frozen as plain data (issue 15; docs/ACTUALS.md
"Replay").

``plan_load`` reads, once, what the replay needs of the database: the live tiers' terms, what
each live tier becomes in the replayed plan (the scenario tier standing for it,
``Tier.live_tier``, with the scenario's plan levers applied; or itself, unmapped), the
scenario's cost levers and the discounts of a price sheet. A replay job stores it as its
snapshot (``ReplayPlan.to_json``) so every block re-rates under the same plan whatever is edited
meanwhile; ``ReplayPlan.from_json`` reads it back without a query.

A price sheet named by a replay applies to every record whatever its dates (the question is
"had we paid these prices"); only its discounts apply (records are of catalog models; a private
model entry prices nothing here), with the resolution's rule: the model's own entry, else its
provider's (``pricing.resolve.OrganizationTerms.discount_on``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from planner.accounts.models import Organization
from planner.actuals.selectors import TierTerms, tier_terms
from planner.prices.models import PriceSheet, PriceSheetEntry
from planner.products.models import Tier
from planner.products.models.tiers import effective_cap, monthly_revenue
from planner.simulation.models import Scenario
from planner.simulation.plans import scenario_tiers
from pricing.models import AIModel
from pricing.resolve import Discount, OrganizationTerms

ZERO = Decimal(0)


@dataclass(frozen=True)
class PlanTier:
    """What a live tier becomes in the replayed plan: its ``terms``, its effective ``cap``
    (None: uncapped, or unmapped: the usage was served under the live plan), the tier id and
    name shown, and whether a scenario tier stands for it (``mapped``)."""

    terms: TierTerms
    cap: float | None
    tier_id: int
    name: str
    mapped: bool


def _with_levers(tier: Tier, levers: Sequence[Mapping[str, Any]]) -> PlanTier:
    """A scenario tier with the plan levers naming it (or naming no tier) applied in order."""
    terms = tier_terms(tier)
    fee, included, overage = terms.fee, tier.included_credits, tier.overage_price_per_credit
    hard_cap = tier.hard_cap_credits
    for lever in levers:
        if lever.get("tiers") and tier.pk not in lever["tiers"]:
            continue
        if lever.get("fee") is not None:
            fee = monthly_revenue(tier.billing_field, Decimal(str(lever["fee"])), seats=tier.seats)
        if lever.get("fee_scale") is not None:
            fee = fee * Decimal(str(lever["fee_scale"]))
        if lever.get("included_credits") is not None:
            included = float(lever["included_credits"])
        if lever.get("overage_price") is not None:
            overage = Decimal(str(lever["overage_price"]))
        if lever.get("hard_cap") is not None:
            hard_cap = float(lever["hard_cap"])
    terms = dataclasses.replace(
        terms,
        fee=fee,
        included=None if included is None else Decimal(repr(included)),
        overage_price=overage or ZERO,
        paying=fee > 0,
    )
    return PlanTier(
        terms,
        effective_cap(included=included, overage_price=overage, hard_cap=hard_cap),
        tier.pk,
        tier.name,
        True,
    )


@dataclass(frozen=True)
class ReplayPlan:
    """Live terms by live tier id, what each live tier becomes, the scenario's levers, the
    price sheet's discounts (forever in force) and the sheet named (``{"id", "name"}``)."""

    live: dict[int, TierTerms]
    plan: dict[int, PlanTier]
    levers: list[dict[str, Any]]
    discounts: tuple[Discount, ...] = ()
    sheet: dict[str, Any] | None = None

    @property
    def replayed_terms(self) -> dict[int, TierTerms]:
        """The replayed plan's terms by live tier id."""
        return {pk: tier.terms for pk, tier in self.plan.items()}

    def discount_rates(self, models: Mapping[int, int]) -> dict[int, float]:
        """Model id -> the sheet's discount rate, for ``models`` (model id -> provider id)."""
        if not self.discounts:
            return {}
        terms = OrganizationTerms(discounts=self.discounts)
        rates = {}
        for model_id, provider_id in models.items():
            discount = terms.discount_on(model=AIModel(pk=model_id, provider_id=provider_id), on=date.min)
            if discount is not None:
                rates[model_id] = float(discount.rate)
        return rates

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (money as strings); :meth:`from_json` reads it back."""
        return {
            "live": {str(pk): _terms_json(t) for pk, t in self.live.items()},
            "plan": {
                str(pk): {
                    "terms": _terms_json(t.terms),
                    "cap": t.cap,
                    "tier_id": t.tier_id,
                    "name": t.name,
                    "mapped": t.mapped,
                }
                for pk, t in self.plan.items()
            },
            "levers": self.levers,
            "discounts": [
                {
                    "provider": d.provider_id,
                    "model": d.model_id,
                    "rate": str(d.rate),
                    "source": dict(d.source),
                }
                for d in self.discounts
            ],
            "sheet": self.sheet,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReplayPlan:
        """The plan :meth:`to_json` wrote (no query: tiers are unsaved stand-ins with their
        id, name, product and position)."""
        plan = {
            int(pk): PlanTier(_terms_from(t["terms"]), t["cap"], t["tier_id"], t["name"], t["mapped"])
            for pk, t in data["plan"].items()
        }
        discounts = tuple(
            _discount(d["provider"], d["model"], Decimal(d["rate"]), d["source"]) for d in data["discounts"]
        )
        return cls(
            live={int(pk): _terms_from(t) for pk, t in data["live"].items()},
            plan=plan,
            levers=list(data["levers"]),
            discounts=discounts,
            sheet=data.get("sheet"),
        )


def _terms_json(terms: TierTerms) -> dict[str, Any]:
    tier = terms.tier
    return {
        "tier": tier.pk,
        "name": tier.name,
        "product": tier.product_id,
        "position": tier.position,
        "fee": str(terms.fee),
        "included": None if terms.included is None else str(terms.included),
        "overage_price": str(terms.overage_price),
        "fee_pct": str(terms.fee_pct),
        "fee_fixed": str(terms.fee_fixed),
        "paying": terms.paying,
    }


def _terms_from(data: Mapping[str, Any]) -> TierTerms:
    tier = Tier(pk=data["tier"], name=data["name"], product_id=data["product"], position=data["position"])
    return TierTerms(
        tier=tier,
        fee=Decimal(data["fee"]),
        included=None if data["included"] is None else Decimal(data["included"]),
        overage_price=Decimal(data["overage_price"]),
        fee_pct=Decimal(data["fee_pct"]),
        fee_fixed=Decimal(data["fee_fixed"]),
        paying=bool(data["paying"]),
    )


def _discount(provider: int, model: int | None, rate: Decimal, source: Mapping[str, Any]) -> Discount:
    """A sheet discount in force whatever the date (module docstring)."""
    return Discount(
        provider_id=provider, model_id=model, rate=rate, valid_from=date.min, valid_to=None, source=source
    )


def sheet_discounts(sheet: PriceSheet) -> tuple[Discount, ...]:
    """The discount entries of ``sheet``, in force whatever the date."""
    entries = PriceSheetEntry.objects.filter(sheet=sheet, kind=PriceSheetEntry.Kind.DISCOUNT).order_by("pk")
    return tuple(
        _discount(
            int(entry.provider_id or 0),
            entry.model_id,
            Decimal(entry.discount or 0),
            {"price_sheet_id": sheet.pk, "price_sheet": sheet.name, "price_sheet_entry_id": entry.pk},
        )
        for entry in entries
    )


def plan_load(
    organization: Organization, scenario: Scenario | None, price_sheet: PriceSheet | None = None
) -> ReplayPlan:
    """The replayed plan: the live plan (``scenario`` None) or the scenario's, with the sheet's
    discounts. Raises ValueError for a scenario or sheet of another organisation."""
    if scenario is not None and scenario.product.organization_id != organization.pk:
        raise ValueError("The scenario belongs to another organisation.")
    if price_sheet is not None and price_sheet.organization_id != organization.pk:
        raise ValueError("The price sheet belongs to another organisation.")
    live = {t.pk: t for t in Tier.objects.filter(product__organization=organization, scenario__isnull=True)}
    live_terms = {pk: tier_terms(t) for pk, t in live.items()}
    plan = {pk: PlanTier(live_terms[pk], None, pk, t.name, False) for pk, t in live.items()}
    levers: list[dict[str, Any]] = []
    if scenario is not None:
        levers = list(scenario.levers)
        for tier in scenario_tiers(scenario):
            if tier.live_tier_id in live:
                plan[tier.live_tier_id] = _with_levers(tier, levers)
    if price_sheet is None:
        return ReplayPlan(live_terms, plan, levers)
    sheet = {"id": price_sheet.pk, "name": price_sheet.name}
    return ReplayPlan(live_terms, plan, levers, sheet_discounts(price_sheet), sheet)
