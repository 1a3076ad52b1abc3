"""The planner's domain model: organisations, products, tiers, workloads, usage, scenarios, runs.

Models hold fields, constraints and small derived properties; business logic lives in
``planner.services``. Every rule is enforced twice: field validators and ``clean()`` give
field-level messages to people (``full_clean``), and database CheckConstraints stop impossible
rows written without validation (``QuerySet.update``, raw SQL).

Units: money in the organisation's currency (Decimal); fractions (shares, rates, churn) as
floats in [0, 1]; token counts per model call; usage in requests per user per month.

Why every numeric CheckConstraint has an upper bound: PostgreSQL sorts NaN above every number
(and SQLite stores a Decimal NaN as text, which also sorts above numbers), so ``x >= 0`` alone
would let NaN through; ``x <= max`` rejects it on both databases.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Collection, Sequence
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.constraints import BaseConstraint
from django.utils import timezone

from planner.validators import (
    finite_decimal,
    levers_validate_structure,
    validate_currency_code,
    validate_time_zone,
)
from pricing.models import AIModel

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


def new_seed() -> int:
    """A fresh random seed for a scenario, stored so every run can be reproduced."""
    return secrets.randbelow(MAX_SEED)


def _between(
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


def _p90_not_below_median(model: str, prefix: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(**{f"{prefix}_p90__gte": F(f"{prefix}_median")}),
        name=f"planner_{model}_{prefix}_p90_gte_median",
    )


def _both_or_neither(model: str, first: str, second: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(**{f"{first}__isnull": True, f"{second}__isnull": True})
        | Q(**{f"{first}__isnull": False, f"{second}__isnull": False}),
        name=f"planner_{model}_{first}_{second}_together",
    )


def _fraction_field(help_text: str, default: float = 0.0) -> models.FloatField:
    return models.FloatField(
        default=default,
        validators=[finite_decimal, MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text=help_text,
    )


def _money_field(
    help_text: str, *, null: bool = False, default: Decimal | None = None
) -> models.DecimalField:
    return models.DecimalField(
        max_digits=12,
        decimal_places=4,
        null=null,
        blank=null,
        default=default,
        validators=[finite_decimal, MinValueValidator(Decimal(0)), MaxValueValidator(MAX_FEE)],
        help_text=help_text,
    )


def _tokens_field(help_text: str, *, null: bool = False) -> models.FloatField:
    return models.FloatField(
        null=null,
        blank=null,
        validators=[finite_decimal, MinValueValidator(0.0), MaxValueValidator(MAX_TOKENS_PER_CALL)],
        help_text=help_text,
    )


def _number(value: object) -> float | None:
    """``value`` as a float when it is a finite number, else None (clean() runs even after a
    field failed its own validation, so it must not trip over a NaN or a stray string)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _p90_check(errors: dict[str, str], instance: models.Model, prefix: str, label: str) -> None:
    median = _number(getattr(instance, f"{prefix}_median"))
    p90 = _number(getattr(instance, f"{prefix}_p90"))
    if median is None or p90 is None:
        return
    if p90 < median:
        errors[f"{prefix}_p90"] = f"The {label} p90 ({p90:g}) cannot be below the median ({median:g})."


def _raise(errors: dict[str, str]) -> None:
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


class Organization(PlannerModel):
    """A customer of Margin Planner (a tenant). Everything else is scoped to one."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    currency = models.CharField(
        max_length=3,
        default="USD",
        validators=[validate_currency_code],
        help_text="ISO 4217 code of the currency all money amounts are in.",
    )
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="IANA time zone; billing periods and alert windows follow it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(PlannerModel):
    """A user's role in an organisation."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        EDITOR = "editor", "Editor"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="planner_membership_unique"),
            models.CheckConstraint(
                condition=Q(role__in=["owner", "editor", "viewer"]), name="planner_membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class Product(PlannerModel):
    """An AI product an organisation sells; owns tiers, workloads and scenarios."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="products")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    default_correlation = models.FloatField(
        default=0.8,
        validators=[finite_decimal, MinValueValidator(-1.0), MaxValueValidator(1.0)],
        help_text="Usage correlation between workloads for pairs without their own value "
        "(heavy users tend to be heavy everywhere).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="planner_product_unique_name"),
            _between("product", "default_correlation", -1.0, 1.0),
        ]

    def __str__(self) -> str:
        return self.name


class Tier(PlannerModel):
    """A subscription tier of a product.

    Billing is a flat monthly fee, or a per-seat fee times seats, optionally sold as an annual
    price (stored as the yearly amount). ``included_credits`` null means unlimited;
    ``overage_price_per_credit`` null means no overage: use beyond the included credits is then
    blocked (the quota acts as a hard cap). ``hard_cap_credits`` stops serving requests once a
    month's credits reach it. ``payment_fee_pct`` is a fraction of revenue (0.029 = 2.9 %).
    ``churn_monthly`` is the share of subscribers leaving each month.
    """

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="tiers")
    name = models.CharField(max_length=100)
    position = models.PositiveSmallIntegerField(default=0, help_text="Display order within the product.")
    monthly_fee = _money_field("Flat monthly fee per subscriber (0 for a free tier).", default=Decimal(0))
    seat_fee = _money_field("Monthly fee per seat (instead of a flat fee).", null=True)
    seats = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Seats per subscriber."
    )
    annual_price = _money_field("Yearly price when sold annually; counts as 1/12 per month.", null=True)
    included_credits = models.FloatField(
        null=True,
        blank=True,
        validators=[finite_decimal, MinValueValidator(0.0), MaxValueValidator(MAX_CREDITS)],
        help_text="Credits included per month; empty = unlimited.",
    )
    overage_price_per_credit = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[finite_decimal, MinValueValidator(Decimal(0)), MaxValueValidator(MAX_CREDIT_PRICE)],
        help_text="Price of each credit beyond the included ones; empty = no overage.",
    )
    hard_cap_credits = models.FloatField(
        null=True,
        blank=True,
        validators=[finite_decimal, MinValueValidator(0.0), MaxValueValidator(MAX_CREDITS)],
        help_text="Credits per month after which requests are refused; empty = no cap.",
    )
    payment_fee_pct = models.DecimalField(
        max_digits=7,
        decimal_places=6,
        default=Decimal(0),
        validators=[
            finite_decimal,
            MinValueValidator(Decimal(0)),
            MaxValueValidator(Decimal(1), message="Enter the fee as a fraction: 0.029 for 2.9 %%."),
        ],
        help_text="Payment processing fee as a fraction of revenue (0.029 = 2.9 %).",
    )
    payment_fee_fixed = _money_field("Fixed payment fee per subscriber and month.", default=Decimal(0))
    subscribers = models.PositiveIntegerField(default=0)
    churn_monthly = _fraction_field("Share of subscribers leaving each month (0..1).")

    class Meta:
        ordering = ["product", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["product", "name"], name="planner_tier_unique_name"),
            _between("tier", "monthly_fee", 0, MAX_FEE),
            _between("tier", "seat_fee", 0, MAX_FEE),
            _between("tier", "seats", 1, 2**31 - 1),
            _both_or_neither("tier", "seat_fee", "seats"),
            _between("tier", "annual_price", 0, MAX_FEE),
            _between("tier", "included_credits", 0.0, MAX_CREDITS),
            _between("tier", "overage_price_per_credit", 0, MAX_CREDIT_PRICE),
            _between("tier", "hard_cap_credits", 0.0, MAX_CREDITS),
            _between("tier", "payment_fee_pct", 0, 1),
            _between("tier", "payment_fee_fixed", 0, MAX_FEE),
            _between("tier", "subscribers", 0, 2**31 - 1),
            _between("tier", "churn_monthly", 0.0, 1.0),
        ]

    def __str__(self) -> str:
        return f"{self.product} / {self.name}"

    @property
    def annual_price_monthly(self) -> Decimal | None:
        """The annual price as a monthly equivalent (annual / 12), or None without one."""
        if self.annual_price is None:
            return None
        return (self.annual_price / 12).quantize(Decimal("0.000001"))

    @property
    def monthly_revenue_per_subscriber(self) -> Decimal:
        """Monthly list revenue from one subscriber, before overage and payment fees.

        Rule, first match wins: an annual price (annual_price / 12: annual subscribers are
        assumed throughout); else a per-seat fee (seat_fee x seats); else the monthly fee.
        """
        monthly = self.annual_price_monthly
        if monthly is not None:
            return monthly
        if self.seat_fee is not None and self.seats is not None:
            return self.seat_fee * self.seats
        return self.monthly_fee

    @property
    def is_unlimited(self) -> bool:
        return self.included_credits is None

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if (self.seat_fee is None) != (self.seats is None):
            missing = "seats" if self.seats is None else "seat_fee"
            errors[missing] = "A per-seat price needs both a seat fee and a number of seats."
        if self.seat_fee is not None and _number(self.monthly_fee) not in (None, 0.0):
            errors["seat_fee"] = "Set either a flat monthly fee or a per-seat fee, not both."
        if self.overage_price_per_credit is not None and self.included_credits is None:
            errors["overage_price_per_credit"] = (
                "Overage needs included credits; an unlimited tier has nothing to exceed."
            )
        cap, included = _number(self.hard_cap_credits), _number(self.included_credits)
        if cap is not None and included is not None and cap < included:
            errors["hard_cap_credits"] = (
                f"The hard cap ({cap:g}) is below the included credits "
                f"({included:g}); part of the quota could never be used."
            )
        _raise(errors)


class Workload(PlannerModel):
    """A feature of the product that spends tokens (chat, document Q&A, an agent task...).

    Token distributions are per model call, each given as median and p90 (a lognormal); a
    request makes ``calls_per_request`` calls (null = exactly one). Fractions: prompt-cache
    read and write shares of input tokens, response-cache hit rate (cached answers use quota
    but cost nothing), batch share of requests, distillation (share of input tokens removed).
    """

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="workloads")
    name = models.CharField(max_length=100)
    position = models.PositiveSmallIntegerField(default=0)
    credits_per_request = models.FloatField(
        default=1.0,
        validators=[finite_decimal, MinValueValidator(0.0), MaxValueValidator(MAX_CREDITS)],
        help_text="Quota credits one request consumes (cached or not).",
    )
    input_tokens_median = _tokens_field("Input tokens per call, median.")
    input_tokens_p90 = _tokens_field("Input tokens per call, 90th percentile.")
    output_tokens_median = _tokens_field("Output tokens per call, median.")
    output_tokens_p90 = _tokens_field("Output tokens per call, 90th percentile.")
    reasoning_tokens_median = _tokens_field(
        "Reasoning tokens per call, median (reasoning models).", null=True
    )
    reasoning_tokens_p90 = _tokens_field("Reasoning tokens per call, 90th percentile.", null=True)
    calls_per_request_median = models.FloatField(
        null=True,
        blank=True,
        validators=[finite_decimal, MinValueValidator(1.0), MaxValueValidator(MAX_CALLS_PER_REQUEST)],
        help_text="Model calls per request (agent loops), median; empty = one call.",
    )
    calls_per_request_p90 = models.FloatField(
        null=True,
        blank=True,
        validators=[finite_decimal, MinValueValidator(1.0), MaxValueValidator(MAX_CALLS_PER_REQUEST)],
        help_text="Model calls per request, 90th percentile.",
    )
    prompt_cache_share = _fraction_field("Share of input tokens read from the prompt cache.")
    prompt_cache_write_share = _fraction_field("Share of input tokens written to the prompt cache.")
    response_cache_hit_rate = _fraction_field("Share of requests answered from a response cache.")
    batch_share = _fraction_field("Share of requests sent through the batch API.")
    distillation = _fraction_field("Share of input tokens removed by prompt distillation.")

    class Meta:
        ordering = ["product", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["product", "name"], name="planner_workload_unique_name"),
            _between("workload", "credits_per_request", 0.0, MAX_CREDITS),
            *(
                _between("workload", f"{prefix}_{stat}", 0.0, MAX_TOKENS_PER_CALL)
                for prefix in ("input_tokens", "output_tokens", "reasoning_tokens")
                for stat in ("median", "p90")
            ),
            _between("workload", "calls_per_request_median", 1.0, MAX_CALLS_PER_REQUEST),
            _between("workload", "calls_per_request_p90", 1.0, MAX_CALLS_PER_REQUEST),
            _p90_not_below_median("workload", "input_tokens"),
            _p90_not_below_median("workload", "output_tokens"),
            _p90_not_below_median("workload", "reasoning_tokens"),
            _p90_not_below_median("workload", "calls_per_request"),
            _both_or_neither("workload", "reasoning_tokens_median", "reasoning_tokens_p90"),
            _both_or_neither("workload", "calls_per_request_median", "calls_per_request_p90"),
            *(
                _between("workload", name, 0.0, 1.0)
                for name in (
                    "prompt_cache_share",
                    "prompt_cache_write_share",
                    "response_cache_hit_rate",
                    "batch_share",
                    "distillation",
                )
            ),
            models.CheckConstraint(
                condition=Q(prompt_cache_share__lte=1.0 - F("prompt_cache_write_share")),
                name="planner_workload_prompt_cache_total_lte_1",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product} / {self.name}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        _p90_check(errors, self, "input_tokens", "input tokens")
        _p90_check(errors, self, "output_tokens", "output tokens")
        _p90_check(errors, self, "reasoning_tokens", "reasoning tokens")
        _p90_check(errors, self, "calls_per_request", "calls per request")
        for prefix in ("reasoning_tokens", "calls_per_request"):
            median, p90 = getattr(self, f"{prefix}_median"), getattr(self, f"{prefix}_p90")
            if (median is None) != (p90 is None):
                field = f"{prefix}_p90" if p90 is None else f"{prefix}_median"
                errors[field] = "Give both the median and the p90, or neither."
        read, write = _number(self.prompt_cache_share), _number(self.prompt_cache_write_share)
        if read is not None and write is not None and read + write > 1:
            errors["prompt_cache_write_share"] = (
                "Prompt-cache read and write shares together cannot exceed 1 of the input tokens."
            )
        _raise(errors)


class WorkloadModel(PlannerModel):
    """One model in a workload's model mix: ``share`` of the workload's requests go to it.

    The shares of a workload sum to 1 (checked for the workload as a whole by
    ``planner.services.product`` and the admin formset). ``variant`` names a price variant of
    the model (for example a service tier; "" = the standard price). ``uses_reasoning`` says
    whether the workload's reasoning-token distribution applies to this model.
    """

    workload = models.ForeignKey(Workload, on_delete=models.CASCADE, related_name="model_mix")
    model = models.ForeignKey(AIModel, on_delete=models.PROTECT, related_name="+")
    share = models.FloatField(validators=[finite_decimal, MinValueValidator(0.0), MaxValueValidator(1.0)])
    variant = models.CharField(max_length=100, blank=True, default="")
    uses_reasoning = models.BooleanField(default=False)

    class Meta:
        ordering = ["workload", "-share", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workload", "model", "variant"], name="planner_workloadmodel_unique"
            ),
            _between("workloadmodel", "share", 0.0, 1.0, low_exclusive=True),
        ]

    def __str__(self) -> str:
        return f"{self.workload}: {self.model} ({self.share:.0%})"

    def clean(self) -> None:
        if self.share is not None and self.share == 0:
            raise ValidationError({"share": "A model in the mix needs a share above 0; remove it instead."})


def _usage_parameter(help_text: str, *, limit: float = MAX_REQUESTS_PER_MONTH) -> models.FloatField:
    return models.FloatField(
        null=True,
        blank=True,
        validators=[finite_decimal, MinValueValidator(0.0), MaxValueValidator(limit)],
        help_text=help_text,
    )


#: The numeric parameters of a usage distribution (each used by some kinds only).
USAGE_PARAMETERS = ("median", "p90", "mean", "shape", "scale", "alpha", "upper")


class UsageDistribution(PlannerModel):
    """Each user's *expected* requests per month (latent intensity) for a tier and workload.

    - lognormal: ``median`` and ``p90`` (0 < median <= p90);
    - gamma: ``mean`` and ``shape`` (both > 0);
    - pareto: ``scale`` (minimum, > 0) and ``alpha``; alpha > 2 unless truncated at ``upper``
      (> scale), so the mean and its simulation error stay finite;
    - empirical: ``values``, at least two finite non-negative observed intensities.

    ``overdispersion`` is the shape k of a monthly gamma shock with mean 1 (negative-binomial
    counts); null gives plain Poisson counts.
    """

    class Kind(models.TextChoices):
        LOGNORMAL = "lognormal", "Lognormal (median, p90)"
        GAMMA = "gamma", "Gamma (mean, shape)"
        PARETO = "pareto", "Pareto (scale, alpha, optional upper bound)"
        EMPIRICAL = "empirical", "Empirical (observed values)"

    MAX_EMPIRICAL_VALUES = 100_000

    tier = models.ForeignKey(Tier, on_delete=models.CASCADE, related_name="usage")
    workload = models.ForeignKey(Workload, on_delete=models.CASCADE, related_name="usage")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.LOGNORMAL)
    median = _usage_parameter("Lognormal: median requests per month.")
    p90 = _usage_parameter("Lognormal: 90th percentile of requests per month.")
    mean = _usage_parameter("Gamma: mean requests per month.")
    shape = _usage_parameter("Gamma: shape (smaller = more spread).")
    scale = _usage_parameter("Pareto: scale, the minimum requests per month.")
    alpha = _usage_parameter("Pareto: tail index alpha (> 2 unless truncated).", limit=MAX_ALPHA)
    upper = _usage_parameter("Pareto: optional upper bound (truncation).")
    values = models.JSONField(default=list, blank=True)
    overdispersion = models.FloatField(
        null=True,
        blank=True,
        validators=[finite_decimal, MinValueValidator(1e-6), MaxValueValidator(1e6)],
        help_text="Shape of a monthly gamma shock (smaller = burstier); empty = Poisson counts.",
    )

    class Meta:
        ordering = ["tier", "workload"]
        constraints = [
            models.UniqueConstraint(fields=["tier", "workload"], name="planner_usage_unique_pair"),
            *(
                _between(
                    "usagedistribution", name, 0.0, MAX_ALPHA if name == "alpha" else MAX_REQUESTS_PER_MONTH
                )
                for name in USAGE_PARAMETERS
            ),
            _between("usagedistribution", "overdispersion", 0.0, 1e6, low_exclusive=True),
            models.CheckConstraint(
                condition=Q(kind="lognormal", median__isnull=False, p90__isnull=False, median__gt=0)
                & Q(p90__gte=F("median"))
                | Q(kind="gamma", mean__isnull=False, shape__isnull=False, mean__gt=0, shape__gt=0)
                | Q(kind="pareto", scale__isnull=False, alpha__isnull=False, scale__gt=0)
                & (Q(alpha__gt=2) | Q(alpha__gt=0, upper__isnull=False, upper__gt=F("scale")))
                | Q(kind="empirical"),
                name="planner_usagedistribution_parameters_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tier} x {self.workload.name}: {self.kind}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.tier_id and self.workload_id and self.tier.product_id != self.workload.product_id:
            errors["workload"] = "The workload belongs to another product than the tier."
        kind = self.kind
        if kind == self.Kind.LOGNORMAL:
            self._clean_lognormal(errors)
        elif kind == self.Kind.GAMMA:
            for name in ("mean", "shape"):
                value = _number(getattr(self, name))
                if value is None or value <= 0:
                    errors[name] = f"A gamma distribution needs a {name} above 0."
        elif kind == self.Kind.PARETO:
            self._clean_pareto(errors)
        elif kind == self.Kind.EMPIRICAL:
            self._clean_empirical(errors)
        _raise(errors)

    def _clean_lognormal(self, errors: dict[str, str]) -> None:
        median, p90 = _number(self.median), _number(self.p90)
        if median is None or median <= 0:
            errors["median"] = "A lognormal distribution needs a median above 0."
        if p90 is None:
            errors["p90"] = "A lognormal distribution needs a p90 (90th percentile)."
        elif median is not None and p90 < median:
            errors["p90"] = f"The p90 ({p90:g}) cannot be below the median ({median:g})."

    def _clean_pareto(self, errors: dict[str, str]) -> None:
        scale, alpha, upper = _number(self.scale), _number(self.alpha), _number(self.upper)
        if scale is None or scale <= 0:
            errors["scale"] = "A Pareto distribution needs a scale (minimum) above 0."
        if upper is not None and scale is not None and upper <= scale:
            errors["upper"] = "The upper bound must be above the scale (minimum)."
        if alpha is None or alpha <= 0:
            errors["alpha"] = "A Pareto distribution needs an alpha above 0."
        elif alpha <= 2 and upper is None:
            errors["alpha"] = (
                "With alpha <= 2 an untruncated Pareto has an infinite variance (and for alpha <= 1 an "
                "infinite mean); use alpha > 2 or set an upper bound."
            )

    def _clean_empirical(self, errors: dict[str, str]) -> None:
        values = self.values
        if not isinstance(values, list) or len(values) < 2:
            errors["values"] = "An empirical distribution needs a list of at least 2 observed values."
        elif len(values) > self.MAX_EMPIRICAL_VALUES:
            errors["values"] = f"At most {self.MAX_EMPIRICAL_VALUES:,} values; sample them down."
        elif not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
            for v in values
        ):
            errors["values"] = "Values must be finite numbers of at least 0."


class WorkloadCorrelation(PlannerModel):
    """Usage correlation ``rho`` between two workloads of a product (Gaussian copula).

    Stored once per pair with ``workload_a`` the lower id (``clean()`` orders the pair). Pairs
    without a row use ``Product.default_correlation``; the whole matrix must be positive
    semi-definite (``planner.services.product.correlation_matrix``).
    """

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="correlations")
    workload_a = models.ForeignKey(Workload, on_delete=models.CASCADE, related_name="+")
    workload_b = models.ForeignKey(Workload, on_delete=models.CASCADE, related_name="+")
    rho = models.FloatField(validators=[finite_decimal, MinValueValidator(-1.0), MaxValueValidator(1.0)])

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workload_a", "workload_b"], name="planner_correlation_unique_pair"
            ),
            models.CheckConstraint(
                condition=Q(workload_a__lt=F("workload_b")), name="planner_correlation_ordered_pair"
            ),
            _between("workloadcorrelation", "rho", -1.0, 1.0),
        ]

    def __str__(self) -> str:
        return f"{self.workload_a.name} ~ {self.workload_b.name}: {self.rho:g}"

    def clean(self) -> None:
        if not (self.workload_a_id and self.workload_b_id):
            return
        if self.workload_a_id == self.workload_b_id:
            raise ValidationError({"workload_b": "A workload is always fully correlated with itself."})
        if self.workload_a_id > self.workload_b_id:
            self.workload_a, self.workload_b = self.workload_b, self.workload_a
        for name in ("workload_a", "workload_b"):
            if getattr(self, name).product_id != self.product_id:
                raise ValidationError({name: "The workload belongs to another product."})


class Scenario(PlannerModel):
    """A what-if for a product: horizon, simulation size, market trends and levers.

    ``levers`` is a list of lever objects (see ``planner.validators.levers_validate_structure``)
    whose ``routing_model`` is an AIModel id and ``workloads`` are Workload ids of the product.
    ``price_date`` pins the catalog prices used by runs. ``seed`` is drawn at random when the
    scenario is created and stored so every run can be reproduced.
    """

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="scenarios")
    name = models.CharField(max_length=200)
    horizon_months = models.PositiveSmallIntegerField(
        default=12, validators=[MinValueValidator(1), MaxValueValidator(MAX_HORIZON_MONTHS)]
    )
    simulated_users = models.PositiveIntegerField(
        default=200_000,
        validators=[MinValueValidator(MIN_SIMULATED_USERS), MaxValueValidator(MAX_SIMULATED_USERS)],
    )
    seed = models.BigIntegerField(
        default=new_seed, validators=[MinValueValidator(0), MaxValueValidator(MAX_SEED)]
    )
    levers = models.JSONField(default=list, blank=True, validators=[levers_validate_structure])
    price_trend_yearly = models.FloatField(
        default=-0.30,
        validators=[finite_decimal, MinValueValidator(-0.99), MaxValueValidator(1.0)],
        help_text="Yearly change of token prices (-0.30 = 30 % cheaper each year).",
    )
    usage_growth_monthly = models.FloatField(
        default=0.0,
        validators=[finite_decimal, MinValueValidator(-0.5), MaxValueValidator(1.0)],
        help_text="Monthly growth of each user's usage (0.05 = +5 % a month).",
    )
    discount_rate_yearly = models.FloatField(
        default=0.10,
        validators=[finite_decimal, MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Yearly discount rate for the NPV.",
    )
    target_margin = models.FloatField(
        default=0.5,
        validators=[finite_decimal, MinValueValidator(-1.0), MaxValueValidator(1.0)],
        help_text="Target gross margin as a fraction (0.6 = 60 %).",
    )
    price_date = models.DateField(
        default=timezone.localdate, help_text="Catalog prices in force on this date."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["product", "name"]
        constraints = [
            models.UniqueConstraint(fields=["product", "name"], name="planner_scenario_unique_name"),
            _between("scenario", "horizon_months", 1, MAX_HORIZON_MONTHS),
            _between("scenario", "simulated_users", MIN_SIMULATED_USERS, MAX_SIMULATED_USERS),
            _between("scenario", "seed", 0, MAX_SEED),
            _between("scenario", "price_trend_yearly", -0.99, 1.0),
            _between("scenario", "usage_growth_monthly", -0.5, 1.0),
            _between("scenario", "discount_rate_yearly", 0.0, 1.0),
            _between("scenario", "target_margin", -1.0, 1.0),
        ]

    def __str__(self) -> str:
        return f"{self.product} / {self.name}"

    def clean(self) -> None:
        """Check that the levers reference this product's workloads and existing models."""
        if not isinstance(self.levers, list) or not self.product_id:
            return
        workload_ids = set(self.product.workloads.values_list("id", flat=True))
        model_ids = {
            lever["routing_model"]
            for lever in self.levers
            if isinstance(lever, dict) and type(lever.get("routing_model")) is int
        }
        known_models = set(AIModel.objects.filter(pk__in=model_ids).values_list("pk", flat=True))
        errors: list[str] = []
        for lever in self.levers:
            if not isinstance(lever, dict):
                continue
            where = f"Lever '{lever.get('key')}'"
            unknown = [w for w in lever.get("workloads", []) if w not in workload_ids]
            if unknown:
                errors.append(f"{where}: workload id(s) {unknown} are not workloads of this product.")
            model = lever.get("routing_model")
            if model is not None and model not in known_models:
                errors.append(f"{where}: model id {model} does not exist.")
        if errors:
            raise ValidationError({"levers": errors})


class SimulationRun(PlannerModel):
    """One Monte Carlo run of a scenario, reproducible from its frozen ``snapshot``.

    The snapshot (scenario document, resolved prices, price date) is written once at creation
    and never changes: ``save()`` refuses to alter it. ``organization`` duplicates
    ``scenario.product.organization`` so that tenant scoping is a single indexed filter.
    Progress is ``blocks_done / blocks_total``; ``heartbeat_at`` and ``attempts`` drive the reaper.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED_STATUSES = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED})

    scenario = models.ForeignKey(Scenario, on_delete=models.CASCADE, related_name="runs")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    seed = models.BigIntegerField(validators=[MinValueValidator(0), MaxValueValidator(MAX_SEED)])
    users = models.PositiveIntegerField(
        validators=[MinValueValidator(MIN_SIMULATED_USERS), MaxValueValidator(MAX_SIMULATED_USERS)]
    )
    snapshot = models.JSONField(default=dict, help_text="Frozen inputs; immutable once created.")
    blocks_total = models.PositiveIntegerField(default=0)
    blocks_done = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    chunk_blocks = models.PositiveIntegerField(
        default=1, validators=[MinValueValidator(1)], help_text="Blocks per chunk task."
    )
    merge_enqueued_at = models.DateTimeField(
        null=True, blank=True, help_text="Set once, by the chunk that completed the last block."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    results = models.JSONField(null=True, blank=True)
    package_versions = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "status"], name="planner_run_org_status"),
            models.Index(fields=["scenario", "-created_at"], name="planner_run_scenario_recent"),
            models.Index(fields=["status", "heartbeat_at"], name="planner_run_status_heartbeat"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "succeeded", "failed", "cancelled"]),
                name="planner_run_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(blocks_done__lte=F("blocks_total")), name="planner_run_blocks_done_lte_total"
            ),
            _between("simulationrun", "seed", 0, MAX_SEED),
            _between("simulationrun", "users", MIN_SIMULATED_USERS, MAX_SIMULATED_USERS),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.scenario} ({self.status})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save, refusing any change to a snapshot loaded from the database."""
        loaded = getattr(self, "_loaded_snapshot", None)
        update_fields = kwargs.get("update_fields")
        if (
            loaded is not None
            and not self._state.adding
            and (update_fields is None or "snapshot" in update_fields)
            and _canonical_json(self.snapshot) != loaded
        ):
            raise ValidationError({"snapshot": "A run's snapshot is immutable; start a new run instead."})
        if self.organization_id is None and self.scenario_id is not None:
            self.organization_id = self.scenario.product.organization_id
        super().save(*args, **kwargs)
        self._loaded_snapshot = _canonical_json(self.snapshot)

    @property
    def progress(self) -> float:
        """Share of blocks done, 0..1."""
        return self.blocks_done / self.blocks_total if self.blocks_total else 0.0

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED_STATUSES

    @classmethod
    def from_db(
        cls, db: str | None, field_names: Collection[str], values: Collection[Any], **kwargs: Any
    ) -> SimulationRun:
        instance = super().from_db(db, field_names, values, **kwargs)
        if "snapshot" in field_names:
            instance._loaded_snapshot = _canonical_json(instance.snapshot)
        return instance

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if (
            self.blocks_done is not None
            and self.blocks_total is not None
            and self.blocks_done > self.blocks_total
        ):
            errors["blocks_done"] = (
                f"Only {self.blocks_total} blocks exist; {self.blocks_done} cannot be done."
            )
        if (
            self.scenario_id
            and self.organization_id
            and self.scenario.product.organization_id != self.organization_id
        ):
            errors["organization"] = "The run's organisation must be the scenario's."
        _raise(errors)


def _canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class RunBlock(models.Model):
    """One fixed block of a run's simulated users (see ``planner.engine.BLOCK_SIZE``).

    A chunk task marks its blocks ``running`` (with a heartbeat and an attempt count) and stores
    each finished block's partial aggregates (``aggregate``: the engine's arrays as a compressed
    ``.npz``) with an upsert keyed ``(run, block)``: a redelivered chunk overwrites, never adds.
    """

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    run = models.ForeignKey(SimulationRun, on_delete=models.CASCADE, related_name="blocks")
    block = models.PositiveIntegerField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.RUNNING)
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the last worker.")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    users = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0.0)
    aggregate = models.BinaryField(null=True, blank=True)

    class Meta:
        ordering = ["run", "block"]
        constraints = [
            models.UniqueConstraint(fields=["run", "block"], name="planner_runblock_unique"),
            models.CheckConstraint(
                condition=Q(state__in=["running", "done"]), name="planner_runblock_state_valid"
            ),
        ]
        indexes = [models.Index(fields=["run", "state"], name="planner_runblock_run_state")]

    def __str__(self) -> str:
        return f"Run {self.run_id} block {self.block} ({self.state})"
