"""Actual usage: customers, tier periods, usage records and the customer-month rollup."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Q

from planner.accounts.models import Organization
from planner.core.models import PlannerModel, between_constraint, unique_constraint
from planner.products.models import Tier, Workload
from pricing.models import AIModel

#: Largest token count one usage record may carry (10 billion): far above any real request or
#: daily aggregate, small enough that costs fit their column and floats stay exact integers.
MAX_RECORD_TOKENS = 10**10
#: Largest request count one usage record may carry.
MAX_RECORD_REQUESTS = 10**9
MAX_RECORD_CREDITS = Decimal("999999999999.999999")  # max_digits=18, decimal_places=6
MAX_RECORD_COST = Decimal("9999999999.9999999999")  # max_digits=20, decimal_places=10
#: The fields of ``TokenCounts``.
USAGE_TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)


class TokenCounts(models.Model):
    """Token counts in genai-prices' convention: ``input_tokens`` is the total input *including*
    ``cached_tokens`` (cache reads) and ``cache_write_tokens``; ``output_tokens`` *includes*
    ``reasoning_tokens``."""

    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cached_tokens = models.PositiveBigIntegerField(default=0)
    cache_write_tokens = models.PositiveBigIntegerField(default=0)
    reasoning_tokens = models.PositiveBigIntegerField(default=0)

    class Meta:
        abstract = True


class Customer(PlannerModel):
    """A customer of an organisation's product, known by the billing system's ``external_id``.

    Created by ``planner.actuals.ingest`` on the first usage record that names it, with the tier
    that record gives; its tier history is ``tier_periods``.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="customers")
    external_id = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization", "external_id"]
        constraints = [
            unique_constraint("customer", ["organization", "external_id"], "external_id"),
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
            unique_constraint("customertierperiod", ["customer", "effective_from"], "start"),
        ]

    def __str__(self) -> str:
        return f"{self.customer} on {self.tier} from {self.effective_from}"


class UsageRecord(TokenCounts):
    """One usage event pushed by a billing system, priced at ingest.

    ``(organization, event_id)`` is unique: the client's id makes ingestion idempotent, and
    ``payload_hash`` (of the normalised record) tells a retried duplicate from a conflicting
    reuse of the id. With ``requests`` > 1 the token counts (``TokenCounts``) are totals over
    that many equal requests; with ``requests`` = 0 the record is a *part* of requests counted by
    other records (e.g. a billing system's output-token event), priced as one request of its own
    tokens. ``cost`` is priced with ``price`` (the row in force at
    ``timestamp``) at ``priced_at``; ``period`` is the first day of the timestamp's month in the
    organisation's time zone. Written only by ``planner.actuals.ingest`` (bulk paths that bypass
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
    requests = models.PositiveIntegerField(default=1)
    credits = models.DecimalField(max_digits=18, decimal_places=6, default=Decimal(0))
    cost = models.DecimalField(max_digits=20, decimal_places=10)
    payload_hash = models.CharField(max_length=32)
    priced_at = models.DateTimeField()
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        constraints = [
            unique_constraint("usagerecord", ["organization", "event_id"], "event"),
            *(between_constraint("usagerecord", name, 0, MAX_RECORD_TOKENS) for name in USAGE_TOKEN_FIELDS),
            between_constraint("usagerecord", "requests", 0, MAX_RECORD_REQUESTS),
            between_constraint("usagerecord", "credits", 0, MAX_RECORD_CREDITS),
            between_constraint("usagerecord", "cost", 0, MAX_RECORD_COST),
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
            # A customer's months; on PostgreSQL it also covers what a replay sums per customer,
            # month, model, workload and price row, so a block of customers reads only its part
            # of the index (an index-only scan) instead of every page of the time-ordered table.
            models.Index(
                fields=["customer", "period"],
                include=[
                    "organization",
                    "model",
                    "workload",
                    "price",
                    "timestamp",
                    *USAGE_TOKEN_FIELDS,
                    "requests",
                ],
                name="planner_usage_customer_sums",
            ),
            models.Index(fields=["model", "timestamp"], name="planner_usage_model_time"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} ({self.customer_id}, {self.timestamp:%Y-%m-%d})"


class CustomerMonth(TokenCounts):
    """Rollup of a customer's usage records for one ``period`` (first day of a month in the
    organisation's time zone), for newly inserted records only: on PostgreSQL ingestion journals
    them and ``planner.actuals.rollup.customer_months_fold`` adds them here, which every reader
    calls first (read through the selectors, never straight from this model); on SQLite the
    ingest transaction adds them. Recomputed from the records after a reprice."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    # Indexed by the unique (customer, period) constraint.
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="months", db_index=False)
    period = models.DateField()
    records = models.PositiveBigIntegerField(default=0)
    requests = models.PositiveBigIntegerField(default=0)
    credits = models.DecimalField(max_digits=24, decimal_places=6, default=Decimal(0))
    cost = models.DecimalField(max_digits=26, decimal_places=10, default=Decimal(0))

    class Meta:
        ordering = ["period", "customer"]
        constraints = [
            unique_constraint("customermonth", ["customer", "period"]),
        ]
        indexes = [models.Index(fields=["organization", "period"], name="planner_custmonth_org_period")]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.period:%Y-%m}"


def _money_field() -> models.DecimalField[Decimal, Decimal]:
    return models.DecimalField(max_digits=20, decimal_places=6)


class ReplayRow(models.Model):
    """One customer-month of a replay job (``planner.actuals.replay_jobs``): billed under the
    live plan (``actual_*``) and under the replayed plan (``replayed_*``), money to the report's
    quantum (1e-6); ``flip`` is "became_underwater", "stopped_underwater" or "" and ``cut`` says
    the replayed cap removed usage. Written by upsert on (run, customer, period), so a block
    computed twice writes each row once. Tier ids are plain integers (a replay outlives edits)."""

    run = models.ForeignKey(
        "planner.SimulationRun", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+", db_index=False)
    external_id = models.CharField(max_length=255)
    period = models.DateField()
    flip = models.CharField(max_length=20, blank=True)
    cut = models.BooleanField(default=False)
    actual_tier_id = models.BigIntegerField(null=True)
    actual_tier_name = models.CharField(max_length=100, blank=True)
    actual_credits = models.DecimalField(max_digits=24, decimal_places=6)
    actual_revenue_gross = _money_field()
    actual_payment_fees = _money_field()
    actual_revenue = _money_field()
    actual_cogs = _money_field()
    actual_margin = _money_field()
    actual_paying = models.BooleanField()
    actual_underwater = models.BooleanField()
    replayed_tier_id = models.BigIntegerField(null=True)
    replayed_tier_name = models.CharField(max_length=100, blank=True)
    replayed_credits = models.DecimalField(max_digits=24, decimal_places=6)
    replayed_revenue_gross = _money_field()
    replayed_payment_fees = _money_field()
    replayed_revenue = _money_field()
    replayed_cogs = _money_field()
    replayed_margin = _money_field()
    replayed_paying = models.BooleanField()
    replayed_underwater = models.BooleanField()

    class Meta:
        ordering = ["run", "customer", "period"]
        constraints = [unique_constraint("replayrow", ["run", "customer", "period"])]
        indexes = [
            models.Index(fields=["run", "flip", "customer"], name="planner_replayrow_run_flip"),
            # Deleting a customer (or its organisation) finds its replay rows through this index.
            models.Index(fields=["customer"], name="planner_replayrow_customer"),
        ]

    def __str__(self) -> str:
        return f"replay {self.run_id} {self.external_id} {self.period:%Y-%m}"
