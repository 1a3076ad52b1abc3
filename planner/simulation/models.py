"""Scenarios, simulation runs and their blocks."""

from __future__ import annotations

import json
import secrets
from collections.abc import Collection
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from planner.accounts.models import Organization
from planner.core.models import (
    MAX_CALLS_PER_REQUEST,
    MAX_FEE,
    MAX_HORIZON_MONTHS,
    MAX_SEED,
    MAX_SIMULATED_USERS,
    MAX_TOKENS_PER_CALL,
    MIN_SIMULATED_USERS,
    PlannerModel,
    TimestampedModel,
    between_constraint,
    both_or_neither_constraint,
    float_field,
    money_field,
    one_of_constraint,
    p90_check,
    p90_constraint,
    raise_errors,
    unique_constraint,
)
from planner.core.validators import levers_validate_structure, model_costs_validate_structure
from planner.products.models import Product
from pricing.models import AIModel


def new_seed() -> int:
    """A fresh random seed for a scenario, stored so every run can be reproduced."""
    return secrets.randbelow(MAX_SEED)


class Scenario(TimestampedModel):
    """A what-if for a product: horizon, simulation size, market trends and levers.

    ``levers`` is a list of lever objects (see ``planner.core.validators.levers_validate_structure``)
    whose ``routing_model`` is an AIModel id, ``workloads`` are Workload ids of the product and
    ``tiers`` are Tier ids of the scenario's own plan.
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
    price_trend_yearly = float_field(
        "Yearly change of token prices (-0.30 = 30 % cheaper each year; 0 = flat).",
        low=-0.99,
        high=1.0,
        default=0.0,
    )
    usage_growth_monthly = float_field(
        "Monthly growth of each user's usage (0.05 = +5 % a month).", low=-0.5, high=1.0, default=0.0
    )
    discount_rate_yearly = float_field("Yearly discount rate for the NPV.", low=0.0, high=1.0, default=0.10)
    target_margin = float_field(
        "Target gross margin as a fraction (0.6 = 60 %).", low=-1.0, high=1.0, default=0.5
    )
    price_date = models.DateField(
        default=timezone.localdate, help_text="Catalog prices in force on this date."
    )
    model_costs = models.JSONField(
        default=list,
        blank=True,
        validators=[model_costs_validate_structure],
        help_text="Model costs (training, fine-tuning, evaluation): one-off in a month, or repeated "
        "every N months (a retrain). See planner.core.validators.model_costs_validate_structure.",
    )
    fixed_costs_monthly = money_field(
        "Fixed costs per month (team, hosting), for lifetime cash flows.", default=Decimal(0)
    )

    class Meta:
        ordering = ["product", "name"]
        indexes = [models.Index(fields=["organization", "name", "id"], name="planner_scenario_org_name")]
        constraints = [
            unique_constraint("scenario", ["product", "name"], "name"),
            between_constraint("scenario", "horizon_months", 1, MAX_HORIZON_MONTHS),
            between_constraint("scenario", "simulated_users", MIN_SIMULATED_USERS, MAX_SIMULATED_USERS),
            between_constraint("scenario", "seed", 0, MAX_SEED),
            between_constraint("scenario", "price_trend_yearly", -0.99, 1.0),
            between_constraint("scenario", "usage_growth_monthly", -0.5, 1.0),
            between_constraint("scenario", "discount_rate_yearly", 0.0, 1.0),
            between_constraint("scenario", "target_margin", -1.0, 1.0),
            between_constraint("scenario", "fixed_costs_monthly", 0, MAX_FEE),
        ]

    def __str__(self) -> str:
        return f"{self.product} / {self.name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.organization_id is None and self.product_id is not None:
            self.organization_id = self.product.organization_id
        super().save(*args, **kwargs)

    def clean(self) -> None:
        """Check that the levers reference this product's workloads, existing models and the
        tiers of this scenario's plan."""
        if not isinstance(self.levers, list) or not self.product_id:
            return
        workload_ids = set(self.product.workloads.values_list("id", flat=True))
        model_ids = {
            lever["routing_model"]
            for lever in self.levers
            if isinstance(lever, dict) and type(lever.get("routing_model")) is int
        }
        known_models = set(AIModel.objects.filter(pk__in=model_ids).values_list("pk", flat=True))
        # The plan exists once the scenario is saved (scenario_create checks again then).
        plan_tiers = set(self.tiers.values_list("id", flat=True)) if self.pk is not None else set()
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
            strangers = [t for t in lever.get("tiers", []) if t not in plan_tiers]
            if self.pk is not None and strangers:
                errors.append(f"{where}: tier id(s) {strangers} are not tiers of this scenario's plan.")
        if errors:
            raise ValidationError({"levers": errors})


#: A workload's inputs a scenario may override: median and p90 pairs (None = the product's).
OVERRIDE_PAIRS = ("input_tokens", "output_tokens", "reasoning_tokens", "calls_per_request")


def _override_field(prefix: str, stat: str) -> models.FloatField:
    high = MAX_CALLS_PER_REQUEST if prefix == "calls_per_request" else MAX_TOKENS_PER_CALL
    low = 1.0 if prefix == "calls_per_request" else 0.0
    label = prefix.replace("_", " ")
    return float_field(f"{label.capitalize()}, {stat}; empty = the product's.", low=low, high=high, null=True)


class WorkloadOverride(PlannerModel):
    """One scenario's own version of a product workload: token profile, calls per request and
    model mix. Each pair (median, p90) and ``model_mix`` is null to follow the product.

    ``model_mix`` is a list of ``{"model": AIModel id, "share", "variant", "uses_reasoning"}``
    (catalog models; shares sum to 1), validated by ``planner.simulation.overrides``. The
    workload and its other inputs (credits, caches, batch share, distillation: what levers
    change) stay the product's.
    """

    scenario = models.ForeignKey(Scenario, on_delete=models.CASCADE, related_name="workload_overrides")
    workload = models.ForeignKey("planner.Workload", on_delete=models.CASCADE, related_name="overrides")
    input_tokens_median = _override_field("input_tokens", "median")
    input_tokens_p90 = _override_field("input_tokens", "p90")
    output_tokens_median = _override_field("output_tokens", "median")
    output_tokens_p90 = _override_field("output_tokens", "p90")
    reasoning_tokens_median = _override_field("reasoning_tokens", "median")
    reasoning_tokens_p90 = _override_field("reasoning_tokens", "p90")
    calls_per_request_median = _override_field("calls_per_request", "median")
    calls_per_request_p90 = _override_field("calls_per_request", "p90")
    model_mix = models.JSONField(
        null=True, blank=True, help_text="The scenario's model mix; empty = the product's."
    )

    class Meta:
        ordering = ["scenario", "workload"]
        constraints = [
            unique_constraint("workloadoverride", ["scenario", "workload"], "pair"),
            *(
                both_or_neither_constraint("workloadoverride", f"{p}_median", f"{p}_p90")
                for p in OVERRIDE_PAIRS
            ),
            *(p90_constraint("workloadoverride", p) for p in OVERRIDE_PAIRS),
        ]

    def __str__(self) -> str:
        return f"{self.scenario}: {self.workload.name} overridden"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.scenario_id and self.workload_id and self.scenario.product_id != self.workload.product_id:
            errors["workload"] = "The workload belongs to another product than the scenario."
        for prefix in OVERRIDE_PAIRS:
            median, p90 = getattr(self, f"{prefix}_median"), getattr(self, f"{prefix}_p90")
            if (median is None) != (p90 is None):
                errors[f"{prefix}_p90" if p90 is None else f"{prefix}_median"] = (
                    "Give both the median and the p90, or neither (the product's then)."
                )
            p90_check(errors, self, prefix, prefix.replace("_", " "))
        raise_errors(errors)

    @property
    def is_empty(self) -> bool:
        """Whether it overrides nothing (the scenario follows the product)."""
        return self.model_mix is None and all(
            getattr(self, f"{p}_{s}") is None for p in OVERRIDE_PAIRS for s in ("median", "p90")
        )


class SimulationRunQuerySet(models.QuerySet["SimulationRun"]):
    def simulations(self) -> SimulationRunQuerySet:
        """Runs of scenarios (what run lists, results, compare and alerts read), not decision
        jobs nor replays."""
        return self.filter(kind=SimulationRun.Kind.RUN)

    def decisions(self) -> SimulationRunQuerySet:
        """Decision jobs: optimizations and sensitivity analyses."""
        return self.filter(kind__in=(SimulationRun.Kind.OPTIMIZATION, SimulationRun.Kind.SENSITIVITY))

    def replays(self) -> SimulationRunQuerySet:
        """Replays of actual usage (``planner.actuals.replay_jobs``)."""
        return self.filter(kind=SimulationRun.Kind.REPLAY)


class SimulationRun(PlannerModel):
    """One Monte Carlo run of a scenario, reproducible from its frozen ``snapshot``.

    The snapshot (scenario document, resolved prices, price date) is written once at creation
    and never changes: ``save()`` refuses to alter it. ``organization`` duplicates
    ``scenario.product.organization`` so that tenant scoping is a single indexed filter.
    Progress is ``blocks_done / blocks_total``; ``heartbeat_at`` and ``attempts`` drive the reaper.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Kind(models.TextChoices):
        """What the job computes: a run of the scenario, a decision over its plan whose passes
        are simulations run the same way (docs/JOBS.md, "Decision jobs"), or a replay of actual
        usage whose blocks are customer ranges (docs/ACTUALS.md, "Replay")."""

        RUN = "run"
        OPTIMIZATION = "optimization"
        SENSITIVITY = "sensitivity"
        REPLAY = "replay"

    FINISHED_STATUSES = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED})

    scenario = models.ForeignKey(
        Scenario,
        on_delete=models.CASCADE,
        related_name="runs",
        null=True,
        blank=True,
        help_text="The scenario simulated; empty only for a replay of the live plan.",
    )
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.RUN)
    spec = models.JSONField(
        default=dict,
        blank=True,
        help_text="A decision job's request and its state between passes (empty for a run).",
    )
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
    dispatched_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When its chunks were handed to the broker; empty while the broker could not take them "
        "(the reaper dispatches such runs when it is back).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    results = models.JSONField(null=True, blank=True)
    package_versions = models.JSONField(default=dict, blank=True)

    objects = SimulationRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "status"], name="planner_run_org_status"),
            models.Index(fields=["scenario", "-created_at"], name="planner_run_scenario_recent"),
            models.Index(fields=["organization", "kind", "-created_at"], name="planner_run_org_kind_recent"),
            models.Index(fields=["status", "heartbeat_at"], name="planner_run_status_heartbeat"),
        ]
        constraints = [
            one_of_constraint("run", "status", ["queued", "running", "succeeded", "failed", "cancelled"]),
            one_of_constraint("run", "kind", ["run", "optimization", "sensitivity", "replay"]),
            models.CheckConstraint(
                condition=Q(kind="replay") | Q(scenario__isnull=False),
                name="planner_run_scenario_unless_replay",
            ),
            models.CheckConstraint(
                condition=Q(blocks_done__lte=F("blocks_total")), name="planner_run_blocks_done_lte_total"
            ),
            between_constraint("simulationrun", "seed", 0, MAX_SEED),
            # A replay's ``users`` are the customers it re-rates (any number).
            models.CheckConstraint(
                condition=Q(kind="replay")
                | Q(users__gte=MIN_SIMULATED_USERS, users__lte=MAX_SIMULATED_USERS),
                name="planner_simulationrun_users_range",
            ),
        ]

    def __str__(self) -> str:
        if self.kind == self.Kind.REPLAY:
            return f"Replay {self.pk} ({self.status})"
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
        """Share of blocks done, 0..1. A decision job adds its passes' blocks as it plans them,
        so its share is of the blocks its passes may need at most (``spec["blocks_expected"]``);
        a finished job is 1."""
        if self.kind != self.Kind.RUN and self.status == self.Status.SUCCEEDED:
            return 1.0
        expected = int((self.spec or {}).get("blocks_expected") or self.blocks_total)
        return min(self.blocks_done / expected, 1.0) if expected else 0.0

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
            self.scenario is not None
            and self.organization_id
            and self.scenario.product.organization_id != self.organization_id
        ):
            errors["organization"] = "The run's organisation must be the scenario's."
        raise_errors(errors)


def _canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class RunBlock(models.Model):
    """One fixed block of a run's simulated users (see ``planner.engine.BLOCK_SIZE``).

    A chunk task marks its blocks ``running`` (with a heartbeat and an attempt count) and stores
    each finished block's partial aggregates (``aggregate``: the engine's arrays as a compressed
    ``.npz``) with an upsert keyed ``(run, block)``: a redelivered chunk overwrites, never adds.
    """

    class State(models.TextChoices):
        RUNNING = "running"
        DONE = "done"

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
            unique_constraint("runblock", ["run", "block"]),
            one_of_constraint("runblock", "state", ["running", "done"]),
        ]
        indexes = [models.Index(fields=["run", "state"], name="planner_runblock_run_state")]

    def __str__(self) -> str:
        return f"Run {self.run_id} block {self.block} ({self.state})"
