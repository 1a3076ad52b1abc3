"""Hover and label text for the charts, formatted server-side by ``planner.core.formatting`` so a
chart reads the same figures as the tables beside it.

One convention (docs/WEB.md, "Numbers"): a series ``<name>`` (a list of numbers) gets a sibling
``<name>_text``, a list of strings of the same length, each its figure as people read it.
Charts use them as Plotly ``text``/``hovertext``; the numbers stay for the axes. A figure per
user (COGS, price) reads as a unit cost; totals as amounts; shares as percentages; numbers
already in percent (gross margin %) as such.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

from planner.core.formatting import count, money, percent, points, unit_cost

Formatter = Callable[[Any], str]


def _texts(values: Iterable[Any], formatter: Formatter) -> list[str]:
    return [formatter(value) for value in values]


def _add(series: MutableMapping[str, Any], formatters: dict[str, Formatter]) -> None:
    """``series[name + "_text"]`` for each ``name`` present (lists, or one figure)."""
    for name, formatter in formatters.items():
        value = series.get(name)
        if isinstance(value, list):
            series[f"{name}_text"] = _texts(value, formatter)
        elif value is not None:
            series[f"{name}_text"] = formatter(value)


def histogram_text(histogram: MutableMapping[str, Any], currency: str) -> None:
    """Each bar of a margin histogram as "−$1.20 to −$0.60 a month: 3.4% of users"."""
    half = float(histogram.get("width") or 0) / 2
    histogram["share_text"] = [
        f"{unit_cost(x - half, currency)} to {unit_cost(x + half, currency)} a month: "
        f"{percent(share)} of users"
        for x, share in zip(histogram.get("x", []), histogram.get("share", []), strict=True)
    ]


def tier_chart_text(chart: MutableMapping[str, Any], currency: str) -> None:
    """Text for one tier's charts (``planner.simulation.results._tier_chart``)."""

    def per_user(value: Any) -> str:
        return unit_cost(value, currency)

    def amount(value: Any) -> str:
        return money(value, currency)

    _add(chart, {"price": per_user, "net_price": per_user})
    _add(chart["percentiles"], {"cogs": per_user, "low": per_user, "high": per_user})
    histogram_text(chart["histogram"], currency)
    for lever in chart["levers"]:
        _add(
            lever,
            {"gross_margin_pct": points, "underwater_share": percent, "cogs_per_user": per_user},
        )
    for breakdown in ("cogs_by_workload", "cogs_by_model"):
        rows = chart.get(breakdown)
        if isinstance(rows, dict):
            chart[f"{breakdown}_text"] = {key: per_user(value) for key, value in rows.items()}
    _add(chart, {"revenue_by_month": amount, "cogs_by_month": amount, "margin_by_month": amount})


def results_chart_text(charts: MutableMapping[str, Any], currency: str) -> MutableMapping[str, Any]:
    """``charts`` (``chart_data``'s document) with every ``*_text`` sibling added; returned for
    chaining."""

    def amount(value: Any) -> str:
        return money(value, currency)

    for chart in charts["tiers"]:
        tier_chart_text(chart, currency)
    total = charts["total"]
    _add(total, {"margin_by_month": amount})
    for lever in total.get("levers") or []:
        _add(lever, {"monthly_margin_change": amount})
    lifetime = total.get("lifetime")
    if lifetime:
        _add(
            lifetime,
            {
                name: amount
                for name in (
                    "inference_cogs",
                    "model_costs",
                    "acquisition",
                    "fixed_costs",
                    "cumulative_cash",
                    "cumulative_low",
                    "cumulative_high",
                )
            },
        )
        lifetime["months_text"] = [f"month {count(month)}" for month in lifetime["months"]]
    return charts
