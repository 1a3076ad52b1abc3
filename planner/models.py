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
from pricing.custom import private_model_structure
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

    Exactly one price source is set: a catalog ``model`` (the organisation's negotiated discounts
    in force on the price date apply to it automatically), a ``price_sheet_entry`` naming a
    private model, or a ``self_hosted`` deployment. Only catalog models have price variants.
    """

    workload = models.ForeignKey(Workload, on_delete=models.CASCADE, related_name="model_mix")
    model = models.ForeignKey(AIModel, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    price_sheet_entry = models.ForeignKey(
        "planner.PriceSheetEntry",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="A private model of one of the organisation's price sheets.",
    )
    self_hosted = models.ForeignKey(
        "planner.SelfHostedDeployment", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    share = models.FloatField(validators=[finite_decimal, MinValueValidator(0.0), MaxValueValidator(1.0)])
    variant = models.CharField(max_length=100, blank=True, default="")
    uses_reasoning = models.BooleanField(default=False)

    class Meta:
        ordering = ["workload", "-share", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workload", "model", "variant"], name="planner_workloadmodel_unique"
            ),
            models.UniqueConstraint(
                fields=["workload", "price_sheet_entry"],
                condition=Q(price_sheet_entry__isnull=False),
                name="planner_workloadmodel_unique_private",
            ),
            models.UniqueConstraint(
                fields=["workload", "self_hosted"],
                condition=Q(self_hosted__isnull=False),
                name="planner_workloadmodel_unique_self_hosted",
            ),
            _between("workloadmodel", "share", 0.0, 1.0, low_exclusive=True),
            models.CheckConstraint(
                condition=Q(model__isnull=False, price_sheet_entry__isnull=True, self_hosted__isnull=True)
                | Q(model__isnull=True, price_sheet_entry__isnull=False, self_hosted__isnull=True, variant="")
                | Q(
                    model__isnull=True, price_sheet_entry__isnull=True, self_hosted__isnull=False, variant=""
                ),
                name="planner_workloadmodel_exactly_one_source",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.workload}: {self.source} ({self.share:.0%})"

    @property
    def source(self) -> AIModel | PriceSheetEntry | SelfHostedDeployment | None:
        """The price source: the catalog model, the private model's sheet entry or the deployment."""
        return self.model or self.price_sheet_entry or self.self_hosted

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.share is not None and self.share == 0:
            errors["share"] = "A model in the mix needs a share above 0; remove it instead."
        sources = [
            name
            for name in ("model", "price_sheet_entry", "self_hosted")
            if getattr(self, f"{name}_id") is not None
        ]
        if len(sources) != 1:
            errors["model"] = (
                "Choose exactly one of a catalog model, a private model or a self-hosted deployment."
            )
        elif sources != ["model"] and self.variant:
            errors["variant"] = "Only catalog models have price variants."
        organization_id = self._workload_organization_id()
        entry = self.price_sheet_entry if self.price_sheet_entry_id else None
        if entry is not None:
            if entry.kind != PriceSheetEntry.Kind.PRIVATE:
                errors["price_sheet_entry"] = (
                    "Choose a private model; discounts apply to catalog models by themselves."
                )
            elif organization_id is not None and entry.sheet.organization_id != organization_id:
                errors["price_sheet_entry"] = "This private model belongs to another organisation."
        deployment = self.self_hosted if self.self_hosted_id else None
        if (
            deployment is not None
            and organization_id is not None
            and deployment.organization_id != organization_id
        ):
            errors["self_hosted"] = "This deployment belongs to another organisation."
        _raise(errors)

    def _workload_organization_id(self) -> int | None:
        # The workload may be unsaved (workload_create validates the mix before saving it).
        workload = self.workload if self.workload_id or "workload" in self._state.fields_cache else None
        return workload.product.organization_id if workload is not None and workload.product_id else None


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
    scenario is created and stored so every run can be reproduced. ``organization`` duplicates
    ``product.organization`` (set on save; a scenario never changes product) so that tenant
    scoping and the API's scenario list are one indexed filter on one table, as for runs.
    """

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="scenarios")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", editable=False, blank=True
    )
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
        indexes = [models.Index(fields=["organization", "name", "id"], name="planner_scenario_org_name")]
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

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.organization_id is None and self.product_id is not None:
            self.organization_id = self.product.organization_id
        super().save(*args, **kwargs)

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


# --- API keys -------------------------------------------------------------------------------


class ApiKey(PlannerModel):
    """A machine credential of one organisation for the REST API.

    The key a client sends is ``prefix + secret`` (see ``planner.services.api_keys``). Only the
    ``prefix`` (its first 8 characters, shown in lists to tell keys apart) and the SHA-256 of the
    whole key are stored: the plain key is shown once, at creation. A fast hash is right here
    because the key is 256 bits of randomness, not a password: there is nothing to brute-force.
    ``scopes`` is a subset of ``SCOPES``; a revoked key (``revoked_at`` set) never authenticates.
    """

    SCOPE_READ = "read"
    SCOPE_WRITE = "write"
    SCOPE_INGEST = "ingest"
    SCOPES = (SCOPE_READ, SCOPE_WRITE, SCOPE_INGEST)
    PREFIX_LENGTH = 8

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=PREFIX_LENGTH, db_index=True)
    hashed_key = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the full key, hex.")
    scopes = models.JSONField(default=list, help_text='Subset of ["read", "write", "ingest"].')
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["organization", "-created_at", "-id"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def clean(self) -> None:
        scopes = self.scopes
        if (
            not isinstance(scopes, list)
            or not scopes
            or not all(isinstance(s, str) and s in self.SCOPES for s in scopes)
        ):
            raise ValidationError({"scopes": f"Choose one or more of {', '.join(self.SCOPES)}."})
        if len(set(scopes)) != len(scopes):
            raise ValidationError({"scopes": "Each scope may be given once."})


# --- Actual usage (issue 5): customers, tier periods, usage records, customer-month rollup -----

#: Largest token count one usage record may carry (10 billion): far above any real request or
#: daily aggregate, small enough that costs fit their column and floats stay exact integers.
MAX_RECORD_TOKENS = 10**10
#: Largest request count one usage record may carry.
MAX_RECORD_REQUESTS = 10**9
MAX_RECORD_CREDITS = Decimal("999999999999.999999")  # max_digits=18, decimal_places=6
MAX_RECORD_COST = Decimal("9999999999.9999999999")  # max_digits=20, decimal_places=10
USAGE_TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)


class Customer(PlannerModel):
    """A customer of an organisation's product, known by the billing system's ``external_id``.

    Created by ``planner.services.usage`` on the first usage record that names it, with the tier
    that record gives; its tier history is ``tier_periods``.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="customers")
    external_id = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization", "external_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "external_id"], name="planner_customer_unique_external_id"
            ),
        ]

    def __str__(self) -> str:
        return self.external_id


class CustomerTierPeriod(PlannerModel):
    """The customer is on ``tier`` from ``effective_from`` (a date in the organisation's time
    zone) until the next period of the same customer starts. Revenue is prorated by day."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="tier_periods")
    tier = models.ForeignKey(Tier, on_delete=models.PROTECT, related_name="customer_periods")
    effective_from = models.DateField()

    class Meta:
        ordering = ["customer", "effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "effective_from"], name="planner_customertierperiod_unique_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer} on {self.tier} from {self.effective_from}"


class UsageRecord(models.Model):
    """One usage event pushed by a billing system, priced at ingest.

    ``(organization, event_id)`` is unique: the client's id makes ingestion idempotent, and
    ``payload_hash`` (of the normalised record) tells a retried duplicate from a conflicting
    reuse of the id. Token counts follow genai-prices' convention: ``input_tokens`` is the total
    input *including* ``cached_tokens`` (cache reads) and ``cache_write_tokens``;
    ``output_tokens`` *includes* ``reasoning_tokens``. With ``requests`` > 1 the counts are
    totals over that many equal requests. ``cost`` is priced with ``price`` (the row in force at
    ``timestamp``) at ``priced_at``; ``period`` is the first day of the timestamp's month in the
    organisation's time zone. Written only by ``planner.services.usage`` (bulk paths that bypass
    ``full_clean``), so the database constraints are the backstop.

    Foreign keys without their own index are covered by a composite index (organization,
    customer, model) or are never used to look records up (workload, price: rows of those tables
    are not deleted in practice; deleting one scans the records).
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="usage_records", db_index=False
    )
    event_id = models.CharField(max_length=255)
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="usage_records", db_index=False
    )
    timestamp = models.DateTimeField()
    period = models.DateField(help_text="First day of the timestamp's month, organisation time zone.")
    workload = models.ForeignKey(
        Workload, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    model = models.ForeignKey(AIModel, on_delete=models.PROTECT, related_name="+", db_index=False)
    price = models.ForeignKey(
        "pricing.ModelPrice", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cached_tokens = models.PositiveBigIntegerField(default=0)
    cache_write_tokens = models.PositiveBigIntegerField(default=0)
    reasoning_tokens = models.PositiveBigIntegerField(default=0)
    requests = models.PositiveIntegerField(default=1)
    credits = models.DecimalField(max_digits=18, decimal_places=6, default=Decimal(0))
    cost = models.DecimalField(max_digits=20, decimal_places=10)
    payload_hash = models.CharField(max_length=32)
    priced_at = models.DateTimeField()
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "event_id"], name="planner_usagerecord_unique_event"
            ),
            *(_between("usagerecord", name, 0, MAX_RECORD_TOKENS) for name in USAGE_TOKEN_FIELDS),
            _between("usagerecord", "requests", 1, MAX_RECORD_REQUESTS),
            _between("usagerecord", "credits", 0, MAX_RECORD_CREDITS),
            _between("usagerecord", "cost", 0, MAX_RECORD_COST),
            models.CheckConstraint(
                condition=Q(cached_tokens__lte=F("input_tokens") - F("cache_write_tokens")),
                name="planner_usagerecord_cache_within_input",
            ),
            models.CheckConstraint(
                condition=Q(reasoning_tokens__lte=F("output_tokens")),
                name="planner_usagerecord_reasoning_within_output",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "period"], name="planner_usage_customer_period"),
            models.Index(fields=["model", "timestamp"], name="planner_usage_model_time"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} ({self.customer_id}, {self.timestamp:%Y-%m-%d})"


class CustomerMonth(models.Model):
    """Rollup of a customer's usage records for one ``period`` (first day of a month in the
    organisation's time zone). Maintained in the ingest transaction by ``F``-style increments for
    newly inserted records only, and recomputed from the records after a reprice."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    # Indexed by the unique (customer, period) constraint.
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="months", db_index=False)
    period = models.DateField()
    records = models.PositiveBigIntegerField(default=0)
    requests = models.PositiveBigIntegerField(default=0)
    credits = models.DecimalField(max_digits=24, decimal_places=6, default=Decimal(0))
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cached_tokens = models.PositiveBigIntegerField(default=0)
    cache_write_tokens = models.PositiveBigIntegerField(default=0)
    reasoning_tokens = models.PositiveBigIntegerField(default=0)
    cost = models.DecimalField(max_digits=26, decimal_places=10, default=Decimal(0))

    class Meta:
        ordering = ["period", "customer"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "period"], name="planner_customermonth_unique"),
        ]
        indexes = [models.Index(fields=["organization", "period"], name="planner_custmonth_org_period")]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.period:%Y-%m}"


# --- Custom prices (issue 3): price sheets and self-hosted deployments ----------------------

MAX_MTOK_PRICE = Decimal("9999999999.9999999999")  # max_digits=20, decimal_places=10, as the catalog
MAX_TOKENS_PER_SECOND = 1e9
MAX_GPUS_PER_REPLICA = 4096
MAX_THROUGHPUT_MULTIPLIER = 100.0


def _above_zero(value: object) -> None:
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool) and value <= 0:
        raise ValidationError("Enter a number above 0.", code="not_positive")


def _mtok_field(help_text: str, *, null: bool = True) -> models.DecimalField:
    return models.DecimalField(
        max_digits=20,
        decimal_places=10,
        null=null,
        blank=null,
        validators=[finite_decimal, MinValueValidator(Decimal(0)), MaxValueValidator(MAX_MTOK_PRICE)],
        help_text=help_text,
    )


class PriceSheet(PlannerModel):
    """An organisation's custom prices over a period: negotiated discounts and private models.

    The sheet applies from ``effective_from`` through ``effective_to`` (both inclusive, whole
    days; an empty ``effective_to`` is open-ended). Two sheets of one organisation may overlap in
    time, but never for the same provider/model or private model (checked by
    ``planner.services.price_sheets``), so the price of a model on a date is never ambiguous.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="price_sheets")
    name = models.CharField(max_length=200)
    effective_from = models.DateField(help_text="First day the sheet applies.")
    effective_to = models.DateField(
        null=True, blank=True, help_text="Last day the sheet applies (inclusive); empty = open-ended."
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization", "-effective_from", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="planner_pricesheet_unique_name"),
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_to__gte=F("effective_from")),
                name="planner_pricesheet_period_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.effective_from and self.effective_to and self.effective_to < self.effective_from:
            raise ValidationError(
                {"effective_to": "The last day cannot be before the first day (effective from)."}
            )


class PriceSheetEntry(PlannerModel):
    """One line of a price sheet.

    - ``discount``: a negotiated discount (a fraction: 0.2 is 20 % off) on every price key of the
      catalog price of ``provider`` (all its models) or of one ``model`` of it. A model's own entry
      wins over its provider's.
    - ``private``: a model only this organisation can buy, known by ``slug``, priced per million
      tokens (input and output required; cache reads/writes default to the input rate and
      reasoning to the output rate, as in genai-prices). ``structure`` is its genai-prices price.
    """

    class Kind(models.TextChoices):
        DISCOUNT = "discount", "Negotiated discount on a catalog provider or model"
        PRIVATE = "private", "Private model"

    sheet = models.ForeignKey(PriceSheet, on_delete=models.CASCADE, related_name="entries")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    provider = models.ForeignKey(
        "pricing.Provider", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    model = models.ForeignKey(AIModel, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    discount = models.DecimalField(
        max_digits=7,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[
            finite_decimal,
            MinValueValidator(Decimal(0)),
            MaxValueValidator(Decimal(1), message="Enter the discount as a fraction: 0.2 for 20 %%."),
        ],
        help_text="Fraction off every list price (0.2 = 20 % off).",
    )
    slug = models.SlugField(max_length=100, blank=True, help_text="Private model id, unique per sheet.")
    name = models.CharField(max_length=200, blank=True)
    input_mtok = _mtok_field("Private model: price per million input tokens.")
    output_mtok = _mtok_field("Private model: price per million output tokens.")
    cache_read_mtok = _mtok_field("Private model: per million cached input tokens; empty = input price.")
    cache_write_mtok = _mtok_field("Private model: per million cache-write tokens; empty = input price.")
    reasoning_mtok = _mtok_field("Private model: per million reasoning tokens; empty = output price.")

    class Meta:
        ordering = ["sheet", "kind", "slug", "id"]
        verbose_name_plural = "price sheet entries"
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    kind="discount",
                    provider__isnull=False,
                    discount__isnull=False,
                    slug="",
                    input_mtok__isnull=True,
                    output_mtok__isnull=True,
                    cache_read_mtok__isnull=True,
                    cache_write_mtok__isnull=True,
                    reasoning_mtok__isnull=True,
                )
                | Q(
                    kind="private",
                    provider__isnull=True,
                    model__isnull=True,
                    discount__isnull=True,
                    input_mtok__isnull=False,
                    output_mtok__isnull=False,
                )
                & ~Q(slug=""),
                name="planner_pricesheetentry_kind_fields",
            ),
            _between("pricesheetentry", "discount", 0, 1),
            *(
                _between("pricesheetentry", name, 0, MAX_MTOK_PRICE)
                for name in (
                    "input_mtok",
                    "output_mtok",
                    "cache_read_mtok",
                    "cache_write_mtok",
                    "reasoning_mtok",
                )
            ),
            models.UniqueConstraint(
                fields=["sheet", "provider"],
                condition=Q(kind="discount", model__isnull=True),
                name="planner_pricesheetentry_unique_provider",
            ),
            models.UniqueConstraint(
                fields=["sheet", "model"],
                condition=Q(model__isnull=False),
                name="planner_pricesheetentry_unique_model",
            ),
            models.UniqueConstraint(
                fields=["sheet", "slug"],
                condition=Q(kind="private"),
                name="planner_pricesheetentry_unique_slug",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sheet}: {self.target_label}"

    @property
    def target_label(self) -> str:
        """What the entry prices: ``provider``, ``provider/model`` or ``private/slug``."""
        if self.kind == self.Kind.PRIVATE:
            return f"private/{self.slug}"
        if self.model_id is not None:
            return str(self.model)
        provider = self.provider if self.provider_id else None
        return f"{provider.slug if provider is not None else '?'} (all models)"

    @property
    def structure(self) -> dict[str, str]:
        """A private model's genai-prices price structure (``PriceSchedule.from_structure`` reads it)."""
        if self.kind != self.Kind.PRIVATE or self.input_mtok is None or self.output_mtok is None:
            raise ValueError(f"{self} is not a private model with input and output prices.")
        return private_model_structure(
            input_mtok=self.input_mtok,
            output_mtok=self.output_mtok,
            cache_read_mtok=self.cache_read_mtok,
            cache_write_mtok=self.cache_write_mtok,
            reasoning_mtok=self.reasoning_mtok,
        )

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.kind == self.Kind.DISCOUNT:
            if not self.provider_id:
                errors["provider"] = "A discount needs the catalog provider it applies to."
            if self.discount is None:
                errors["discount"] = "Enter the discount as a fraction between 0 and 1 (0.2 = 20 % off)."
            model = self.model if self.model_id else None
            provider = self.provider if self.provider_id else None
            if model is not None and provider is not None and model.provider_id != provider.pk:
                errors["model"] = f"{model} is not a model of provider {provider.slug}."
            for name in (
                "slug",
                "input_mtok",
                "output_mtok",
                "cache_read_mtok",
                "cache_write_mtok",
                "reasoning_mtok",
            ):
                if getattr(self, name) not in (None, ""):
                    errors[name] = "Only private models have this field; leave it empty for a discount."
        elif self.kind == self.Kind.PRIVATE:
            if not self.slug:
                errors["slug"] = "A private model needs a slug (its id, e.g. acme-llm-large)."
            for name in ("input_mtok", "output_mtok"):
                if getattr(self, name) is None:
                    errors[name] = "A private model needs input and output prices per million tokens."
            for name in ("provider", "model", "discount"):
                if getattr(self, f"{name}_id" if name != "discount" else name) is not None:
                    errors[name] = "Only discounts have this field; leave it empty for a private model."
        _raise(errors)


class SelfHostedDeployment(PlannerModel):
    """A model the organisation serves on its own GPUs; priced per million tokens by
    ``pricing.selfhosted`` from the cost of a replica and its throughput at the target utilisation.

    ``quantization`` is informational; ``throughput_multiplier`` scales the throughputs (for
    example when they were measured at another quantization; 1 = use them as measured).
    """

    class Quantization(models.TextChoices):
        FP32 = "fp32", "FP32"
        BF16 = "bf16", "BF16"
        FP16 = "fp16", "FP16"
        FP8 = "fp8", "FP8"
        INT8 = "int8", "INT8"
        INT4 = "int4", "INT4"
        OTHER = "other", "Other"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="self_hosted_deployments"
    )
    name = models.CharField(max_length=200)
    base_model = models.CharField(max_length=200, blank=True, help_text="e.g. Llama 3.1 70B Instruct.")
    gpu_type = models.CharField(max_length=100, blank=True, help_text="e.g. H100 80GB.")
    gpu_hourly_cost = _money_field("Cost of one GPU per hour.")
    gpus_per_replica = models.PositiveIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(MAX_GPUS_PER_REPLICA)]
    )
    input_tokens_per_second = models.FloatField(
        validators=[finite_decimal, _above_zero, MaxValueValidator(MAX_TOKENS_PER_SECOND)],
        help_text="Input (prefill) tokens per second one replica processes at full load.",
    )
    output_tokens_per_second = models.FloatField(
        validators=[finite_decimal, _above_zero, MaxValueValidator(MAX_TOKENS_PER_SECOND)],
        help_text="Output (decode) tokens per second one replica generates at full load.",
    )
    target_utilization = models.FloatField(
        default=0.6,
        validators=[finite_decimal, _above_zero, MaxValueValidator(1.0)],
        help_text="Share of paid GPU hours that serve traffic, in (0, 1].",
    )
    quantization = models.CharField(max_length=10, choices=Quantization.choices, default=Quantization.FP16)
    throughput_multiplier = models.FloatField(
        default=1.0,
        validators=[finite_decimal, _above_zero, MaxValueValidator(MAX_THROUGHPUT_MULTIPLIER)],
        help_text="Multiplies both throughputs (1 = as measured).",
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="planner_selfhosteddeployment_unique_name"
            ),
            _between("selfhosteddeployment", "gpu_hourly_cost", 0, MAX_FEE),
            _between("selfhosteddeployment", "gpus_per_replica", 1, MAX_GPUS_PER_REPLICA),
            _between(
                "selfhosteddeployment",
                "input_tokens_per_second",
                0.0,
                MAX_TOKENS_PER_SECOND,
                low_exclusive=True,
            ),
            _between(
                "selfhosteddeployment",
                "output_tokens_per_second",
                0.0,
                MAX_TOKENS_PER_SECOND,
                low_exclusive=True,
            ),
            _between("selfhosteddeployment", "target_utilization", 0.0, 1.0, low_exclusive=True),
            _between(
                "selfhosteddeployment",
                "throughput_multiplier",
                0.0,
                MAX_THROUGHPUT_MULTIPLIER,
                low_exclusive=True,
            ),
            models.CheckConstraint(
                condition=Q(quantization__in=["fp32", "bf16", "fp16", "fp8", "int8", "int4", "other"]),
                name="planner_selfhosteddeployment_quantization_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def mix_key(self) -> str:
        """The model key in snapshots and results."""
        return f"self-hosted/{self.name}"


# --- Alerts (issue 7): alert rules and the mail outbox (docs/ALERTS.md) -------------------------

#: Largest absolute alert threshold (percentages and money alike).
MAX_ALERT_THRESHOLD = Decimal("999999999999.9999")  # max_digits=16, decimal_places=4
MAX_ALERT_RECIPIENTS = 50


class AlertRule(PlannerModel):
    """A margin alert of one organisation: measure ``metric`` over ``scope`` on the rule's
    schedule and mail ``recipients`` when ``<metric> <comparator> <threshold>`` holds.

    ``crontab`` (a django-celery-beat ``CrontabSchedule`` in the organisation's time zone, owned
    by the rule and editable in the admin) says when the rule is due; ``schedule`` names the
    preset it was made from and sets the window key (a day, an ISO week, a month, or the cron
    tick; see ``planner.services.alerts``). ``last_tick_at`` is the schedule tick last evaluated:
    the sweep evaluates a rule when a later tick has passed. Percentages are in percent (40 =
    40 %), money in the organisation's currency.
    """

    class Scope(models.TextChoices):
        ACTUAL = "actual", "Actual usage, current period"
        SCENARIO = "scenario", "A scenario's latest run"

    class Metric(models.TextChoices):
        GROSS_MARGIN_PCT = "gross_margin_pct", "Gross margin %"
        UNDERWATER_SHARE = "underwater_share", "Share of underwater users/customers %"
        UNDERWATER_LOSS = "underwater_loss", "Monthly loss from underwater users"
        CUSTOMER_MARGIN = "customer_margin", "Lowest single customer's margin"
        COGS_P95 = "cogs_p95", "COGS per user p95"

    class Comparator(models.TextChoices):
        LT = "lt", "<"
        LTE = "lte", "<="
        GT = "gt", ">"
        GTE = "gte", ">="

    class Schedule(models.TextChoices):
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"
        MONTHLY = "monthly", "Monthly"
        CRON = "cron", "Cron"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="alert_rules")
    name = models.CharField(max_length=200)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.ACTUAL)
    scenario = models.ForeignKey(
        Scenario, on_delete=models.CASCADE, null=True, blank=True, related_name="alert_rules"
    )
    metric = models.CharField(max_length=20, choices=Metric.choices)
    tier = models.ForeignKey(
        Tier,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="alert_rules",
        help_text="Only this tier; all paying tiers when empty.",
    )
    comparator = models.CharField(max_length=3, choices=Comparator.choices, default=Comparator.LT)
    threshold = models.DecimalField(
        max_digits=16,
        decimal_places=4,
        validators=[
            finite_decimal,
            MinValueValidator(-MAX_ALERT_THRESHOLD),
            MaxValueValidator(MAX_ALERT_THRESHOLD),
        ],
        help_text="Percent for % metrics (40 = 40 %), money otherwise.",
    )
    schedule = models.CharField(max_length=10, choices=Schedule.choices, default=Schedule.DAILY)
    crontab = models.ForeignKey(
        "django_celery_beat.CrontabSchedule",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="When the rule is due (organisation time zone); editable in the admin.",
    )
    recipients = models.JSONField(default=list, help_text="Email addresses.")
    digest = models.BooleanField(
        default=False, help_text="Put this rule's breaches into one mail per window and recipient."
    )
    enabled = models.BooleanField(default=True)
    last_tick_at = models.DateTimeField(null=True, blank=True, help_text="Schedule tick last evaluated.")
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    last_measurement = models.JSONField(null=True, blank=True, help_text="What was measured last time.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="planner_alertrule_unique_name"),
            models.CheckConstraint(
                condition=Q(scope="actual", scenario__isnull=True)
                | Q(scope="scenario", scenario__isnull=False),
                name="planner_alertrule_scope_scenario",
            ),
            models.CheckConstraint(
                condition=Q(
                    metric__in=[
                        "gross_margin_pct",
                        "underwater_share",
                        "underwater_loss",
                        "customer_margin",
                        "cogs_p95",
                    ]
                ),
                name="planner_alertrule_metric_valid",
            ),
            models.CheckConstraint(
                condition=Q(comparator__in=["lt", "lte", "gt", "gte"]),
                name="planner_alertrule_comparator_valid",
            ),
            models.CheckConstraint(
                condition=Q(schedule__in=["daily", "weekly", "monthly", "cron"]),
                name="planner_alertrule_schedule_valid",
            ),
            _between("alertrule", "threshold", -MAX_ALERT_THRESHOLD, MAX_ALERT_THRESHOLD),
        ]
        indexes = [models.Index(fields=["enabled", "organization"], name="planner_alertrule_enabled")]

    def __str__(self) -> str:
        return self.name


class AlertOutbox(models.Model):
    """One mail to one recipient, written before anything is sent.

    Kinds: ``alert`` (one rule's breach), ``digest`` (every digest rule's breach of a window, for
    one recipient; ``rule`` is empty) and ``test`` (the "send a test alert now" action). Unique
    keys: (rule, window, recipient) for rule rows, (organization, window, recipient) for digests;
    rows are inserted with ON CONFLICT DO NOTHING, so repeated evaluations of a window never add
    a second mail. ``rules`` lists the rules whose figures the mail carries. ``message_id`` is
    generated once, when the row is written, and sent as the Message-ID of every attempt.
    """

    class Kind(models.TextChoices):
        ALERT = "alert", "Alert"
        DIGEST = "digest", "Digest"
        TEST = "test", "Test"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        RETRYING = "retrying", "Retrying"
        FAILED = "failed", "Failed"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="alert_outbox")
    rule = models.ForeignKey(
        AlertRule, on_delete=models.CASCADE, null=True, blank=True, related_name="outbox"
    )
    rules = models.ManyToManyField(AlertRule, blank=True, related_name="mails")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ALERT)
    window = models.CharField(max_length=40, help_text="Schedule window, organisation time zone.")
    recipient = models.EmailField(max_length=254)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    message_id = models.CharField(max_length=255, unique=True)
    subject = models.CharField(max_length=255)
    text = models.TextField()
    html = models.TextField()
    measured = models.JSONField(default=dict, help_text="The figures the mail reports.")
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "alert outbox row"
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "window", "recipient"],
                condition=Q(rule__isnull=False),
                name="planner_alertoutbox_unique_rule_window_recipient",
            ),
            models.UniqueConstraint(
                fields=["organization", "window", "recipient"],
                condition=Q(rule__isnull=True),
                name="planner_alertoutbox_unique_digest",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "sent", "retrying", "failed"]),
                name="planner_alertoutbox_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["alert", "digest", "test"]), name="planner_alertoutbox_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(kind="digest", rule__isnull=True) | (~Q(kind="digest") & Q(rule__isnull=False)),
                name="planner_alertoutbox_digest_without_rule",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="planner_alertoutbox_due"),
            models.Index(fields=["organization", "-created_at"], name="planner_alertoutbox_org_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} -> {self.recipient} ({self.status})"
