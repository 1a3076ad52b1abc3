"""Tiers: the plans a product sells, live or in a scenario's plan."""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from planner.core.models import (
    MAX_CREDIT_PRICE,
    MAX_CREDITS,
    MAX_FEE,
    between_constraint,
    both_or_neither_constraint,
    credits_field,
    decimal_field,
    exact_fraction_field,
    finite_number,
    float_field,
    fraction_field,
    money_field,
    raise_errors,
    unique_constraint,
)
from planner.products.models.products import Product, ProductPart

#: The largest value of the integer columns (PostgreSQL's ``integer``, which the range
#: constraints below also state): a model validator, so SQLite refuses it as a field error too.
MAX_INT32 = 2**31 - 1
#: New subscribers a tier may gain in a month.
MAX_NEW_SUBSCRIBERS = 1e9


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
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_INT32)],
        help_text="Seats per subscriber.",
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
    subscribers = models.PositiveIntegerField(default=0, validators=[MaxValueValidator(MAX_INT32)])
    churn_monthly = fraction_field("Share of subscribers leaving each month (0..1).")
    new_subscribers_monthly = float_field(
        "New subscribers joining each month from month 2 (month 1's are the subscribers).",
        low=0.0,
        high=MAX_NEW_SUBSCRIBERS,
        default=0.0,
    )
    new_subscribers_growth_monthly = float_field(
        "Monthly growth of the new subscribers (0.05 = 5 % more each month).",
        low=-0.99,
        high=10.0,
        default=0.0,
    )
    cac = money_field("Cost to acquire one new subscriber (CAC).", default=Decimal(0))

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
            between_constraint("tier", "seats", 1, MAX_INT32),
            both_or_neither_constraint("tier", "seat_fee", "seats"),
            between_constraint("tier", "annual_price", 0, MAX_FEE),
            between_constraint("tier", "included_credits", 0.0, MAX_CREDITS),
            between_constraint("tier", "overage_price_per_credit", 0, MAX_CREDIT_PRICE),
            between_constraint("tier", "hard_cap_credits", 0.0, MAX_CREDITS),
            between_constraint("tier", "payment_fee_pct", 0, 1),
            between_constraint("tier", "payment_fee_fixed", 0, MAX_FEE),
            between_constraint("tier", "subscribers", 0, MAX_INT32),
            between_constraint("tier", "churn_monthly", 0.0, 1.0),
            between_constraint("tier", "new_subscribers_monthly", 0.0, MAX_NEW_SUBSCRIBERS),
            between_constraint("tier", "new_subscribers_growth_monthly", -0.99, 10.0),
            between_constraint("tier", "cac", 0, MAX_FEE),
        ]

    def __str__(self) -> str:
        return f"{self.product} / {self.name}"

    @property
    def annual_price_monthly(self) -> Decimal | None:
        """The annual price as a monthly equivalent (annual / 12), or None without one."""
        if self.annual_price is None:
            return None
        return monthly_revenue("annual_price", self.annual_price)

    @property
    def billing_field(self) -> str:
        """The field this tier bills by (``BILLING_FIELDS``): the first of an annual price, a
        per-seat fee (with seats) and the monthly fee that is set."""
        if self.annual_price is not None:
            return "annual_price"
        if self.seat_fee is not None and self.seats is not None:
            return "seat_fee"
        return "monthly_fee"

    @property
    def monthly_revenue_per_subscriber(self) -> Decimal:
        """Monthly list revenue from one subscriber, before overage and payment fees.

        Rule, first match wins: an annual price (annual_price / 12: annual subscribers are
        assumed throughout); else a per-seat fee (seat_fee x seats); else the monthly fee.
        """
        field = self.billing_field
        return monthly_revenue(field, getattr(self, field), seats=self.seats)

    @property
    def effective_cap(self) -> float | None:
        """Credits a month after which the tier serves no more (:func:`effective_cap`)."""
        return effective_cap(
            included=None if self.included_credits is None else float(self.included_credits),
            overage_price=self.overage_price_per_credit,
            hard_cap=None if self.hard_cap_credits is None else float(self.hard_cap_credits),
        )

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
        # Tier's other constraints are CheckConstraints, which PlannerModel leaves to the database:
        # super() would only query the same three unique rules again, for a field-less message.
        raise_errors(errors)


#: The fields a tier may bill by (``Tier.billing_field``).
BILLING_FIELDS = ("monthly_fee", "seat_fee", "annual_price")


def monthly_revenue(field: str, amount: Decimal, *, seats: int | None = None) -> Decimal:
    """Monthly revenue per subscriber of a tier billing ``amount`` in ``field``: an annual price
    / 12 (to 6 decimals), a seat fee x ``seats``, or the monthly fee itself."""
    if field == "annual_price":
        return (amount / 12).quantize(Decimal("0.000001"))
    if field == "seat_fee":
        if seats is None:
            raise ValueError("a seat fee needs seats")
        return amount * seats
    if field == "monthly_fee":
        return amount
    raise ValueError(f"unknown billing field {field!r}")


def effective_cap(*, included: float | None, overage_price: object, hard_cap: float | None) -> float | None:
    """Credits a month after which a plan serves no more: its hard cap, or its included credits
    when it sells no overage (``overage_price`` None), whichever is lower; None: unlimited. The
    engine's rule (``planner.engine.types.Tier.effective_cap``), for plans stored in the database."""
    caps = [hard_cap] if hard_cap is not None else []
    if included is not None and overage_price is None:
        caps.append(included)
    return min(caps) if caps else None
