"""The "Fix it" form of the results page: which tier, what may change, which targets. People
type percentages (5 = 5%) and money; the form hands the service fractions, as the API does."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django import forms

from planner.simulation.optimizations import ConstraintRequest, VaryRequest
from planner.web.forms.fields import MoneyInput, PercentField, currency_adorn

#: What may change, as the form offers it: plan settings, then each cost lever's share.
PLAN_CHOICES = [
    ("cap", "Hard cap (credits a month)"),
    ("fee", "Monthly fee"),
    ("seat_fee", "Seat price (a tier priced per seat)"),
    ("included_credits", "Included credits"),
    ("overage_price", "Overage price per credit"),
]
#: A cost lever's share the form offers for a lever that has it (field of the lever -> words).
LEVER_SHARES = {
    "routing_share": "routing share",
    "response_cache_hit_rate": "response-cache hit rate",
    "prompt_cache_share": "prompt-cache share",
    "distillation": "distillation share",
    "batch_share": "batch share",
}
#: The tier choice of the all-paying-tiers total.
TOTAL = "__total__"
CONFIDENCE_CHOICES = [("0.9", "90%"), ("0.95", "95%"), ("0.99", "99%")]


def change_choices(levers: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """The plan settings, then ``<share>@<lever key>`` for each share a lever sets."""
    choices = list(PLAN_CHOICES)
    for lever in levers:
        for field, words in LEVER_SHARES.items():
            if lever.get(field) is not None:
                choices.append((f"{field}@{lever['key']}", f"{lever.get('label') or lever['key']}: {words}"))
    return choices


class FixItForm(forms.Form):
    """One tier, one or two settings that may change, and at least one target."""

    tier = forms.ChoiceField(label="Tier")
    change = forms.ChoiceField(label="What may change")
    also = forms.ChoiceField(
        label="And also (a grid of both)",
        required=False,
        help_text="Optional: a second plan setting; the answer is then a trade-off frontier.",
    )
    max_underwater_pct = PercentField(label="Underwater users at most (%)", required=False, coerce=float)
    min_margin_pct = PercentField(
        label="Gross margin at least (%)", required=False, min_percent=-1000, coerce=float
    )
    max_loss = forms.DecimalField(
        label="Monthly loss on underwater users at most",
        required=False,
        min_value=0,
        decimal_places=2,
        widget=MoneyInput(),
    )
    max_cap_hit_pct = PercentField(label="Users hitting the cap at most (%)", required=False, coerce=float)
    confidence = forms.ChoiceField(label="Confidence", choices=CONFIDENCE_CHOICES, initial="0.95")
    month = forms.ChoiceField(
        label="Targets apply to",
        choices=[("1", "Month 1"), ("horizon", "The whole horizon (one tier)")],
        initial="1",
    )

    def __init__(
        self,
        *args: Any,
        tiers: Iterable[Mapping[str, Any]] = (),
        levers: Iterable[Mapping[str, Any]] = (),
        **kwargs: Any,
    ) -> None:
        """``tiers``: the run's paying tiers (results); ``levers``: the scenario's levers."""
        self.tier_results = list(tiers)
        super().__init__(*args, **kwargs)
        names = [t["key"] for t in self.tier_results]
        total = [(TOTAL, "All paying tiers (total; the same setting on each)")] if len(names) > 1 else []
        self.fields["tier"].choices = [(name, name) for name in names] + total  # type: ignore[attr-defined]
        self.fields["change"].choices = change_choices(levers)  # type: ignore[attr-defined]
        self.fields["also"].choices = [("", "—"), *PLAN_CHOICES]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        targets = ("max_underwater_pct", "min_margin_pct", "max_loss", "max_cap_hit_pct")
        if all(data.get(name) is None for name in targets):
            raise forms.ValidationError("Set at least one target.")
        if data.get("also") and data.get("also") == data.get("change"):
            self.add_error("also", "Choose a different setting than the first, or none.")
        if data.get("also") and "@" in str(data.get("change")):
            self.add_error("also", "A grid varies two plan settings; a lever's share goes alone.")
        return data

    def month_value(self) -> int | str:
        """1 or "horizon", as the service takes it."""
        return 1 if self.cleaned_data["month"] == "1" else "horizon"

    def tier_name(self) -> str | None:
        """The tier's name, or None for the total of all paying tiers."""
        name = str(self.cleaned_data["tier"])
        return None if name == TOTAL else name

    def vary(self) -> list[VaryRequest]:
        """The settings to vary: one with the service's default range (a goal seek refines it
        to the step in three passes); two, each on :func:`grid_range` around today's plan."""
        setting, _, lever = str(self.cleaned_data["change"]).partition("@")
        if not self.cleaned_data.get("also"):
            return [VaryRequest(setting, lever=lever or None)]
        tier = next((t for t in self.tier_results if t.get("key") == self.cleaned_data["tier"]), {})
        return [VaryRequest(name, *grid_range(name, tier)) for name in (setting, self.cleaned_data["also"])]

    def constraints(self) -> list[ConstraintRequest]:
        """The targets as fractions (the percent fields clean to fractions) and money."""
        data = self.cleaned_data
        found = []
        if data.get("max_underwater_pct") is not None:
            found.append(ConstraintRequest("underwater_share", max=data["max_underwater_pct"]))
        if data.get("min_margin_pct") is not None:
            found.append(ConstraintRequest("gross_margin", min=data["min_margin_pct"]))
        if data.get("max_loss") is not None:
            found.append(ConstraintRequest("underwater_loss", max=float(data["max_loss"])))
        if data.get("max_cap_hit_pct") is not None:
            found.append(ConstraintRequest("cap_hit_share", max=data["max_cap_hit_pct"]))
        return found


def fix_it_form(
    scenario: Any, tiers: Iterable[Mapping[str, Any]], data: Any = None, *, currency: str = "USD"
) -> FixItForm:
    """The results page's form for ``scenario`` (its levers), offering a run's paying tiers;
    money inputs in ``currency`` (the organisation's)."""
    paying = [t for t in tiers if t.get("paying")]
    form = FixItForm(data, tiers=paying, levers=scenario.levers, auto_id="id_fix_%s")
    currency_adorn(form, currency)
    return form


def grid_range(setting: str, tier: Mapping[str, Any]) -> tuple[float, float, float]:
    """A grid's range for ``setting`` around the tier's run figures ``tier``: a fee from half
    to twice today's revenue per user (without price elasticity in the model, a wider range
    only says "charge more"); a cap or a quota from 0 to twice the credits of the tier's
    99th-percentile user (its COGS over the cost per credit); an overage price from 0 to four
    times the cost per credit. Steps: $1, 1 credit, $0.0001."""
    per_credit = float(tier.get("cost_per_credit") or 0) or 0.01
    if setting == "fee":
        fee = float(tier.get("revenue_per_user", {}).get("value") or 0) or 50.0
        return float(max(0, round(fee / 2))), float(round(2 * fee)), 1.0
    if setting in ("cap", "included_credits"):
        p99 = float(tier.get("cogs_per_user", {}).get("p99", {}).get("value") or 0)
        return 0.0, float(max(100, round(2 * p99 / per_credit))), 1.0
    return 0.0, round(4 * per_credit, 4) or 0.01, 0.0001
