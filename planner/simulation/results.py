"""Read-side presentation of simulation results for the web: headline figures, plain-language
summaries, chart series and CSV export. Everything here reads a stored results document (and the
run's snapshot for the tier prices); nothing is recomputed from the simulation.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery

from planner.accounts.models import Organization
from planner.engine.stats import Z95
from planner.simulation.chart_text import results_chart_text
from planner.simulation.models import Scenario, SimulationRun

#: Bars of the per-user margin histogram on the page. The engine's bins are signed-log (fine
#: near zero, wide in the tails); a founder reads a linear axis, so the mass between the 0.5th
#: and 99.5th percentile is spread evenly over this many bins (the tails go to the end bins).
HISTOGRAM_BARS = 60
PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0))


@dataclass(frozen=True)
class Headline:
    """A run's headline figures (month 1): what the dashboard and the comparison show."""

    gross_margin_pct: float
    underwater_share: float
    underwater_interval: tuple[float, float]
    monthly_loss: float
    monthly_margin: float
    revenue: float
    horizon_margin: float
    npv_margin: float


def headline(results: Mapping[str, Any]) -> Headline:
    total = results["total"]
    under = total["underwater_paying"]
    return Headline(
        gross_margin_pct=float(total["gross_margin_pct"]),
        underwater_share=float(under["share"]),
        underwater_interval=(float(under["interval"][0]), float(under["interval"][1])),
        monthly_loss=float(under["monthly_loss"]),
        monthly_margin=float(total["margin"]),
        revenue=float(total["revenue"]),
        horizon_margin=float(total["horizon"]["total_margin"]),
        npv_margin=float(total["horizon"]["npv_margin"]),
    )


def scenarios_with_latest_runs(*, organization: Organization) -> QuerySet[Scenario]:
    """The organisation's scenarios with ``latest_run_id`` (any status) and
    ``latest_result_run_id`` (latest succeeded) annotated, products joined: one query."""
    runs = SimulationRun.objects.simulations().filter(scenario=OuterRef("pk")).order_by("-created_at", "-id")
    return (
        Scenario.objects.filter(product__organization=organization)
        .select_related("product")
        .annotate(
            latest_run_id=Subquery(runs.values("id")[:1]),
            latest_run_status=Subquery(runs.values("status")[:1]),
            latest_result_run_id=Subquery(
                runs.filter(status=SimulationRun.Status.SUCCEEDED).values("id")[:1]
            ),
        )
        .order_by("product__name", "name")
    )


def runs_by_id(ids: Iterable[int | None]) -> dict[int, SimulationRun]:
    """Runs (with results, without snapshots) by id: one query."""
    wanted = [i for i in ids if i is not None]
    return {
        run.pk: run
        for run in SimulationRun.objects.simulations()
        .filter(pk__in=wanted)
        .defer("snapshot")
        .select_related("scenario")
    }


def snapshots_by_run_id(ids: Iterable[int | None]) -> dict[int, dict[str, Any]]:
    """The frozen inputs of runs by id: one query (compare reads them, not the scenarios')."""
    wanted = [i for i in ids if i is not None]
    return dict(SimulationRun.objects.simulations().filter(pk__in=wanted).values_list("pk", "snapshot"))


# --- Chart series ----------------------------------------------------------------------------


def _quantile_edge(edges: Sequence[float], counts: Sequence[float], q: float) -> float:
    total = sum(counts)
    target, seen = q * total, 0.0
    for i, count in enumerate(counts):
        if seen + count >= target and count > 0:
            fraction = (target - seen) / count
            return edges[i] + fraction * (edges[i + 1] - edges[i])
        seen += count
    return edges[-1]


def histogram_rebinned(
    edges: Sequence[float], counts: Sequence[float], bars: int = HISTOGRAM_BARS
) -> dict[str, Any]:
    """Spread the engine's signed-log margin histogram over ``bars`` equal bins between its
    0.5th and 99.5th percentile (mass assumed uniform within an engine bin; tails in the end
    bins; one bar more when zero falls inside, so that zero is a bar edge). Returns bar centres,
    width and shares of users (summing to 1)."""
    if not counts or sum(counts) == 0:
        return {"x": [], "share": [], "width": 0.0}
    total = float(sum(counts))
    low = _quantile_edge(edges, counts, 0.005)
    high = _quantile_edge(edges, counts, 0.995)
    if high <= low:
        low, high = low - 1.0, high + 1.0
    width = (high - low) / bars
    if low < 0 < high:
        # Put an edge at zero so every bar is all loss or all profit (the chart colours by sign).
        low = -math.ceil(-low / width) * width
        bars = math.ceil((high - low) / width - 1e-9)
        high = low + bars * width
    shares = [0.0] * bars
    for i, count in enumerate(counts):
        if not count:
            continue
        a, b = edges[i], edges[i + 1]
        if b <= low:
            shares[0] += count
            continue
        if a >= high:
            shares[-1] += count
            continue
        span = b - a
        if a < low:
            shares[0] += count * (low - a) / span
        if b > high:
            shares[-1] += count * (b - high) / span
        lo, hi = max(a, low), min(b, high)
        first, last = int((lo - low) // width), min(bars - 1, int((hi - low) // width))
        for j in range(first, last + 1):
            overlap = min(hi, low + (j + 1) * width) - max(lo, low + j * width)
            if overlap > 0:
                shares[j] += count * overlap / span
    return {
        "x": [low + (j + 0.5) * width for j in range(bars)],
        "share": [s / total for s in shares],
        "width": width,
    }


def _crossing(points: Sequence[tuple[float, float]], level: float) -> tuple[float, float] | None:
    """Where the piecewise-linear COGS-by-percentile curve first exceeds ``level``: the
    percentile and its fractional position among ``points`` (for an axis with one tick per point)."""
    for i, ((p0, c0), (p1, c1)) in enumerate(zip(points, points[1:], strict=False)):
        if c0 <= level < c1:
            fraction = (level - c0) / (c1 - c0)
            return p0 + fraction * (p1 - p0), i + fraction
    return None


def _tier_chart(tier: Mapping[str, Any], snapshot_tier: Mapping[str, Any] | None) -> dict[str, Any]:
    cogs = tier["cogs_per_user"]
    points = [(q, float(cogs[name]["value"])) for name, q in PERCENTILES]
    points.append((100.0, float(cogs["max"])))
    price = float(snapshot_tier["monthly_price"]) if snapshot_tier else tier["revenue_per_user"]["value"]
    fee_pct = float(snapshot_tier.get("payment_fee_pct", 0)) if snapshot_tier else 0.0
    fee_fixed = float(snapshot_tier.get("payment_fee_fixed", 0)) if snapshot_tier else 0.0
    net = price * (1 - fee_pct) - (fee_fixed if price > 0 else 0.0)
    histogram = tier["margin_histogram"]
    crossing = _crossing(points, net) if tier["paying"] else None
    return {
        "key": tier["key"],
        "paying": tier["paying"],
        "price": price,
        "net_price": net,
        "percentiles": {
            "labels": ["p50", "p90", "p95", "p99", "max"],
            "x": [q for _, q in PERCENTILES] + [100.0],
            "cogs": [float(cogs[name]["value"]) for name, _ in PERCENTILES] + [float(cogs["max"])],
            "low": [float(cogs[name]["interval"][0]) for name, _ in PERCENTILES] + [float(cogs["max"])],
            "high": [float(cogs[name]["interval"][1]) for name, _ in PERCENTILES] + [float(cogs["max"])],
        },
        "break_even_percentile": crossing[0] if crossing else None,
        "break_even_position": crossing[1] if crossing else None,
        "break_even": tier["break_even"],
        "histogram": histogram_rebinned(histogram["edges"], histogram["counts"]),
        "cogs_by_workload": tier["cogs_by_workload"],
        "cogs_by_model": tier["cogs_by_model"],
        "levers": [
            {
                "label": "Baseline",
                "gross_margin_pct": tier["gross_margin_pct"]["value"],
                "underwater_share": tier["underwater"]["share"],
                "cogs_per_user": cogs["mean"]["value"],
            },
            *(
                {
                    "label": lever["label"],
                    "gross_margin_pct": lever["gross_margin_pct"],
                    "underwater_share": lever["underwater_share"],
                    "cogs_per_user": lever["cogs_per_user"],
                }
                for lever in tier["levers"]
            ),
        ],
        "months": [row["month"] for row in tier["horizon"]["months"]],
        "revenue_by_month": [row["revenue"] for row in tier["horizon"]["months"]],
        "cogs_by_month": [row["cogs"]["value"] for row in tier["horizon"]["months"]],
        "margin_by_month": [row["margin"]["value"] for row in tier["horizon"]["months"]],
    }


def chart_data(
    results: Mapping[str, Any], snapshot: Mapping[str, Any] | None, *, currency: str = "USD"
) -> dict[str, Any]:
    """Everything the results page draws, as plain JSON (also the charts' data attribute), with
    each series' text for people beside it (``<series>_text``, money in ``currency``:
    ``planner.simulation.chart_text``)."""
    by_key = {t["key"]: t for t in (snapshot or {}).get("tiers", [])}
    total = results["total"]
    charts: dict[str, Any] = {
        "tiers": [_tier_chart(tier, by_key.get(tier["key"])) for tier in results["tiers"]],
        "total": {
            "months": list(range(1, len(total["horizon"]["margin_by_month"]) + 1)),
            "margin_by_month": total["horizon"]["margin_by_month"],
            "levers": total["levers"],
            "lifetime": _lifetime_chart(total.get("lifetime")),
        },
    }
    results_chart_text(charts, currency)
    return charts


def _lifetime_chart(lifetime: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The cash curve: costs per month by kind and cumulative cash with its 95% band (None for
    documents made before lifetime figures)."""
    if not lifetime:
        return None
    months = lifetime["months"]
    cumulative = [m["cumulative_cash"]["value"] for m in months]
    errors = [Z95 * m["cumulative_cash"]["mc_error"] for m in months]
    return {
        "months": [m["month"] for m in months],
        "inference_cogs": [m["inference_cogs"]["value"] for m in months],
        "model_costs": [m["model_costs"] for m in months],
        "acquisition": [m["acquisition"] for m in months],
        "fixed_costs": [m["fixed_costs"] for m in months],
        "cumulative_cash": cumulative,
        "cumulative_low": [c - e for c, e in zip(cumulative, errors, strict=True)],
        "cumulative_high": [c + e for c, e in zip(cumulative, errors, strict=True)],
    }


def worst_tier_index(results: Mapping[str, Any]) -> int:
    """The paying tier with the largest underwater share (the one to look at first); 0 if none."""
    paying = [(t["underwater"]["share"], -i) for i, t in enumerate(results["tiers"]) if t["paying"]]
    return -max(paying)[1] if paying else 0


def sparkline(results: Mapping[str, Any]) -> list[float]:
    """Total margin by month: the dashboard's small chart."""
    return [float(x) for x in results["total"]["horizon"]["margin_by_month"]]


# --- CSV export ------------------------------------------------------------------------------

#: The CSV's columns; ``{cur}`` is the organisation's currency code in lower case (``usd``), so
#: every money column names its unit (``cogs_p99_usd``). Shares are fractions (0..1), ``_pct``
#: columns percent, credits credits. Values are plain numbers, never formatted.
CSV_COLUMNS = (
    "tier",
    "paying",
    "subscribers",
    "revenue_per_user_{cur}",
    "cogs_per_user_mean_{cur}",
    "cogs_per_user_mean_mc_error_{cur}",
    "cogs_p50_{cur}",
    "cogs_p90_{cur}",
    "cogs_p95_{cur}",
    "cogs_p99_{cur}",
    "cogs_max_{cur}",
    "margin_per_user_{cur}",
    "gross_margin_pct",
    "gross_margin_pct_mc_error",
    "underwater_share",
    "underwater_low_95",
    "underwater_high_95",
    "underwater_users",
    "underwater_monthly_loss_{cur}",
    "top_1pct_cogs_share",
    "top_5pct_cogs_share",
    "break_even_kind",
    "break_even_credits",
    "break_even_until_credits",
    "horizon_total_margin_{cur}",
    "horizon_npv_margin_{cur}",
)


def _number(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return str(value)


def results_csv(results: Mapping[str, Any], *, currency: str = "USD") -> str:
    """One row per tier with the headline figures and their Monte Carlo errors (month 1); money
    columns named with ``currency`` (``CSV_COLUMNS``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(column.format(cur=currency.lower()) for column in CSV_COLUMNS)
    for tier in results["tiers"]:
        cogs, under, horizon = tier["cogs_per_user"], tier["underwater"], tier["horizon"]
        writer.writerow(
            _number(v)
            for v in (
                tier["key"],
                tier["paying"],
                tier["subscribers"],
                tier["revenue_per_user"]["value"],
                cogs["mean"]["value"],
                cogs["mean"]["mc_error"],
                cogs["p50"]["value"],
                cogs["p90"]["value"],
                cogs["p95"]["value"],
                cogs["p99"]["value"],
                cogs["max"],
                tier["margin_per_user"]["value"],
                tier["gross_margin_pct"]["value"],
                tier["gross_margin_pct"]["mc_error"],
                under["share"],
                under["interval"][0],
                under["interval"][1],
                under["users"],
                under["monthly_loss"]["value"],
                tier["top_1pct_cogs_share"],
                tier["top_5pct_cogs_share"],
                tier["break_even"]["kind"],
                tier["break_even"]["credits"],
                tier["break_even"]["until"],
                horizon["total_margin"],
                horizon["npv_margin"],
            )
        )
    return out.getvalue()
