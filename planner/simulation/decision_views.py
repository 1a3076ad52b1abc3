"""What a decision job's page shows, from its stored request and answer (no recomputation):
the answer in words, the figures at the value and one step beyond, the frontier of a grid, the
tornado of a sensitivity analysis, and the chart series for both."""

from __future__ import annotations

from typing import Any

from planner.core.formatting import count, money, percent, points, unit_cost

#: Settings in words, with how to show a value (``money``, ``unit_cost``, ``credits``, ``share``).
SETTING_WORDS = {
    "fee": ("monthly fee", "money"),
    "seat_fee": ("seat price", "money"),
    "hard_cap": ("hard cap", "credits"),
    "included_credits": ("included credits", "credits"),
    "overage_price": ("overage price per credit", "unit_cost"),
    "routing_share": ("routing share", "share"),
    "response_cache_hit_rate": ("response-cache hit rate", "share"),
    "prompt_cache_share": ("prompt-cache share", "share"),
    "distillation": ("distillation share", "share"),
    "batch_share": ("batch share", "share"),
}
METRIC_WORDS = {
    "gross_margin": "gross margin at least",
    "underwater_share": "underwater users at most",
    "underwater_loss": "monthly loss on underwater users at most",
    "cap_hit_share": "users hitting the cap at most",
}


def setting_words(setting: str) -> str:
    return SETTING_WORDS.get(setting, (setting.replace("_", " "), "number"))[0]


def setting_unit(setting: str) -> str:
    return SETTING_WORDS.get(setting, ("", "number"))[1]


def figure_text(unit: str, value: Any, currency: str) -> str:
    """A setting's or a figure's value for people, by its unit (``planner.core.formatting``):
    ``money`` an amount, ``unit_cost`` a price per credit, ``share`` a fraction, ``percent`` a
    number in percent, anything else a count."""
    if unit == "money":
        return money(value, currency)
    if unit == "unit_cost":
        return unit_cost(value, currency)
    if unit == "share":
        return percent(value)
    if unit == "percent":
        return points(value)
    return count(value)


def _targets(request: dict[str, Any]) -> list[dict[str, Any]]:
    """Each constraint of the request as words, a value and its unit (percent for fractions)."""
    found = []
    for c in request.get("constraints", []):
        bound = c["min"] if c.get("min") is not None else c["max"]
        unit = "money" if c["metric"] == "underwater_loss" else "percent"
        found.append(
            {"words": METRIC_WORDS[c["metric"]], "value": bound, "unit": unit, "metric": c["metric"]}
        )
    return found


def _figure_row(label: str, point: dict[str, Any] | None) -> dict[str, Any] | None:
    if point is None:
        return None
    return {
        "label": label,
        "value": point["value"],
        "feasible": point["feasible"],
        "gross_margin": point["gross_margin_pct"],
        "underwater": point["underwater_share"],
        "loss": point["underwater_loss"],
        "cap_hit": point["cap_hit_share"],
        "margin_per_user": point["margin_per_user"],
        "bounds": point["bounds"],
    }


def _optimization_view(request: dict[str, Any], answer: dict[str, Any], currency: str) -> dict[str, Any]:
    view: dict[str, Any] = {
        "kind": "optimization",
        "tier": request.get("tier"),
        "horizon": request.get("month", 1) == "horizon",
        "targets": _targets(request),
        "confidence": answer.get("confidence", request.get("confidence")),
        "feasible": answer["feasible"],
    }
    if "grid" in answer:
        settings = answer["settings"]
        view |= {
            "mode": "grid",
            "settings": [{"key": s, "words": setting_words(s), "unit": setting_unit(s)} for s in settings],
            "frontier": answer["frontier"],
            "chart": {
                "settings": settings,
                "points": [
                    {
                        "label": ", ".join(
                            f"{setting_words(s)} {figure_text(setting_unit(s), p[s], currency)}"
                            for s in settings
                        ),
                        "underwater": p["underwater_share"]["value"],
                        "margin_per_user": p["margin_per_user"]["value"],
                        "margin_per_user_text": unit_cost(p["margin_per_user"]["value"], currency),
                        "underwater_text": percent(p["underwater_share"]["value"]),
                        "cap_hit_text": percent(p["cap_hit_share"]["value"]),
                        "cap_hit": p["cap_hit_share"]["value"],
                        "feasible": p["feasible"],
                        "frontier": any(p is f or p == f for f in answer["frontier"]),
                    }
                    for p in answer["grid"]
                ],
            },
        }
        return view
    setting = answer["setting"]
    view |= {
        "mode": "seek",
        "chart": None,
        "setting": {"key": setting, "words": setting_words(setting), "unit": setting_unit(setting)},
        "current": answer.get("current"),
        "value": None if answer["value"] is None else answer["value"][setting],
        "rows": [
            row
            for row in (
                _figure_row("At the answer", answer.get("figures")),
                _figure_row("One step beyond", answer.get("adjacent")),
                _figure_row("Closest to the targets", answer.get("closest")),
            )
            if row is not None
        ],
        "candidates": answer.get("candidates"),
        "passes": answer.get("passes"),
    }
    return view


def _swing_of(bar: dict[str, Any], name: str, metric: str) -> dict[str, Any]:
    """A bar's swing of figure ``name`` (answers stored before every figure had its own swing
    carry the ranked ``metric``'s only; the others show as within noise)."""
    if name in bar.get("swings", {}):
        return dict(bar["swings"][name])
    if name == metric:
        return {"swing": bar["swing"], "within_noise": bar["within_noise"]}
    return {"swing": 0.0, "within_noise": True}


def _sensitivity_view(request: dict[str, Any], answer: dict[str, Any], currency: str) -> dict[str, Any]:
    metric = answer["metric"]
    unit = answer["metrics"][metric].get("unit", "number")
    tiers = []
    for tier in answer["tiers"]:
        bars = [
            {
                "input": bar["input"],
                "label": bar["label"],
                "low_label": bar["low"]["label"],
                "high_label": bar["high"]["label"],
                "low": bar["low"]["figures"][metric],
                "high": bar["high"]["figures"][metric],
                "low_text": figure_text(unit, bar["low"]["figures"][metric].get("value"), currency),
                "high_text": figure_text(unit, bar["high"]["figures"][metric].get("value"), currency),
                "swing": bar["swing"],
                "swing_interval": bar["swing_interval"],
                "within_noise": bar["within_noise"],
                # every headline figure's ends and swing, for the page's figure picker
                "metrics": {
                    name: {
                        "low": bar["low"]["figures"][name],
                        "high": bar["high"]["figures"][name],
                        **_swing_of(bar, name, metric),
                    }
                    for name in answer["metrics"]
                },
            }
            for bar in tier["bars"]
        ]
        moved = any(not bar["within_noise"] for bar in bars)
        top = max((bar["swing"] for bar in bars), default=0.0)
        tiers.append(
            {
                "key": tier["key"],
                "baseline": tier["baseline"][metric],
                "bars": bars,
                "moved": moved,
                "top": top,
            }
        )
    # The tier whose figure moves most first (a free tier's gross margin does not move at all).
    tiers.sort(key=lambda t: (not t["moved"], -t["top"]))
    inputs: dict[str, str] = {}
    for tier in tiers:
        for bar in tier["bars"]:
            inputs.setdefault(bar["input"], bar["label"])
    return {
        "kind": "sensitivity",
        "inputs": list(inputs.items()),
        "metric": {"key": metric, **answer["metrics"][metric]},
        "tiers": tiers,
        "skipped": answer.get("skipped", []),
        "metrics": [(key, m["label"]) for key, m in answer["metrics"].items()],
        "chart": {"metric": metric, "metrics": answer["metrics"], "tiers": tiers},
    }


def _moved_by(label: str, name: str) -> str:
    """A sweep point's label without the input's name ("Usage median −25%" -> "−25%")."""
    return label[len(name) :].strip() or label if label.startswith(name) else label


def _sweep_view(request: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    metric = request.get("metric", "gross_margin")
    tiers = [
        {
            "key": tier["key"],
            "baseline": tier["baseline"][metric],
            "points": [
                {"value": p["value"], "label": _moved_by(p["label"], answer["label"]), **p["figures"][metric]}
                for p in tier["points"]
            ],
        }
        for tier in answer["tiers"]
    ]
    # The tier whose figure moves most first (a free tier's gross margin never moves).
    tiers.sort(key=lambda t: -(max(p["value"] for p in t["points"]) - min(p["value"] for p in t["points"])))
    return {
        "kind": "sweep",
        "label": answer["label"],
        "metric": {"key": metric, "label": METRIC_LABELS.get(metric, metric)},
        "tiers": tiers,
        "chart": {
            "sweep": True,
            "label": answer["label"],
            "metric": METRIC_LABELS.get(metric, metric),
            "percent": metric == "gross_margin",
            "tiers": tiers,
        },
    }


#: A tornado's or sweep's metrics in words.
METRIC_LABELS = {
    "gross_margin": "Gross margin",
    "underwater_share": "Underwater share",
    "underwater_loss": "Monthly loss on underwater users",
    "horizon_margin": "Margin over the horizon",
}


def decision_view(
    kind: str, request: dict[str, Any], answer: dict[str, Any] | None, *, currency: str = "USD"
) -> dict[str, Any] | None:
    """The page's view of a finished job's ``answer`` (None while it has none); chart text and
    labels in ``currency``."""
    if not answer:
        return None
    if kind == "sensitivity" and answer.get("sweep"):
        return _sweep_view(request, answer)
    if kind == "sensitivity":
        return _sensitivity_view(request, answer, currency)
    return _optimization_view(request, answer, currency)
