"""Field validators shared by the models, the services and the admin.

Each validator raises ``django.core.exceptions.ValidationError`` with a message a person can act
on. The database constraints in ``planner.*.models`` back the same rules up for writes that skip
validation (``QuerySet.update``, raw SQL).
"""

from __future__ import annotations

import math
import zoneinfo
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, TypeGuard

from django.core.exceptions import ValidationError

#: Tolerance for "shares sum to 1": shares are entered as decimals like 0.7 + 0.3, whose
#: float sum is not exactly 1; 1e-6 is far below any share a person would enter on purpose.
SHARE_SUM_TOLERANCE = 1e-6

#: Lever fields that each take a fraction in [0, 1] (planner.engine.types.Lever).
LEVER_FRACTION_FIELDS = (
    "routing_share",
    "response_cache_hit_rate",
    "prompt_cache_share",
    "distillation",
    "batch_share",
)
#: Lever fields that change a tier's plan: ``fee_scale`` multiplies what the tier bills
#: (1.2 = +20 %); ``fee`` sets the field the tier bills by (its monthly fee, seat fee or annual
#: price); the others set the quota, the overage price per credit and the hard cap.
LEVER_PLAN_FIELDS = ("fee_scale", "fee", "included_credits", "overage_price", "hard_cap")
#: Upper bounds of the plan fields (a fee scale of 100x is far beyond any real price change).
LEVER_PLAN_LIMITS = {
    "fee_scale": 100.0,
    "fee": 1e7,
    "included_credits": 1e12,
    "overage_price": 1e6,
    "hard_cap": 1e12,
}
LEVER_FIELDS = frozenset(
    {"key", "label", "workloads", "tiers", "routing_model", *LEVER_FRACTION_FIELDS, *LEVER_PLAN_FIELDS}
)


def finite_decimal(value: object) -> None:
    """Reject NaN and +/-Infinity in a Decimal or float field.

    Django's DecimalField rejects them only when the value goes through ``to_python`` and its
    FloatField never does, so every numeric field of the planner carries this validator.
    """
    if value is None:
        return
    if isinstance(value, Decimal):
        finite = value.is_finite()
    elif isinstance(value, float | int):
        finite = math.isfinite(value)
    else:
        return
    if not finite:
        raise ValidationError("Enter a finite number (not NaN or infinity).", code="not_finite")


def validate_time_zone(value: str) -> None:
    """Accept only IANA time zone names known to ``zoneinfo`` (for example ``Europe/Paris``)."""
    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            "“%(value)s” is not a known time zone; use an IANA name such as Europe/Paris.",
            code="invalid_time_zone",
            params={"value": value},
        )


def validate_currency_code(value: str) -> None:
    """Accept a three-letter upper-case ISO 4217 code such as ``USD``."""
    if len(value) != 3 or not value.isascii() or not value.isalpha() or not value.isupper():
        raise ValidationError(
            "Enter a three-letter ISO 4217 currency code such as USD.",
            code="invalid_currency",
        )


def model_mix_validate(shares: Iterable[float]) -> None:
    """Check a workload's model mix: at least one model, every share in (0, 1], total 1."""
    values = [float(s) for s in shares]
    if not values:
        raise ValidationError("A workload needs at least one model.", code="empty_model_mix")
    for share in values:
        if not math.isfinite(share) or not 0 < share <= 1:
            raise ValidationError(
                "Each model's share must be above 0 and at most 1 (got %(share)s).",
                code="invalid_share",
                params={"share": share},
            )
    total = math.fsum(values)
    if abs(total - 1) > SHARE_SUM_TOLERANCE:
        raise ValidationError(
            "Model shares must sum to 1 (they sum to %(total)s).",
            code="shares_do_not_sum_to_one",
            params={"total": round(total, 6)},
        )


def _fraction(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value <= 1
    )


def _number_within(value: object, limit: float) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value <= limit
    )


def levers_validate_structure(value: object) -> None:
    """Validate the shape of a scenario's ``levers`` JSON (references are checked by the model).

    ``levers`` is a list of objects with the fields of ``planner.engine.types.Lever``:
    ``key`` (unique, non-empty), ``label`` (non-empty), ``workloads`` (list of Workload ids of
    the scenario's product; empty or absent means all), ``routing_model`` (an AIModel id, set
    together with ``routing_share``) and the fractions ``routing_share``,
    ``response_cache_hit_rate``, ``prompt_cache_share``, ``distillation``, ``batch_share``
    (each in [0, 1] or null); ``tiers`` (list of the scenario's Tier ids; empty or absent means
    all) and the plan fields ``LEVER_PLAN_FIELDS`` (numbers >= 0 up to ``LEVER_PLAN_LIMITS``, or
    null; ``fee`` and ``fee_scale`` not both). A lever must change at least one thing.
    """
    if not isinstance(value, list):
        raise ValidationError("Levers must be a list of objects.", code="invalid_levers")
    errors: list[str] = []
    seen: set[str] = set()
    for index, lever in enumerate(value, start=1):
        where = f"Lever {index}"
        if not isinstance(lever, dict):
            errors.append(f"{where}: must be an object.")
            continue
        unknown = sorted(set(lever) - LEVER_FIELDS)
        if unknown:
            errors.append(f"{where}: unknown field(s) {', '.join(unknown)}.")
        key = lever.get("key")
        if not isinstance(key, str) or not key.strip():
            errors.append(f"{where}: 'key' must be a non-empty string.")
        elif key in seen:
            errors.append(f"{where}: key '{key}' is used twice.")
        else:
            seen.add(key)
            where = f"Lever '{key}'"
        label = lever.get("label")
        if not isinstance(label, str) or not label.strip():
            errors.append(f"{where}: 'label' must be a non-empty string.")
        workloads = lever.get("workloads", [])
        if not isinstance(workloads, list) or not all(
            isinstance(w, int) and not isinstance(w, bool) for w in workloads
        ):
            errors.append(f"{where}: 'workloads' must be a list of workload ids.")
        tiers = lever.get("tiers", [])
        if not isinstance(tiers, list) or not all(
            isinstance(t, int) and not isinstance(t, bool) for t in tiers
        ):
            errors.append(f"{where}: 'tiers' must be a list of tier ids.")
        for name in LEVER_FRACTION_FIELDS:
            field_value = lever.get(name)
            if field_value is not None and not _fraction(field_value):
                errors.append(f"{where}: '{name}' must be a number between 0 and 1.")
        for name, limit in LEVER_PLAN_LIMITS.items():
            field_value = lever.get(name)
            if field_value is not None and not _number_within(field_value, limit):
                errors.append(f"{where}: '{name}' must be a number between 0 and {limit:g}.")
        if lever.get("fee") is not None and lever.get("fee_scale") is not None:
            errors.append(f"{where}: set 'fee' (a new price) or 'fee_scale' (a change of price), not both.")
        model = lever.get("routing_model")
        if model is not None and (not isinstance(model, int) or isinstance(model, bool)):
            errors.append(f"{where}: 'routing_model' must be a model id.")
        if (model is None) != (lever.get("routing_share") is None):
            errors.append(f"{where}: set 'routing_model' and 'routing_share' together.")
        if all(lever.get(name) is None for name in (*LEVER_FRACTION_FIELDS, *LEVER_PLAN_FIELDS)):
            errors.append(
                f"{where}: changes nothing; set at least one of "
                f"{', '.join((*LEVER_FRACTION_FIELDS, *LEVER_PLAN_FIELDS))}."
            )
    if errors:
        raise ValidationError(errors, code="invalid_levers")


#: Fields of one model cost in ``Scenario.model_costs`` (``planner.engine.types.ModelCost``).
MODEL_COST_FIELDS = ("label", "month", "amount", "every_months")
#: At most this many model costs per scenario; months and repeats within 600 (the longest horizon).
MAX_MODEL_COSTS = 50
MAX_MODEL_COST = 1e12


def model_costs_validate_structure(value: object) -> None:
    """Validate a scenario's ``model_costs`` JSON: a list of at most ``MAX_MODEL_COSTS`` objects
    ``{"label": non-empty str (<= 100), "month": int 1..600, "amount": number 0..1e12,
    "every_months": int 1..600 or null}`` (a one-off cost in ``month``, or a retrain repeated
    every ``every_months`` months from it)."""
    if not isinstance(value, list):
        raise ValidationError("Model costs must be a list of objects.", code="invalid_model_costs")
    if len(value) > MAX_MODEL_COSTS:
        raise ValidationError(f"At most {MAX_MODEL_COSTS} model costs.", code="invalid_model_costs")
    errors: list[str] = []
    for index, cost in enumerate(value, start=1):
        where = f"Model cost {index}"
        if not isinstance(cost, dict):
            errors.append(f"{where}: must be an object.")
            continue
        unknown = sorted(set(cost) - set(MODEL_COST_FIELDS))
        if unknown:
            errors.append(f"{where}: unknown field(s) {', '.join(unknown)}.")
        label = cost.get("label")
        if not isinstance(label, str) or not label.strip() or len(label) > 100:
            errors.append(f"{where}: 'label' must be a non-empty text of at most 100 characters.")
        if not _whole(cost.get("month"), 1, 600):
            errors.append(f"{where}: 'month' must be a whole number from 1 to 600.")
        amount = cost.get("amount")
        if not (_number(amount) and 0 <= amount <= MAX_MODEL_COST):
            errors.append(f"{where}: 'amount' must be a number from 0 to {MAX_MODEL_COST:g}.")
        every = cost.get("every_months")
        if every is not None and not _whole(every, 1, 600):
            errors.append(f"{where}: 'every_months' must be a whole number from 1 to 600, or null.")
    if errors:
        raise ValidationError(errors, code="invalid_model_costs")


def _whole(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def lever_label_norm(label: object) -> str:
    """A lever label as compared for uniqueness: trimmed, case folded."""
    return label.strip().casefold() if isinstance(label, str) else ""


def lever_label_twin(levers: Iterable[object], label: str) -> dict[str, Any] | None:
    """The first of ``levers`` labelled like ``label`` (case and surrounding spaces ignored)."""
    norm = lever_label_norm(label)
    for lever in levers:
        if norm and isinstance(lever, dict) and lever_label_norm(lever.get("label")) == norm:
            return lever
    return None


def lever_label_taken_message(twin: Mapping[str, Any]) -> str:
    """Why a label is refused: ``twin`` (a lever) already reads so in results."""
    return f"The lever “{str(twin.get('label', '')).strip()}” already has this label; choose another."


def lever_label_duplicates(levers: object) -> dict[int, str]:
    """Index -> message for each lever (0-based) labelled like an earlier one."""
    if not isinstance(levers, list):
        return {}
    errors: dict[int, str] = {}
    for index, lever in enumerate(levers):
        label = lever.get("label") if isinstance(lever, dict) else None
        twin = lever_label_twin(levers[:index], label) if isinstance(label, str) else None
        if twin is not None:
            errors[index] = lever_label_taken_message(twin)
    return errors
