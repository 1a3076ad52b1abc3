"""Compare runs by their inputs: what differs between the snapshots the runs were made from,
and each tier's figures side by side with their change against the first run.

Inputs come from the runs' frozen snapshots, never from the scenarios' current inputs: a
scenario edited after its run would otherwise show changes its figures do not reflect. Tiers
are matched across runs by the live tier they stand for (``snapshot.tiers[].live_tier``), then
by name (snapshots made before scenarios had their own plans name no live tier).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

Snapshot = Mapping[str, Any]

#: Scenario settings shown when they differ: snapshot key -> label.
SETTINGS = {
    "horizon_months": "Horizon (months)",
    "price_trend_yearly": "Price trend per year",
    "usage_growth_monthly": "Usage growth per month",
    "discount_rate_yearly": "Discount rate per year",
    "target_margin": "Target margin",
}
#: A tier's plan inputs: snapshot key -> label.
TIER_INPUTS = {
    "monthly_price": "Monthly price",
    "included_credits": "Included credits",
    "overage_price": "Overage price per credit",
    "hard_cap": "Hard cap (credits)",
    "payment_fee_pct": "Payment fee (share)",
    "payment_fee_fixed": "Payment fee (fixed)",
    "subscribers": "Subscribers",
    "churn_monthly": "Churn per month",
}
#: A workload's inputs: snapshot key -> label.
WORKLOAD_INPUTS = {
    "credits_per_request": "Credits per request",
    "input_tokens": "Input tokens (median, p90)",
    "output_tokens": "Output tokens (median, p90)",
    "reasoning_tokens": "Reasoning tokens (median, p90)",
    "calls_per_request": "Calls per request (median, p90)",
    "prompt_cache_share": "Prompt-cache share",
    "prompt_cache_write_share": "Prompt-cache write share",
    "response_cache_hit_rate": "Response-cache hit rate",
    "batch_share": "Batch share",
    "distillation": "Distillation",
}
#: A tier's month-1 figures in the results: label -> (how to read it, unit: ``points`` of
#: percent, a ``share`` 0..1 or ``money``).
TIER_FIGURES: dict[str, tuple[Callable[[Mapping[str, Any]], float | None], str]] = {
    "Gross margin": (lambda t: t["gross_margin_pct"]["value"], "points"),
    "Underwater users": (lambda t: t["underwater"]["share"], "share"),
    "Monthly loss on them": (lambda t: t["underwater"]["monthly_loss"]["value"], "money"),
    "COGS per user, p95": (lambda t: t["cogs_per_user"]["p95"]["value"], "money"),
}
ABSENT = "—"


@dataclass(frozen=True)
class InputChange:
    """One input that differs between the runs: where (``Scenario``, a tier or a workload),
    which input, and its value in each run (``—`` where the run has no such tier)."""

    where: str
    input: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class TierFigure:
    """One figure of one tier in each run, and its change against the first run (None where
    either is missing)."""

    tier: str
    figure: str
    unit: str
    values: tuple[float | None, ...]
    deltas: tuple[float | None, ...]

    @property
    def cells(self) -> list[tuple[float | None, float | None]]:
        """(value, change against the first run) per run, for a template."""
        return list(zip(self.values, self.deltas, strict=True))


def tier_slots(snapshots: Sequence[Snapshot]) -> list[tuple[int | None, ...]]:
    """Tiers matched across snapshots: each slot holds the tier's index in each snapshot (None
    where the snapshot has no such tier). A tier matches another that stands for the same live
    tier, else one of the same name; unmatched tiers get slots of their own, in order."""
    slots: list[list[int | None]] = []
    for s, snapshot in enumerate(snapshots):
        for i, tier in enumerate(snapshot.get("tiers", [])):
            slot = _matching_slot(slots, snapshots, s, tier)
            if slot is None:
                slot = [None] * len(snapshots)
                slots.append(slot)
            slot[s] = i
    return [tuple(slot) for slot in slots]


def _matching_slot(
    slots: list[list[int | None]], snapshots: Sequence[Snapshot], s: int, tier: Mapping[str, Any]
) -> list[int | None] | None:
    """The first slot without a tier of snapshot ``s`` whose tier stands for the same live tier
    as ``tier``; else the first whose tier has ``tier``'s name."""
    free = [slot for slot in slots if slot[s] is None]
    live = (tier.get("live_tier") or {}).get("id")
    for same in (
        lambda other: live is not None and (other.get("live_tier") or {}).get("id") == live,
        lambda other: other["key"] == tier["key"],
    ):
        for slot in free:
            first = next(j for j, index in enumerate(slot) if index is not None)
            if same(snapshots[first]["tiers"][slot[first]]):
                return slot
    return None


def _text(value: Any) -> str:
    """An input as a short text: numbers without trailing zeros (money is stored as decimal
    strings, ``"20.0000"`` reads ``20``), lists comma-separated, None as ``none``."""
    if value is None:
        return "none"
    if isinstance(value, str):
        try:
            return f"{Decimal(value).normalize():f}"
        except InvalidOperation:
            return value
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _usage_text(usage: Mapping[str, Any]) -> str:
    kind = usage.get("kind", "lognormal")
    parameters = {
        "lognormal": ("median", "p90"),
        "gamma": ("mean", "shape"),
        "pareto": ("scale", "alpha", "upper"),
    }.get(kind, ())
    shown = ", ".join(
        f"{name} {_text(usage.get(name))}" for name in parameters if usage.get(name) is not None
    )
    if kind == "empirical":
        shown = f"{len(usage.get('values') or [])} values"
    if usage.get("overdispersion") is not None:
        shown += f", overdispersion {_text(usage['overdispersion'])}"
    return f"{kind}: {shown}"


def _changed(where: str, label: str, values: Sequence[str]) -> list[InputChange]:
    return [InputChange(where, label, tuple(values))] if len(set(values)) > 1 else []


def inputs_diff(snapshots: Sequence[Snapshot]) -> list[InputChange]:
    """Every input that differs between the snapshots: scenario settings and price date,
    levers, then tier by tier (plan fields and usage per workload), then workloads."""
    changes: list[InputChange] = []
    for key, label in SETTINGS.items():
        changes += _changed("Scenario", label, [_text(s.get("scenario", {}).get(key)) for s in snapshots])
    changes += _changed("Scenario", "Price date", [_text(s.get("price_date")) for s in snapshots])
    changes += _changed(
        "Scenario",
        "Levers",
        [", ".join(lever["label"] for lever in s.get("levers", [])) or "none" for s in snapshots],
    )
    for slot in tier_slots(snapshots):
        tiers = [None if i is None else s["tiers"][i] for s, i in zip(snapshots, slot, strict=True)]
        names = list(dict.fromkeys(t["key"] for t in tiers if t is not None))
        where = " / ".join(names)
        if any(t is None for t in tiers):
            changes.append(
                InputChange(where, "In the plan", tuple("no" if t is None else "yes" for t in tiers))
            )
        for key, label in TIER_INPUTS.items():
            changes += _changed(where, label, [ABSENT if t is None else _text(t.get(key)) for t in tiers])
        if len(names) > 1:
            changes.append(
                InputChange(where, "Name", tuple(ABSENT if t is None else t["key"] for t in tiers))
            )
        workload_names = [w["key"] for w in snapshots[0].get("workloads", [])]
        for w, workload in enumerate(workload_names):
            changes += _changed(
                where,
                f"Usage · {workload}",
                [
                    ABSENT if t is None or w >= len(t.get("usage", [])) else _usage_text(t["usage"][w])
                    for t in tiers
                ],
            )
    changes += _workloads_diff(snapshots)
    return changes


def _workloads_diff(snapshots: Sequence[Snapshot]) -> list[InputChange]:
    changes: list[InputChange] = []
    names = list(dict.fromkeys(w["key"] for s in snapshots for w in s.get("workloads", [])))
    for name in names:
        workloads = [next((w for w in s.get("workloads", []) if w["key"] == name), None) for s in snapshots]
        where = f"Workload {name}"
        for key, label in WORKLOAD_INPUTS.items():
            changes += _changed(where, label, [ABSENT if w is None else _text(w.get(key)) for w in workloads])
        changes += _changed(
            where,
            "Model mix",
            [
                ABSENT
                if w is None
                else ", ".join(f"{m['key']} {m['share']:.0%}" for m in w.get("models", []))
                for w in workloads
            ],
        )
    return changes


def tier_figures(snapshots: Sequence[Snapshot], results: Sequence[Mapping[str, Any]]) -> list[TierFigure]:
    """Each matched tier's month-1 figures in every run, with the change against the first run.
    ``results[k]["tiers"]`` are in the order of ``snapshots[k]["tiers"]``."""
    rows: list[TierFigure] = []
    for slot in tier_slots(snapshots):
        tiers = [None if i is None else r["tiers"][i] for r, i in zip(results, slot, strict=True)]
        names = [s["tiers"][i]["key"] for s, i in zip(snapshots, slot, strict=True) if i is not None]
        for label, (read, unit) in TIER_FIGURES.items():
            values = tuple(None if t is None else read(t) for t in tiers)
            base = values[0]
            deltas = tuple(None if base is None or v is None else v - base for v in values)
            rows.append(TierFigure(" / ".join(dict.fromkeys(names)), label, unit, values, deltas))
    return rows
