"""A scenario's own version of a product workload (``WorkloadOverride``): token profile, calls
per request and model mix, each following the product while null.

:func:`workload_override_set` is the one writer (editor, document PUT, duplicate);
:func:`effective_workload` is what a run of the scenario sees (the snapshot reads it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from planner.core.validators import model_mix_validate
from planner.products.models import Workload
from planner.simulation.models import OVERRIDE_PAIRS, Scenario, WorkloadOverride
from pricing.models import AIModel

#: The fields of an override besides its model mix, in display order.
OVERRIDE_FIELDS = tuple(f"{prefix}_{stat}" for prefix in OVERRIDE_PAIRS for stat in ("median", "p90"))


def model_mix_json(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """An override's model mix checked and normalised: catalog model ids that exist, shares in
    (0, 1] summing to 1, each (model, variant) once. Raises ValidationError on ``model_mix``."""
    errors: list[str] = []
    try:
        model_mix_validate(entry.get("share", 0) for entry in entries)
    except ValidationError as error:
        errors.extend(error.messages)
    ids = [entry.get("model") for entry in entries]
    known = set(
        AIModel.objects.filter(pk__in=[i for i in ids if type(i) is int]).values_list("pk", flat=True)
    )
    seen: set[tuple[int, str]] = set()
    mix = []
    for entry in entries:
        model, variant = entry.get("model"), entry.get("variant") or ""
        if type(model) is not int or model not in known:
            errors.append(f"Model {model!r} is not a catalog model id.")
            continue
        if (model, variant) in seen:
            errors.append(f"Model {model} ({variant or 'standard'}) appears twice in the mix.")
        seen.add((model, variant))
        mix.append(
            {
                "model": model,
                "share": float(entry["share"]),
                "variant": variant,
                "uses_reasoning": bool(entry.get("uses_reasoning", False)),
            }
        )
    if errors:
        raise ValidationError({"model_mix": errors})
    return mix


def effective_workload(workload: Workload, override: WorkloadOverride | None) -> dict[str, Any]:
    """The token and call pairs a run of the scenario uses for ``workload``: the override's
    where set, else the product's; and ``model_mix``: the override's mix or None (the product's)."""
    fields = {name: getattr(workload, name) for name in OVERRIDE_FIELDS}
    if override is not None:
        for prefix in OVERRIDE_PAIRS:
            if getattr(override, f"{prefix}_median") is not None:
                for stat in ("median", "p90"):
                    fields[f"{prefix}_{stat}"] = getattr(override, f"{prefix}_{stat}")
    return {**fields, "model_mix": None if override is None else override.model_mix}


def workload_override_set(
    *, scenario: Scenario, workload: Workload, data: Mapping[str, Any]
) -> WorkloadOverride | None:
    """Make ``scenario``'s override of ``workload`` exactly ``data`` (``OVERRIDE_FIELDS`` and
    ``model_mix``; a key left out follows the product). An override of nothing is removed and
    None returned. Raises ValidationError on the field at fault; nothing is saved then."""
    unknown = sorted(set(data) - {*OVERRIDE_FIELDS, "model_mix"})
    if unknown:
        raise ValidationError({name: "Unknown field." for name in unknown})
    override = WorkloadOverride.objects.filter(
        scenario=scenario, workload=workload
    ).first() or WorkloadOverride(scenario=scenario, workload=workload)
    for name in OVERRIDE_FIELDS:
        setattr(override, name, data.get(name))
    mix = data.get("model_mix")
    override.model_mix = None if mix is None else model_mix_json(mix)
    if override.model_mix is not None:
        reasoning = effective_workload(workload, override)["reasoning_tokens_median"]
        if reasoning is None and any(entry["uses_reasoning"] for entry in override.model_mix):
            raise ValidationError(
                {"model_mix": "A model uses reasoning but the workload has no reasoning-token distribution."}
            )
    with transaction.atomic():
        if override.is_empty:
            if override.pk is not None:
                override.delete()
            return None
        override.full_clean()
        override.save()
    return override


def overrides_copy(*, source: Scenario, target: Scenario) -> None:
    """Give ``target`` the overrides of ``source`` (same product: duplicate)."""
    WorkloadOverride.objects.bulk_create(
        WorkloadOverride(
            scenario=target,
            workload_id=override.workload_id,
            model_mix=override.model_mix,
            **{name: getattr(override, name) for name in OVERRIDE_FIELDS},
        )
        for override in source.workload_overrides.all()
    )
