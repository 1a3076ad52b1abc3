"""Products and what they are made of: tiers, workloads (token profiles, model mix, calls),
usage distributions per tier and workload, and workload correlations.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q

from planner.accounts.models import Organization
from planner.core.models import (
    MAX_ALPHA,
    MAX_CALLS_PER_REQUEST,
    MAX_CREDIT_PRICE,
    MAX_CREDITS,
    MAX_FEE,
    MAX_REQUESTS_PER_MONTH,
    MAX_TOKENS_PER_CALL,
    PlannerModel,
    TimestampedModel,
    between_constraint,
    both_or_neither_constraint,
    credits_field,
    decimal_field,
    exact_fraction_field,
    finite_number,
    float_field,
    fraction_field,
    money_field,
    p90_check,
    p90_constraint,
    raise_errors,
    tokens_field,
    unique_constraint,
)
from planner.prices.models import PriceSheetEntry, SelfHostedDeployment
from pricing.models import AIModel


class Product(TimestampedModel):
    """An AI product an organisation sells; owns tiers, workloads and scenarios."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="products")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    default_correlation = float_field(
        "Usage correlation between workloads for pairs without their own value "
        "(heavy users tend to be heavy everywhere).",
        low=-1.0,
        high=1.0,
        default=0.8,
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            unique_constraint("product", ["organization", "name"], "name"),
            between_constraint("product", "default_correlation", -1.0, 1.0),
        ]

    def __str__(self) -> str:
        return self.name


class ProductPart(PlannerModel):
    """What tiers and workloads share as parts of a product: they are listed in ``position``
    order and a name is used once per product.

    Each declares its own ``product``, ``name`` and ``position`` fields: their reverse relations
    and help texts differ (the migrations record both), and declaring them here would move them
    ahead of ``product`` in the admin's forms.
    """

    class Meta:
        abstract = True
        ordering = ["product", "position", "id"]
        # "%(class)s" becomes the model's name: planner_tier_unique_name, planner_workload_unique_name.
        constraints = [unique_constraint("%(class)s", ["product", "name"], "name")]


class Tier(ProductPart):
    """A subscription tier of a product, in its live plan or in one scenario's plan.

    ``scenario`` empty: a **live tier**, the plan real customers are on (ingestion, customers'
    tier history and actual margins name live tiers only). Otherwise the tier belongs to that
    scenario's plan, and ``live_tier`` names the live tier it stands for (empty for a tier the
    scenario adds). Names are unique among a product's live tiers and within a scenario; a live
    tier has at most one stand-in per scenario. ``scenario`` is a lazy reference: scenarios live in
    ``planner.simulation``, a layer above this one.

    Billing is a flat monthly fee, or a per-seat fee times seats, optionally sold as an annual
    price (stored as the yearly amount). ``included_credits`` null means unlimited;
    ``overage_price_per_credit`` null means no overage: use beyond the included credits is then
    blocked (the quota acts as a hard cap). ``hard_cap_credits`` stops serving requests once a
    month's credits reach it. ``payment_fee_pct`` is a fraction of revenue (0.029 = 2.9 %).
    ``churn_monthly`` is the share of subscribers leaving each month.
    """

    # ``all_tiers``: live and scenario tiers alike; read a plan with ``live_tiers(product)`` or
    # ``scenario_tiers(scenario)`` (planner.products.selectors).
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="all_tiers")
    scenario = models.ForeignKey(
        "planner.Scenario",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="tiers",
        help_text="The scenario whose plan this tier belongs to; empty = the live plan.",
    )
    live_tier = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="scenario_tiers",
        help_text="The live tier this scenario tier stands for; empty for a tier the scenario adds.",
    )
    name = models.CharField(max_length=100)
    position = models.PositiveSmallIntegerField(default=0, help_text="Display order within the product.")
    monthly_fee = money_field("Flat monthly fee per subscriber (0 for a free tier).", default=Decimal(0))
    seat_fee = money_field("Monthly fee per seat (instead of a flat fee).", null=True)
    seats = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Seats per subscriber."
    )
    annual_price = money_field("Yearly price when sold annually; counts as 1/12 per month.", null=True)
    included_credits = credits_field("Credits included per month; empty = unlimited.")
    overage_price_per_credit = decimal_field(
        "Price of each credit beyond the included ones; empty = no overage.",
        max_digits=12,
        decimal_places=6,
        high=MAX_CREDIT_PRICE,
        null=True,
    )
    hard_cap_credits = credits_field("Credits per month after which requests are refused; empty = no cap.")
    payment_fee_pct = exact_fraction_field(
        "Payment processing fee as a fraction of revenue (0.029 = 2.9 %).",
        high_message="Enter the fee as a fraction: 0.029 for 2.9 %%.",
        default=Decimal(0),
    )
    payment_fee_fixed = money_field("Fixed payment fee per subscriber and month.", default=Decimal(0))
    subscribers = models.PositiveIntegerField(default=0)
    churn_monthly = fraction_field("Share of subscribers leaving each month (0..1).")

    class Meta(ProductPart.Meta):
        constraints = [
            unique_constraint("tier", ["product", "name"], "live_name", condition=Q(scenario__isnull=True)),
            unique_constraint(
                "tier", ["scenario", "name"], "scenario_name", condition=Q(scenario__isnull=False)
            ),
            unique_constraint(
                "tier", ["scenario", "live_tier"], "live_tier", condition=Q(live_tier__isnull=False)
            ),
            models.CheckConstraint(
                condition=Q(live_tier__isnull=True) | Q(scenario__isnull=False),
                name="planner_tier_live_tier_only_in_scenario",
            ),
            between_constraint("tier", "monthly_fee", 0, MAX_FEE),
            between_constraint("tier", "seat_fee", 0, MAX_FEE),
            between_constraint("tier", "seats", 1, 2**31 - 1),
            both_or_neither_constraint("tier", "seat_fee", "seats"),
            between_constraint("tier", "annual_price", 0, MAX_FEE),
            between_constraint("tier", "included_credits", 0.0, MAX_CREDITS),
            between_constraint("tier", "overage_price_per_credit", 0, MAX_CREDIT_PRICE),
            between_constraint("tier", "hard_cap_credits", 0.0, MAX_CREDITS),
            between_constraint("tier", "payment_fee_pct", 0, 1),
            between_constraint("tier", "payment_fee_fixed", 0, MAX_FEE),
            between_constraint("tier", "subscribers", 0, 2**31 - 1),
            between_constraint("tier", "churn_monthly", 0.0, 1.0),
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

    @property
    def is_live(self) -> bool:
        """Whether this tier is in the live plan (not in a scenario's)."""
        return self.scenario_id is None

    def clean(self) -> None:
        errors: dict[str, str] = {}
        self._clean_plan(errors)
        if (self.seat_fee is None) != (self.seats is None):
            missing = "seats" if self.seats is None else "seat_fee"
            errors[missing] = "A per-seat price needs both a seat fee and a number of seats."
        if self.seat_fee is not None and finite_number(self.monthly_fee) not in (None, 0.0):
            errors["seat_fee"] = "Set either a flat monthly fee or a per-seat fee, not both."
        if self.overage_price_per_credit is not None and self.included_credits is None:
            errors["overage_price_per_credit"] = (
                "Overage needs included credits; an unlimited tier has nothing to exceed."
            )
        cap, included = finite_number(self.hard_cap_credits), finite_number(self.included_credits)
        if cap is not None and included is not None and cap < included:
            errors["hard_cap_credits"] = (
                f"The hard cap ({cap:g}) is below the included credits "
                f"({included:g}); part of the quota could never be used."
            )
        raise_errors(errors)

    def _clean_plan(self, errors: dict[str, str]) -> None:
        """The scenario is of the tier's product; ``live_tier`` is a live tier of that product,
        set only on a scenario tier."""
        scenario = self.scenario if self.scenario_id is not None else None
        if scenario is not None and self.product_id is not None and scenario.product_id != self.product_id:
            errors["scenario"] = "The scenario belongs to another product than the tier."
        live = self.live_tier if self.live_tier_id is not None else None
        if live is None:
            return
        if self.scenario_id is None:
            errors["live_tier"] = "Only a scenario's tier stands for a live tier; this tier is live."
        elif live.scenario_id is not None:
            errors["live_tier"] = (
                "Choose a live tier (one of the product's live plan), not a scenario's tier."
            )
        elif live.product_id != self.product_id:
            errors["live_tier"] = "The live tier belongs to another product."

    def validate_constraints(self, exclude: Collection[str] | None = None) -> None:
        """The unique rules with the messages a user can act on (Django's generic "constraint
        violated" names no field)."""
        errors: dict[str, str] = {}
        others = Tier.objects.exclude(pk=self.pk)
        if self.scenario_id is None and self.product_id is not None:
            if others.filter(product_id=self.product_id, scenario__isnull=True, name=self.name).exists():
                errors["name"] = f"A tier named {self.name!r} already exists in the live plan."
        elif self.scenario_id is not None:
            if others.filter(scenario_id=self.scenario_id, name=self.name).exists():
                errors["name"] = f"A tier named {self.name!r} already exists in this scenario's plan."
            if (
                self.live_tier_id is not None
                and others.filter(scenario_id=self.scenario_id, live_tier_id=self.live_tier_id).exists()
            ):
                errors["live_tier"] = "Another tier of this scenario already stands for that live tier."
        raise_errors(errors)
        super().validate_constraints(exclude=exclude)


class Workload(ProductPart):
    """A feature of the product that spends tokens (chat, document Q&A, an agent task...).

    Token distributions are per model call, each given as median and p90 (a lognormal); a
    request makes ``calls_per_request`` calls (null = exactly one). Fractions: prompt-cache
    read and write shares of input tokens, response-cache hit rate (cached answers use quota
    but cost nothing), batch share of requests, distillation (share of input tokens removed).
    """

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="workloads")
    name = models.CharField(max_length=100)
    position = models.PositiveSmallIntegerField(default=0)
    credits_per_request = float_field(
        "Quota credits one request consumes (cached or not).", low=0.0, high=MAX_CREDITS, default=1.0
    )
    input_tokens_median = tokens_field("Input tokens per call, median.")
    input_tokens_p90 = tokens_field("Input tokens per call, 90th percentile.")
    output_tokens_median = tokens_field("Output tokens per call, median.")
    output_tokens_p90 = tokens_field("Output tokens per call, 90th percentile.")
    reasoning_tokens_median = tokens_field("Reasoning tokens per call, median (reasoning models).", null=True)
    reasoning_tokens_p90 = tokens_field("Reasoning tokens per call, 90th percentile.", null=True)
    calls_per_request_median = float_field(
        "Model calls per request (agent loops), median; empty = one call.",
        low=1.0,
        high=MAX_CALLS_PER_REQUEST,
        null=True,
    )
    calls_per_request_p90 = float_field(
        "Model calls per request, 90th percentile.", low=1.0, high=MAX_CALLS_PER_REQUEST, null=True
    )
    prompt_cache_share = fraction_field("Share of input tokens read from the prompt cache.")
    prompt_cache_write_share = fraction_field("Share of input tokens written to the prompt cache.")
    response_cache_hit_rate = fraction_field("Share of requests answered from a response cache.")
    batch_share = fraction_field("Share of requests sent through the batch API.")
    distillation = fraction_field("Share of input tokens removed by prompt distillation.")

    class Meta(ProductPart.Meta):
        constraints = [
            *ProductPart.Meta.constraints,
            between_constraint("workload", "credits_per_request", 0.0, MAX_CREDITS),
            *(
                between_constraint("workload", f"{prefix}_{stat}", 0.0, MAX_TOKENS_PER_CALL)
                for prefix in ("input_tokens", "output_tokens", "reasoning_tokens")
                for stat in ("median", "p90")
            ),
            between_constraint("workload", "calls_per_request_median", 1.0, MAX_CALLS_PER_REQUEST),
            between_constraint("workload", "calls_per_request_p90", 1.0, MAX_CALLS_PER_REQUEST),
            p90_constraint("workload", "input_tokens"),
            p90_constraint("workload", "output_tokens"),
            p90_constraint("workload", "reasoning_tokens"),
            p90_constraint("workload", "calls_per_request"),
            both_or_neither_constraint("workload", "reasoning_tokens_median", "reasoning_tokens_p90"),
            both_or_neither_constraint("workload", "calls_per_request_median", "calls_per_request_p90"),
            *(
                between_constraint("workload", name, 0.0, 1.0)
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
        p90_check(errors, self, "input_tokens", "input tokens")
        p90_check(errors, self, "output_tokens", "output tokens")
        p90_check(errors, self, "reasoning_tokens", "reasoning tokens")
        p90_check(errors, self, "calls_per_request", "calls per request")
        for prefix in ("reasoning_tokens", "calls_per_request"):
            median, p90 = getattr(self, f"{prefix}_median"), getattr(self, f"{prefix}_p90")
            if (median is None) != (p90 is None):
                field = f"{prefix}_p90" if p90 is None else f"{prefix}_median"
                errors[field] = "Give both the median and the p90, or neither."
        read, write = finite_number(self.prompt_cache_share), finite_number(self.prompt_cache_write_share)
        if read is not None and write is not None and read + write > 1:
            errors["prompt_cache_write_share"] = (
                "Prompt-cache read and write shares together cannot exceed 1 of the input tokens."
            )
        raise_errors(errors)


class WorkloadModel(PlannerModel):
    """One model in a workload's model mix: ``share`` of the workload's requests go to it.

    The shares of a workload sum to 1 (checked for the workload as a whole by
    ``planner.products.services`` and the admin formset). ``variant`` names a price variant of
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
    share = float_field(low=0.0, high=1.0)
    variant = models.CharField(max_length=100, blank=True, default="")
    uses_reasoning = models.BooleanField(default=False)

    class Meta:
        ordering = ["workload", "-share", "id"]
        constraints = [
            unique_constraint("workloadmodel", ["workload", "model", "variant"]),
            unique_constraint(
                "workloadmodel",
                ["workload", "price_sheet_entry"],
                "private",
                condition=Q(price_sheet_entry__isnull=False),
            ),
            unique_constraint(
                "workloadmodel",
                ["workload", "self_hosted"],
                "self_hosted",
                condition=Q(self_hosted__isnull=False),
            ),
            between_constraint("workloadmodel", "share", 0.0, 1.0, low_exclusive=True),
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
        raise_errors(errors)

    def _workload_organization_id(self) -> int | None:
        # The workload may be unsaved (workload_create validates the mix before saving it).
        workload = self.workload if self.workload_id or "workload" in self._state.fields_cache else None
        return workload.product.organization_id if workload is not None and workload.product_id else None


def _usage_parameter(help_text: str, *, limit: float = MAX_REQUESTS_PER_MONTH) -> models.FloatField:
    return float_field(help_text, low=0.0, high=limit, null=True)


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
    overdispersion = float_field(
        "Shape of a monthly gamma shock (smaller = burstier); empty = Poisson counts.",
        low=1e-6,
        high=1e6,
        null=True,
    )

    class Meta:
        ordering = ["tier", "workload"]
        constraints = [
            unique_constraint("usage", ["tier", "workload"], "pair"),
            *(
                between_constraint(
                    "usagedistribution", name, 0.0, MAX_ALPHA if name == "alpha" else MAX_REQUESTS_PER_MONTH
                )
                for name in USAGE_PARAMETERS
            ),
            between_constraint("usagedistribution", "overdispersion", 0.0, 1e6, low_exclusive=True),
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
                value = finite_number(getattr(self, name))
                if value is None or value <= 0:
                    errors[name] = f"A gamma distribution needs a {name} above 0."
        elif kind == self.Kind.PARETO:
            self._clean_pareto(errors)
        elif kind == self.Kind.EMPIRICAL:
            self._clean_empirical(errors)
        raise_errors(errors)

    def _clean_lognormal(self, errors: dict[str, str]) -> None:
        median, p90 = finite_number(self.median), finite_number(self.p90)
        if median is None or median <= 0:
            errors["median"] = "A lognormal distribution needs a median above 0."
        if p90 is None:
            errors["p90"] = "A lognormal distribution needs a p90 (90th percentile)."
        elif median is not None and p90 < median:
            errors["p90"] = f"The p90 ({p90:g}) cannot be below the median ({median:g})."

    def _clean_pareto(self, errors: dict[str, str]) -> None:
        scale, alpha, upper = finite_number(self.scale), finite_number(self.alpha), finite_number(self.upper)
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
    semi-definite (``planner.products.services.correlation_matrix``).
    """

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="correlations")
    workload_a = models.ForeignKey(Workload, on_delete=models.CASCADE, related_name="+")
    workload_b = models.ForeignKey(Workload, on_delete=models.CASCADE, related_name="+")
    rho = float_field(low=-1.0, high=1.0)

    class Meta:
        constraints = [
            unique_constraint("correlation", ["workload_a", "workload_b"], "pair"),
            models.CheckConstraint(
                condition=Q(workload_a__lt=F("workload_b")), name="planner_correlation_ordered_pair"
            ),
            between_constraint("workloadcorrelation", "rho", -1.0, 1.0),
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
