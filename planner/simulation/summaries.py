"""Plain-language summaries of a results document, and the rows of the results page's tables
(levers by tier, segments). Everything reads the stored document; nothing is recomputed.

Sentences never contradict the figures beside them: who is underwater and which workload drives
their cost is said whenever the underwater share is above 0, and "never turns negative" is said
only when nobody is underwater. Break-even is stated in COGS, which needs no assumption about a
user's workload mix (``break_even_cogs``); break-even in credits is a figure at the tier's
average mix, so it is given as such.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from planner.core.formatting import count, money, percent, points, unit_cost

#: Words for the assumptions the horizon figures rest on (``total.horizon.assumptions``).
ASSUMPTION_WORDS = {
    "price_trend": "token prices",
    "usage_growth": "usage",
    "churn": "churn",
}


def _signed(value: float, currency: str) -> str:
    return ("+" if value >= 0 else "") + money(value, currency)


def break_even_cogs_words(data: Mapping[str, Any] | None, currency: str) -> str | None:
    """ "a user turns negative above $X of COGS a month" (with the overage line when there is one)."""
    if not data or data["kind"] == "free":
        return None
    text = f"a user turns negative above {unit_cost(data['cogs'], currency)} of COGS a month"
    if data["kind"] == "line":
        text += f" up to the {count(data['at_quota']['credits'])}-credit quota"
        if data.get("at_cap"):
            text += (
                f", rising to {unit_cost(data['at_cap']['cogs'], currency)} at the "
                f"{count(data['at_cap']['credits'])}-credit cap as overage is billed"
            )
        else:
            text += ", rising as overage is billed"
    return text


def _credits_words(data: Mapping[str, Any], share: float) -> str | None:
    """Break-even in credits at the tier's average mix; "never" only when nobody is underwater."""
    kind = data["kind"]
    if kind == "from":
        return f"at the tier's average workload mix that is {count(data['credits'])} credits/month"
    if kind == "range":
        return (
            f"at the tier's average workload mix margin is negative between {count(data['credits'])} "
            f"and {count(data['until'])} credits/month"
        )
    if kind == "none" and share == 0:
        return "at the tier's average workload mix margin never turns negative with usage"
    return None


def _who_words(tier: Mapping[str, Any]) -> str | None:
    """Who is underwater and what drives their cost: the segment with the most underwater users
    (when the tier has segments) and its driving workload, else the tier's driver."""
    segments = [s for s in tier.get("segments") or [] if s["underwater"]["users"] > 0]
    under = tier["underwater"]
    if segments:
        worst = max(segments, key=lambda s: s["underwater"]["users"])
        share = percent(worst["underwater"]["share"])
        text = f"most are \u201c{worst['key']}\u201d users ({share} of that segment is underwater)"
        driver, shares = worst.get("driver"), worst.get("underwater_cogs_by_workload") or {}
    else:
        text = ""
        driver, shares = under.get("driver"), under.get("cogs_by_workload") or {}
    if driver:
        cost = f"their cost comes mostly from {driver} ({percent(shares.get(driver, 0), 0)} of it)"
        text = f"{text}, and {cost}" if text else cost
    return text or None


def tier_sentence(tier: Mapping[str, Any], currency: str) -> str:
    """One sentence on a tier (see the module docstring for what it always and never says)."""
    if not tier["paying"]:
        cost = tier["cogs_per_user"]["mean"]["value"] * tier["subscribers"]
        each = unit_cost(tier["cogs_per_user"]["mean"]["value"], currency)
        return (
            f"{tier['key']} is free: its {count(tier['subscribers'])} users cost "
            f"{money(cost, currency)}/month ({each} each)."
        )
    under = tier["underwater"]
    share = under["share"]
    low, high = under["interval"]
    parts = [
        f"{percent(share)} of {tier['key']} users are underwater "
        f"(95% simulation interval {percent(low)}–{percent(high)})"
    ]
    if share > 0:
        parts.append(f"they cost {money(under['monthly_loss']['value'], currency)}/month")
        who = _who_words(tier)
        if who:
            parts.append(who)
    for words in (
        break_even_cogs_words(tier.get("break_even_cogs"), currency),
        _credits_words(tier["break_even"], share),
    ):
        if words:
            parts.append(words)
    return "; ".join(parts) + "."


def assumptions_sentence(results: Mapping[str, Any], currency: str) -> str | None:
    """Every non-neutral assumption behind the horizon total and what it adds to it; ``None`` for
    documents made before assumptions were reported."""
    data = results["total"]["horizon"].get("assumptions")
    months = results["horizon_months"]
    if data is None:
        return None
    if not data["effects"]:
        return f"The {months}-month figures assume flat token prices, no usage growth and no churn."
    parts = []
    for effect in data["effects"]:
        change = _signed(effect["effect"]["value"], currency)
        setting = effect["setting"]
        if effect["name"] == "price_trend":
            verb = "fall" if setting < 0 else "rise"
            parts.append(f"token prices {verb} {percent(abs(setting), 0)} a year ({change})")
        elif effect["name"] == "usage_growth":
            verb = "grows" if setting > 0 else "shrinks"
            parts.append(f"usage {verb} {percent(abs(setting))} a month ({change})")
        else:
            rates = ", ".join(f"{key} {percent(rate)}" for key, rate in setting.items())
            parts.append(f"subscribers churn each month ({rates}; {change})")
    neutral = money(data["neutral_total_margin"]["value"], currency)
    return (
        f"The {months}-month total assumes that "
        + "; ".join(parts)
        + f". Without these assumptions it would be {neutral}."
    )


def summary_sentences(results: Mapping[str, Any], *, currency: str) -> list[str]:
    """One plain-language sentence per tier, one for the total, one for the assumptions and one
    for the strongest lever, with the simulation error where it changes the reading."""
    sentences = [tier_sentence(tier, currency) for tier in results["tiers"]]
    total = results["total"]
    sentences.append(
        f"Overall gross margin is {points(total['gross_margin_pct'])} on "
        f"{money(total['revenue'], currency)}/month of revenue; over "
        f"{results['horizon_months']} months the margin adds up to "
        f"{money(total['horizon']['total_margin'], currency)}."
    )
    assumptions = assumptions_sentence(results, currency)
    if assumptions:
        sentences.append(assumptions)
    best = max(total["levers"], key=lambda lever: lever["monthly_margin_change"], default=None)
    if best is not None and best["monthly_margin_change"] > 0:
        sentences.append(
            f"The strongest lever, {best['label']}, adds "
            f"{money(best['monthly_margin_change'], currency)}/month of margin."
        )
    return sentences


# --- Tables ------------------------------------------------------------------------------------

#: What a lever sets on a plan, in words (money in ``currency``; the credit price per unit).
PLAN_WORDS: dict[str, Callable[[float, str], str]] = {
    "fee_scale": lambda v, _: f"fee ×{v:g}",
    "fee": lambda v, currency: f"fee set to {money(v, currency)}",
    "monthly_price": lambda v, currency: f"fee {money(v, currency)}/month",
    "included_credits": lambda v, _: f"{count(v)} credits included",
    "overage_price": lambda v, currency: f"overage {unit_cost(v, currency)}/credit",
    "hard_cap": lambda v, _: f"cap {count(v)} credits",
}


def plan_words(plan: Mapping[str, float] | None, currency: str = "USD") -> str:
    """What a lever changes on a tier's plan, in words, always in the same order (fee, quota,
    overage, cap; "" when nothing)."""
    if not plan:
        return ""
    # In PLAN_WORDS' order: a results document read back from PostgreSQL's jsonb has its keys
    # in jsonb's order, not the order they were written in.
    return ", ".join(
        words(plan[name], currency) for name, words in PLAN_WORDS.items() if plan.get(name) is not None
    )


def lever_rows(results: Mapping[str, Any], currency: str = "USD") -> list[dict[str, Any]]:
    """One row per tier and lever for the results page's lever table: gross margin, underwater
    share with its interval, loss and the capped share under the lever, each change against the
    baseline with its paired error. Figures a document made before plan levers lacks are None."""
    rows = []
    for tier in results["tiers"]:
        for lever in tier["levers"]:
            capped = lever.get("capped_share") or {}
            rows.append(
                {
                    "tier": tier["key"],
                    "paying": tier["paying"],
                    "lever": lever["label"],
                    "plan": plan_words(lever.get("plan"), currency),
                    "gross_margin_pct": lever["gross_margin_pct"],
                    "gross_margin_pct_change": lever.get("gross_margin_pct_change"),
                    "underwater_share": lever["underwater_share"],
                    "underwater_interval": lever.get("underwater_interval"),
                    "underwater_change": lever["underwater_share_change"],
                    "underwater_change_error": lever.get("underwater_share_change_error"),
                    "monthly_loss": (lever.get("monthly_loss") or {}).get("value"),
                    "capped_share": capped.get("share"),
                    "capped_interval": capped.get("interval"),
                    "margin_change": lever["margin_change_per_user"],
                }
            )
    return rows


def segment_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per tier segment: share, underwater share with interval, loss, driving workload
    and break-even at the segment's own mix."""
    return [
        {"tier": tier["key"], "paying": tier["paying"], **segment}
        for tier in results["tiers"]
        for segment in tier.get("segments") or []
    ]


def lifetime_view(results: Mapping[str, Any]) -> dict[str, Any] | None:
    """The results page's lifetime card: the total's figures and one row per tier (None for
    documents made before lifetime figures)."""
    total = results["total"].get("lifetime")
    if total is None:
        return None
    return {
        **total,
        "horizon_months": results["horizon_months"],
        "tiers": [
            {"key": tier["key"], "paying": tier["paying"], **tier["lifetime"]} for tier in results["tiers"]
        ],
    }
