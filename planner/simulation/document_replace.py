"""``PUT /api/v1/scenarios/{id}/document/``: replace a scenario's plan with a document's.

:func:`plan_apply` makes the scenario's plan what the document's ``plan`` says, in one
transaction: tiers are matched by name and updated in place (their ids stay, so alert rules and
runs keep pointing at them), a tier only in the document is created, a tier missing from it is
removed (refused while an alert rule names it); each tier's segments are matched by name the
same way (a segment missing from the document goes with its usage; a document without
``segments`` leaves the plan without any); usage distributions are set by (tier, segment,
workload) (those missing from the document are removed), workload overrides are set (a
workload not listed follows the product), and the settings and levers are replaced (levers name
tiers of the new plan). The
``product`` section is read-only here: an equal one is accepted, a differing one is an error at
its path. Every error is reported at its document path (``plan.tiers[1].monthly_fee``) and
nothing is written then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from planner.products.models import Product, Segment, Tier, UsageDistribution, Workload
from planner.products.segments import SEGMENT_FIELDS, segment_create, segment_update
from planner.products.selectors import live_tiers
from planner.products.services import (
    TIER_FIELDS,
    WORKLOAD_FIELDS,
    tier_create,
    tier_update,
    usage_distribution_set,
)
from planner.simulation.document import (
    DOCUMENT_VERSION,
    catalog_models,
    levers_from_document,
    prefixed,
    product_section,
)
from planner.simulation.models import Scenario
from planner.simulation.overrides import OVERRIDE_FIELDS, workload_override_set
from planner.simulation.plans import scenario_tiers
from planner.simulation.scenarios import scenario_update

Errors = dict[str, list[str]]
#: A segment in a document: (tier name, segment name).
SegmentKey = tuple[str, str]


def scenario_document_replace(*, scenario: Scenario, document: Mapping[str, Any]) -> Scenario:
    """Replace ``scenario``'s plan with the version 2 ``document``'s (typed values, as the API's
    document serializer gives them). Raises ValidationError keyed by document path."""
    if document.get("version") != DOCUMENT_VERSION:
        raise ValidationError({"version": f"Only version {DOCUMENT_VERSION} documents replace a plan."})
    difference = first_difference(
        product_normal(product_section(scenario.product)), product_normal(document["product"]), "product"
    )
    if difference is not None:
        raise ValidationError(
            {
                difference: "The product section is read-only here (workloads are edited on the product); "
                "send it as GET returned it."
            }
        )
    with transaction.atomic():
        plan_apply(scenario=scenario, plan=document["plan"])
    return scenario


def product_normal(section: Mapping[str, Any]) -> dict[str, Any]:
    """The product section with every field present (model defaults for fields left out) and
    correlations as an unordered map, so that equal products compare equal."""
    product = Product(
        **{name: value for name, value in section.items() if name not in ("workloads", "correlations")}
    )
    workloads = []
    for data in section.get("workloads") or []:
        workload = Workload(**{name: value for name, value in data.items() if name != "models"})
        fields = {name: getattr(workload, name) for name in WORKLOAD_FIELDS}
        models = sorted(
            (
                entry["model"],
                entry["share"],
                entry.get("variant", ""),
                bool(entry.get("uses_reasoning", False)),
            )
            for entry in data.get("models") or []
        )
        workloads.append({**fields, "models": models})
    return {
        "name": product.name,
        "description": product.description,
        "default_correlation": product.default_correlation,
        "workloads": workloads,
        "correlations": {
            tuple(sorted((c["workload_a"], c["workload_b"]))): c["rho"]
            for c in section.get("correlations") or []
        },
    }


def first_difference(before: Any, after: Any, path: str) -> str | None:
    """The document path of the first place ``after`` differs from ``before`` (None if equal)."""
    if isinstance(before, dict) and isinstance(after, dict):
        for key in [*before, *(k for k in after if k not in before)]:
            if key not in before or key not in after:
                return f"{path}.{key}" if isinstance(key, str) else path
            found = first_difference(
                before[key], after[key], f"{path}.{key}" if isinstance(key, str) else path
            )
            if found is not None:
                return found
        return None
    if isinstance(before, list) and isinstance(after, list):
        if len(before) != len(after):
            return path
        for i, (a, b) in enumerate(zip(before, after, strict=True)):
            found = first_difference(a, b, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    return None if before == after else path


def plan_apply(*, scenario: Scenario, plan: Mapping[str, Any]) -> None:
    """Make ``scenario``'s plan the document's ``plan`` (see the module docstring). Call it in a
    transaction: it raises ValidationError after writing part of the plan when a later part is
    invalid."""
    product = scenario.product
    workloads = {w.name: w for w in product.workloads.all()}
    existing = {tier.name: tier for tier in scenario_tiers(scenario)}
    live = {tier.name: tier for tier in live_tiers(product)}
    tiers_in: Sequence[Mapping[str, Any]] = plan["tiers"]
    errors: Errors = {}
    _check_tiers(tiers_in, live, errors)
    _check_dropped([t for name, t in existing.items() if name not in {d["name"] for d in tiers_in}], errors)
    if errors:
        raise ValidationError(errors)
    names = {data["name"] for data in tiers_in}
    Tier.objects.filter(scenario=scenario).exclude(name__in=names).delete()
    # Stand-ins move between tiers in one step: free them first (one per live tier and scenario).
    Tier.objects.filter(scenario=scenario, name__in=names).update(live_tier=None)
    tiers = {}
    for i, data in enumerate(tiers_in):
        fields = {name: data[name] for name in TIER_FIELDS if name in data}
        live_tier = live.get(data["live_tier"]) if data.get("live_tier") else None
        try:
            if data["name"] in existing:
                tiers[data["name"]] = tier_update(
                    tier=existing[data["name"]], data={**fields, "live_tier": live_tier}
                )
            else:
                tiers[data["name"]] = tier_create(
                    product=product, scenario=scenario, live_tier=live_tier, **fields
                )
        except ValidationError as error:
            _merge(errors, prefixed(error, f"plan.tiers[{i}]."))
    _overrides_apply(scenario, plan.get("overrides") or [], workloads, errors)
    failed = {data["name"] for data in tiers_in} - set(tiers)
    segments = _segments_apply(plan.get("segments") or [], tiers, errors, failed)
    _usage_apply(
        scenario,
        plan.get("usage_distributions") or [],
        _PlanParts(tiers, segments, workloads, failed),
        errors,
    )
    _settings_apply(
        scenario, plan, workloads, {name: tier.pk for name, tier in tiers.items()}, failed, errors
    )
    if errors:
        raise ValidationError(errors)


def _settings_apply(
    scenario: Scenario,
    plan: Mapping[str, Any],
    workloads: Mapping[str, Workload],
    tier_ids: Mapping[str, int],
    failed: set[str],
    errors: Errors,
) -> None:
    # A lever naming a tier that failed is checked without it (the tier's own error is reported).
    levers_in = [
        {**lever, "tiers": [name for name in lever.get("tiers") or [] if name not in failed]}
        for lever in plan.get("levers") or []
    ]
    try:
        levers = levers_from_document(
            levers_in,
            workloads=workloads,
            tiers=tier_ids,
            catalog=catalog_models(
                lever["routing_model"] for lever in levers_in if lever.get("routing_model")
            ),
            path="plan.levers",
        )
    except ValidationError as error:
        _merge(errors, error)
        return
    try:
        scenario_update(scenario=scenario, data={**plan["settings"], "levers": levers})
    except ValidationError as error:
        for name, messages in error.message_dict.items():
            errors.setdefault("plan.levers" if name == "levers" else f"plan.settings.{name}", []).extend(
                messages
            )


def _overrides_apply(
    scenario: Scenario,
    overrides_in: Sequence[Mapping[str, Any]],
    workloads: Mapping[str, Workload],
    errors: Errors,
) -> None:
    """Make the scenario's overrides the document's: one per workload named, none for the others."""
    keys = [entry["model"] for data in overrides_in for entry in data.get("models") or []]
    catalog = catalog_models(keys)
    named: set[int] = set()
    for i, data in enumerate(overrides_in):
        path = f"plan.overrides[{i}]"
        workload = workloads.get(data["workload"])
        if workload is None:
            errors[f"{path}.workload"] = [f"No workload named {data['workload']!r} in this product."]
            continue
        if workload.pk in named:
            errors[f"{path}.workload"] = [f"Workload {workload.name!r} is overridden twice."]
            continue
        named.add(workload.pk)
        models = data.get("models")
        unknown = [j for j, entry in enumerate(models or []) if entry["model"] not in catalog]
        if unknown:
            errors[f"{path}.models[{unknown[0]}].model"] = ["This model is not in the catalog."]
            continue
        fields = {name: data.get(name) for name in OVERRIDE_FIELDS}
        mix = None if models is None else [{**entry, "model": catalog[entry["model"]].pk} for entry in models]
        try:
            workload_override_set(scenario=scenario, workload=workload, data={**fields, "model_mix": mix})
        except ValidationError as error:
            _merge(errors, prefixed(error, f"{path}."))
    scenario.workload_overrides.exclude(workload_id__in=named).delete()


def _check_tiers(tiers_in: Sequence[Mapping[str, Any]], live: Mapping[str, Tier], errors: Errors) -> None:
    seen: set[str] = set()
    for i, data in enumerate(tiers_in):
        if data["name"] in seen:
            errors[f"plan.tiers[{i}].name"] = [f"Tier {data['name']!r} appears twice in the plan."]
        seen.add(data["name"])
        if data.get("live_tier") and data["live_tier"] not in live:
            errors[f"plan.tiers[{i}].live_tier"] = [f"The live plan has no tier named {data['live_tier']!r}."]


def _check_dropped(dropped: Sequence[Tier], errors: Errors) -> None:
    """Tiers the document drops must not be named by an alert rule (the rule would go with them).
    Read through the tiers' reverse relation: alerts sit above simulation."""
    watched = (
        Tier.objects.filter(pk__in=[t.pk for t in dropped], alert_rules__isnull=False)
        .values_list("name", "alert_rules__name")
        .order_by("alert_rules__name")
    )
    for tier_name, rule_name in watched:
        errors.setdefault("plan.tiers", []).append(
            f"Tier {tier_name!r} is watched by alert rule {rule_name!r}: keep the tier, or change or "
            "delete the rule first."
        )


def _segments_apply(
    segments_in: Sequence[Mapping[str, Any]], tiers: Mapping[str, Tier], errors: Errors, failed: set[str]
) -> dict[SegmentKey, Segment | None]:
    """Make the segments of each plan tier the document's: matched by name within their tier
    and updated in place, created, or removed with their usage. Returns each document segment
    by (tier name, name): None for one that could not be written (its error is reported)."""
    wanted: dict[SegmentKey, tuple[int, Mapping[str, Any]]] = {}
    for i, data in enumerate(segments_in):
        path = f"plan.segments[{i}]"
        key = (data["tier"], data["name"])
        if data["tier"] in failed:
            continue  # the tier's own error is reported
        if data["tier"] not in tiers:
            errors[f"{path}.tier"] = [f"No tier named {data['tier']!r} in this plan."]
        elif key in wanted:
            errors[f"{path}.name"] = [f"Segment {data['name']!r} appears twice in tier {data['tier']!r}."]
        else:
            wanted[key] = (i, data)
    tier_names = {tier.pk: name for name, tier in tiers.items()}
    existing = {
        (tier_names[s.tier_id], s.name): s for s in Segment.objects.filter(tier__in=list(tiers.values()))
    }
    Segment.objects.filter(pk__in=[s.pk for key, s in existing.items() if key not in wanted]).delete()
    written: dict[SegmentKey, Segment | None] = {}
    for key, (i, data) in wanted.items():
        written[key] = None
        fields = {name: data[name] for name in SEGMENT_FIELDS if name in data}
        try:
            if key in existing:
                written[key] = segment_update(segment=existing[key], data=fields)
            else:
                written[key] = segment_create(tier=tiers[key[0]], **fields)
        except ValidationError as error:
            _merge(errors, prefixed(error, f"plan.segments[{i}]."))
    return written


@dataclass(frozen=True)
class _PlanParts:
    """What usage entries name, by name: the plan's tiers (``failed``: those the document could
    not write), their segments (None: could not be written) and the product's workloads."""

    tiers: Mapping[str, Tier]
    segments: Mapping[SegmentKey, Segment | None]
    workloads: Mapping[str, Workload]
    failed: set[str]


def _usage_apply(
    scenario: Scenario, usage_in: Sequence[Mapping[str, Any]], parts: _PlanParts, errors: Errors
) -> None:
    kept: set[tuple[int, int | None, int]] = set()
    for i, data in enumerate(usage_in):
        path = f"plan.usage_distributions[{i}]"
        segment_name = data.get("segment")
        if data["tier"] in parts.failed:
            continue  # the tier's own error is reported
        tier, workload = parts.tiers.get(data["tier"]), parts.workloads.get(data["workload"])
        if tier is None:
            errors[f"{path}.tier"] = [f"No tier named {data['tier']!r} in this plan."]
        if workload is None:
            errors[f"{path}.workload"] = [f"No workload named {data['workload']!r} in this product."]
        segment = None
        if tier is not None and segment_name is not None:
            if (tier.name, segment_name) not in parts.segments:
                errors[f"{path}.segment"] = [f"Tier {tier.name!r} has no segment named {segment_name!r}."]
                continue
            segment = parts.segments[(tier.name, segment_name)]
            if segment is None:
                continue  # the segment's own error is reported
        if tier is None or workload is None:
            continue
        key = (tier.pk, None if segment is None else segment.pk, workload.pk)
        if key in kept:
            who = tier.name if segment is None else f"{tier.name} / {segment.name}"
            errors[path] = [f"{who} x {workload.name} appears twice."]
            continue
        kept.add(key)
        parameters = {
            name: value for name, value in data.items() if name not in ("tier", "segment", "workload")
        }
        try:
            usage_distribution_set(tier=tier, workload=workload, segment=segment, **parameters)
        except ValidationError as error:
            _merge(errors, prefixed(error, f"{path}."))
    stale = [
        u.pk
        for u in UsageDistribution.objects.filter(tier__scenario=scenario)
        if (u.tier_id, u.segment_id, u.workload_id) not in kept
    ]
    UsageDistribution.objects.filter(pk__in=stale).delete()


def _merge(errors: Errors, error: ValidationError) -> None:
    for name, messages in error.message_dict.items():
        errors.setdefault(name, []).extend(messages)
