"""The building blocks every domain model uses: the abstract bases :class:`PlannerModel` and
:class:`TimestampedModel`, the numeric bounds, field helpers, constraint helpers that give
constraints the planner's names, and the small checks ``clean()`` methods share.

Every rule of a model is enforced twice: field validators and ``clean()`` give people a message
on the field at fault (``full_clean``), and a database CheckConstraint stops an impossible row
written without validation (``QuerySet.update``, raw SQL). The field helpers here build the first
half (finite numbers within bounds), the constraint helpers the second.

Units: money in the organisation's currency (Decimal); fractions (shares, rates, churn) as
floats in [0, 1]; token counts per model call; usage in requests per user per month.

Why every numeric CheckConstraint has an upper bound: PostgreSQL sorts NaN above every number
(and SQLite stores a Decimal NaN as text, which also sorts above numbers), so ``x >= 0`` alone
would let NaN through; ``x <= max`` rejects it on both databases.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.constraints import BaseConstraint

from planner.core.validators import finite_decimal

# Upper bounds: generous for any real product, small enough to reject nonsense and NaN.
MAX_FEE = Decimal("99999999.9999")  # max_digits=12, decimal_places=4
MAX_CREDIT_PRICE = Decimal("999999.999999")  # max_digits=12, decimal_places=6
MAX_CREDITS = 1e12
MAX_TOKENS_PER_CALL = 10_000_000.0  # larger than any context window on the market
MAX_CALLS_PER_REQUEST = 10_000.0
MAX_REQUESTS_PER_MONTH = 1e9  # one user's expected requests per month
MAX_ALPHA = 1e6
MIN_SIMULATED_USERS = 1_000
MAX_SIMULATED_USERS = 20_000_000
MAX_HORIZON_MONTHS = 60
MAX_SEED = 2**63 - 1  # fits a signed 64-bit column


def between_constraint(
    model: str,
    field: str,
    low: float | Decimal | None,
    high: float | Decimal,
    *,
    low_exclusive: bool = False,
) -> models.CheckConstraint:
    """A CheckConstraint ``low <= field <= high`` (NULL passes, as in SQL)."""
    condition = Q(**{f"{field}__lte": high})
    if low is not None:
        condition &= Q(**{f"{field}__gt" if low_exclusive else f"{field}__gte": low})
    return models.CheckConstraint(condition=condition, name=f"planner_{model}_{field}_range")


def p90_constraint(model: str, prefix: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(**{f"{prefix}_p90__gte": F(f"{prefix}_median")}),
        name=f"planner_{model}_{prefix}_p90_gte_median",
    )


def both_or_neither_constraint(model: str, first: str, second: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(**{f"{first}__isnull": True, f"{second}__isnull": True})
        | Q(**{f"{first}__isnull": False, f"{second}__isnull": False}),
        name=f"planner_{model}_{first}_{second}_together",
    )


def one_of_constraint(model: str, field: str, values: list[str]) -> models.CheckConstraint:
    """A CheckConstraint ``field IN values``: the database side of a field's ``choices``."""
    return models.CheckConstraint(
        condition=Q(**{f"{field}__in": values}), name=f"planner_{model}_{field}_valid"
    )


def unique_constraint(
    model: str, fields: list[str], what: str = "", *, condition: Q | None = None
) -> models.UniqueConstraint:
    """A UniqueConstraint on ``fields`` (where ``condition`` holds) named
    ``planner_<model>_unique`` or ``planner_<model>_unique_<what>``."""
    name = f"planner_{model}_unique_{what}" if what else f"planner_{model}_unique"
    return models.UniqueConstraint(fields=fields, condition=condition, name=name)


def float_field(
    help_text: str = "", *, low: float, high: float, null: bool = False, **options: Any
) -> models.FloatField:
    """A FloatField taking finite numbers in ``[low, high]`` (and empty values when ``null``)."""
    return models.FloatField(
        null=null,
        blank=null,
        validators=[finite_decimal, MinValueValidator(low), MaxValueValidator(high)],
        help_text=help_text,
        **options,
    )


def decimal_field(
    help_text: str = "",
    *,
    max_digits: int,
    decimal_places: int,
    high: Decimal,
    low: Decimal = Decimal(0),
    high_message: str | None = None,
    null: bool = False,
    **options: Any,
) -> models.DecimalField:
    """A DecimalField taking finite numbers in ``[low, high]`` (and empty values when ``null``);
    ``high_message`` replaces Django's message for a value above ``high``."""
    # A validator's arguments are part of the migration state: pass a message only when given.
    at_most = (
        MaxValueValidator(high) if high_message is None else MaxValueValidator(high, message=high_message)
    )
    return models.DecimalField(
        max_digits=max_digits,
        decimal_places=decimal_places,
        null=null,
        blank=null,
        validators=[finite_decimal, MinValueValidator(low), at_most],
        help_text=help_text,
        **options,
    )


def fraction_field(help_text: str, default: float = 0.0) -> models.FloatField:
    return float_field(help_text, low=0.0, high=1.0, default=default)


def exact_fraction_field(help_text: str, *, high_message: str, **options: Any) -> models.DecimalField:
    """A fraction in [0, 1] that money is multiplied by (a discount, a payment fee rate), kept
    exact as a Decimal with 6 decimal places. ``high_message`` asks whoever typed a percentage
    (20 for 20 %) for the fraction instead."""
    return decimal_field(
        help_text, max_digits=7, decimal_places=6, high=Decimal(1), high_message=high_message, **options
    )


def money_field(help_text: str, *, null: bool = False, default: Decimal | None = None) -> models.DecimalField:
    return decimal_field(help_text, max_digits=12, decimal_places=4, high=MAX_FEE, null=null, default=default)


def credits_field(help_text: str) -> models.FloatField:
    """Credits per month, empty allowed (its meaning, say "unlimited", is in ``help_text``)."""
    return float_field(help_text, low=0.0, high=MAX_CREDITS, null=True)


def tokens_field(help_text: str, *, null: bool = False) -> models.FloatField:
    return float_field(help_text, low=0.0, high=MAX_TOKENS_PER_CALL, null=null)


def finite_number(value: object) -> float | None:
    """``value`` as a float when it is a finite number, else None (clean() runs even after a
    field failed its own validation, so it must not trip over a NaN or a stray string)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def p90_check(errors: dict[str, str], instance: models.Model, prefix: str, label: str) -> None:
    median = finite_number(getattr(instance, f"{prefix}_median"))
    p90 = finite_number(getattr(instance, f"{prefix}_p90"))
    if median is None or p90 is None:
        return
    if p90 < median:
        errors[f"{prefix}_p90"] = f"The {label} p90 ({p90:g}) cannot be below the median ({median:g})."


def raise_errors(errors: dict[str, str]) -> None:
    if errors:
        raise ValidationError(errors)


class PlannerModel(models.Model):
    """Base of the planner's models: ``full_clean`` validates UniqueConstraints but leaves
    CheckConstraints to the database.

    Every CheckConstraint here mirrors a field validator or a ``clean()`` rule, which report
    the same problem on the field at fault. Django would re-run each CheckConstraint as a
    SELECT on every ``full_clean`` (about 20 queries to validate one workload) only to add a
    second, field-less message.
    """

    class Meta:
        abstract = True

    def get_constraints(self) -> list[tuple[type[models.Model], Sequence[BaseConstraint]]]:
        return [
            (model, [c for c in constraints if not isinstance(c, models.CheckConstraint)])
            for model, constraints in super().get_constraints()
        ]


class TimestampedModel(PlannerModel):
    """A planner model that records when each row was created and when it was last saved."""

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
