"""Plain-text rendering of simulation results (for the CLI and mail)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _money(value: float) -> str:
    return f"${value:,.2f}" if abs(value) >= 0.01 or value == 0 else f"${value:,.4f}"


def _break_even(data: Mapping[str, Any]) -> str:
    kind = data["kind"]
    if kind == "none":
        return "never"
    if kind == "free":
        return "free tier"
    if kind == "range":
        return f"{data['credits']:,.0f}-{data['until']:,.0f} cr"
    return f">= {data['credits']:,.0f} cr"


def results_text(results: Mapping[str, Any], *, title: str) -> str:
    """A readable per-tier report of a results document (month 1 figures, then the horizon)."""
    lines = [
        title,
        f"{results['users']:,} simulated users, seed {results['seed']}, "
        f"horizon {results['horizon_months']} months.",
        "Figures are for month 1; '±' is Monte Carlo simulation error (1 standard error; intervals 95%),",
        "not business uncertainty.",
        "",
        f"{'tier':<10}{'subs':>8}{'revenue/u':>11}{'COGS/u':>18}{'p50':>9}{'p90':>9}{'p99':>9}"
        f"{'margin %':>10}{'underwater (95% interval)':>30}{'loss/month':>12}  break-even",
    ]
    for tier in results["tiers"]:
        cogs = tier["cogs_per_user"]
        under = tier["underwater"]
        mean = cogs["mean"]
        if tier["paying"]:
            low, high = under["interval"]
            underwater = f"{under['share'] * 100:.2f}% ({low * 100:.2f}-{high * 100:.2f}%)"
            loss = _money(under["monthly_loss"]["value"])
            margin = f"{tier['gross_margin_pct']['value']:.1f}"
        else:
            underwater = "free: acquisition cost"
            loss = _money(mean["value"] * tier["subscribers"])
            margin = "-"
        lines.append(
            f"{tier['key']:<10}{tier['subscribers']:>8,}{_money(tier['revenue_per_user']['value']):>11}"
            f"{_money(mean['value']) + ' ± ' + _money(mean['mc_error']):>18}"
            f"{_money(cogs['p50']['value']):>9}{_money(cogs['p90']['value']):>9}{_money(cogs['p99']['value']):>9}"
            f"{margin:>10}{underwater:>30}{loss:>12}  {_break_even(tier['break_even'])}"
        )
    total = results["total"]
    under = total["underwater_paying"]
    low, high = under["interval"]
    horizon = total["horizon"]
    lines += [
        "",
        f"Total: revenue {_money(total['revenue'])}/month, COGS {_money(total['cogs']['value'])} "
        f"± {_money(total['cogs']['mc_error'])}, gross margin {total['gross_margin_pct']:.1f}%.",
        f"Underwater paying subscribers: {under['share'] * 100:.2f}% ({low * 100:.2f}-{high * 100:.2f}%), "
        f"about {under['users']:,.0f} users losing {_money(under['monthly_loss'])} a month.",
        f"Free-tier cost per paying subscriber: {_money(total['free_cost_per_paying_user'])}/month.",
        f"Horizon margin: {_money(total['horizon']['total_margin'])} "
        f"(NPV at {horizon['discount_rate_yearly'] * 100:.0f}%/year: {_money(horizon['npv_margin'])}).",
    ]
    for tier in results["tiers"]:
        for lever in tier["levers"]:
            change = lever["cogs_change_per_user"]
            lines.append(
                f"  lever {lever['label']!r} on {tier['key']}: COGS/user {_money(change['value'])} "
                f"± {_money(change['mc_error'])}, underwater {lever['underwater_share'] * 100:.2f}%"
            )
    return "\n".join(lines)
