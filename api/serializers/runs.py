"""Runs: start one, read its status, progress and results."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.fields import StrictIntegerField
from api.serializers.results import RunResultsSerializer
from planner.core.models import MAX_SEED, MAX_SIMULATED_USERS, MIN_SIMULATED_USERS
from planner.simulation.models import SimulationRun
from planner.simulation.selectors import run_progress


class RunStartSerializer(serializers.Serializer[Any]):
    users = StrictIntegerField(
        min_value=MIN_SIMULATED_USERS,
        max_value=MAX_SIMULATED_USERS,
        required=False,
        help_text="Simulated users (default: the scenario's).",
    )
    seed = StrictIntegerField(
        min_value=0, max_value=MAX_SEED, required=False, help_text="Random seed (default: the scenario's)."
    )


class RunProgressSerializer(serializers.Serializer[Any]):
    blocks_done = serializers.IntegerField()
    blocks_total = serializers.IntegerField()
    fraction = serializers.FloatField(help_text="blocks_done / blocks_total.")
    users_simulated = serializers.IntegerField()
    elapsed_seconds = serializers.FloatField()
    eta_seconds = serializers.FloatField(
        allow_null=True, help_text="Null before the first block and once finished."
    )


#: What a run and a decision job have in common (``api.serializers.decisions``).
JOB_FIELDS = ["id", "scenario", "status", "users", "seed", "created_at", "started_at", "finished_at", "error"]


class JobSerializer(serializers.ModelSerializer[SimulationRun]):
    """A job's common fields and its ``progress`` (subclasses add what they hold)."""

    progress = serializers.SerializerMethodField()

    class Meta:
        model = SimulationRun
        fields = [*JOB_FIELDS, "progress"]
        read_only_fields = fields

    @extend_schema_field(RunProgressSerializer)
    def get_progress(self, run: SimulationRun) -> dict[str, Any]:
        return RunProgressSerializer(run_progress(run=run)).data


class RunSerializer(JobSerializer):
    results = RunResultsSerializer(read_only=True, allow_null=True, help_text="Set once the run succeeded.")

    class Meta(JobSerializer.Meta):
        fields = [*JOB_FIELDS, "progress", "results"]
        read_only_fields = fields


class RunListSerializer(RunSerializer):
    """Runs in a list: everything but the results (read one run for those)."""

    class Meta(RunSerializer.Meta):
        fields = [name for name in RunSerializer.Meta.fields if name != "results"]
        read_only_fields = fields
