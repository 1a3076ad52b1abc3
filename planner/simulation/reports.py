"""Plain-text rendering of simulation results (for the CLI and mail); figures through
``planner.core.formatting``: per-user figures as unit costs, totals as amounts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from planner.core.formatting import count, money, percent, points, unit_cost


def _break_even(data: Mapping[str, Any]) -> str:
    kind = data["kind"]
    if kind == "none":
        return "never"
    if kind == "free":
        return "free tier"
    if kind == "range":
        return f"{count(data['credits'])}-{count(data['until'])} cr"
    return f">= {count(data['credits'])} cr"


def results_text(results: Mapping[str, Any], *, title: str, currency: str = "USD") -> str:
    """A readable per-tier report of a results document (month 1 figures, then the horizon),
    money in ``currency``."""

    def per_user(value: float) -> str:
        return unit_cost(value, currency)

    lines = [
        title,
        f"{count(results['users'])} simulated users, seed {results['seed']}, "
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
            underwater = f"{percent(under['share'], 2)} ({percent(low, 2)}-{percent(high, 2)})"
            loss = money(under["monthly_loss"]["value"], currency)
            margin = points(tier["gross_margin_pct"]["value"])
        else:
            underwater = "free: acquisition cost"
            loss = money(mean["value"] * tier["subscribers"], currency)
            margin = "-"
        lines.append(
            f"{tier['key']:<10}{count(tier['subscribers']):>8}{per_user(tier['revenue_per_user']['value']):>11}"
            f"{per_user(mean['value']) + ' ± ' + per_user(mean['mc_error']):>18}"
            f"{per_user(cogs['p50']['value']):>9}{per_user(cogs['p90']['value']):>9}{per_user(cogs['p99']['value']):>9}"
            f"{margin:>10}{underwater:>30}{loss:>12}  {_break_even(tier['break_even'])}"
        )
    total = results["total"]
    under = total["underwater_paying"]
    low, high = under["interval"]
    horizon = total["horizon"]
    lines += [
        "",
        f"Total: revenue {money(total['revenue'], currency)}/month, "
        f"COGS {money(total['cogs']['value'], currency)} "
        f"± {money(total['cogs']['mc_error'], currency)}, gross margin {points(total['gross_margin_pct'])}.",
        f"Underwater paying subscribers: {percent(under['share'], 2)} "
        f"({percent(low, 2)}-{percent(high, 2)}), "
        f"about {count(under['users'])} users losing {money(under['monthly_loss'], currency)} a month.",
        f"Free-tier cost per paying subscriber: {per_user(total['free_cost_per_paying_user'])}/month.",
        f"Horizon margin: {money(total['horizon']['total_margin'], currency)} "
        f"(NPV at {percent(horizon['discount_rate_yearly'], 0)}/year: "
        f"{money(horizon['npv_margin'], currency)}).",
    ]
    for tier in results["tiers"]:
        for lever in tier["levers"]:
            change = lever["cogs_change_per_user"]
            lines.append(
                f"  lever {lever['label']!r} on {tier['key']}: COGS/user {per_user(change['value'])} "
                f"± {per_user(change['mc_error'])}, underwater {percent(lever['underwater_share'], 2)}"
            )
    return "\n".join(lines)
