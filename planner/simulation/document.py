"""A scenario as one portable document: export it, import it as a new product and scenario,
or replace the scenario's plan with an edited copy (``planner.simulation.document_import`` and
``planner.simulation.document_replace``).

Everything refers to everything else by *name* (tiers, workloads) or by catalog key
(``provider/slug`` for models), never by database id, so a document moves between organisations
and installations. Money as Decimal, fractions as floats, as in the models.

Version 2 (``DOCUMENT_VERSION``), what ``GET /api/v1/scenarios/{id}/document/`` answers::

    {"format": "margin-planner/scenario", "version": 2,
     "product": {name, description, default_correlation, "workloads": [...], "correlations": [...]},
     "plan": {"settings": {name, horizon_months, ...},
              "tiers": [{name, monthly_fee, ..., "live_tier": "Pro" | null}],
              "segments": [{"tier", name, share, position}],
              "usage_distributions": [{"tier", "segment": name | null, "workload", kind, ...}],
              "overrides": [{"workload", input_tokens_median, ..., "models": [...] | null}],
              "levers": [{..., "workloads": [names], "tiers": [names], "routing_model": key,
                          fee_scale | fee, included_credits, overage_price, hard_cap}]}}

``product`` is the product the scenario belongs to (read-only through a scenario); ``plan`` is
the scenario's own: its settings, tiers (``live_tier`` names the live tier each stands for),
the segments of its tiers (by tier name), usage (of a whole tier, ``segment`` null, or of one
of its segments), workload overrides (null fields follow the product) and levers (the tiers
whose plan they change by name). Version 1 (the scenario's tiers, workloads, usage,
correlations and scenario at the top level) is still imported.

``plan.segments``, ``segment`` on usage, and ``tiers`` and the plan fields on levers were added
to version 2 without a new version: they are optional, so every earlier version 2 document
is still valid and means what it meant (a plan without segments; levers on costs only, every
tier). Export always writes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError

from planner.products.models import Product, Segment, Tier, UsageDistribution, Workload, WorkloadCorrelation
from planner.products.segments import SEGMENT_FIELDS
from planner.products.services import PRODUCT_FIELDS, TIER_FIELDS, USAGE_DISTRIBUTION_FIELDS, WORKLOAD_FIELDS
from planner.simulation.models import Scenario
from planner.simulation.overrides import OVERRIDE_FIELDS
from planner.simulation.plans import scenario_tiers
from planner.simulation.scenarios import SCENARIO_FIELDS
from pricing.models import AIModel

DOCUMENT_FORMAT = "margin-planner/scenario"
DOCUMENT_VERSION = 2
#: Versions ``POST /api/v1/scenarios/import/`` accepts.
IMPORTABLE_VERSIONS = (1, 2)

#: The scenario's fields copied as they are (``plan.settings``); its levers follow, rewritten to
#: name workloads and models instead of their ids.
SCENARIO_COPIED_FIELDS = tuple(name for name in SCENARIO_FIELDS if name != "levers")


def model_key(model: AIModel) -> str:
    """The catalog key of ``model``: ``provider/slug``."""
    return f"{model.provider.slug}/{model.slug}"


def product_section(product: Product) -> dict[str, Any]:
    """The ``product`` section: the product's fields, workloads (with their model mix) and
    correlations, by name."""
    workloads = list(
        product.workloads.order_by("position", "id").prefetch_related("model_mix__model__provider")
    )
    names = {w.pk: w.name for w in workloads}
    correlations = WorkloadCorrelation.objects.filter(product=product).order_by(
        "workload_a_id", "workload_b_id"
    )
    return {
        **{name: getattr(product, name) for name in PRODUCT_FIELDS},
        "workloads": [_workload_json(workload) for workload in workloads],
        "correlations": [
            {"workload_a": names[c.workload_a_id], "workload_b": names[c.workload_b_id], "rho": c.rho}
            for c in correlations
        ],
    }


def _workload_json(workload: Workload) -> dict[str, Any]:
    return {
        **{name: getattr(workload, name) for name in WORKLOAD_FIELDS},
        "models": [
            {
                "model": str(row.model),  # provider/slug
                "share": row.share,
                "variant": row.variant,
                "uses_reasoning": row.uses_reasoning,
            }
            for row in workload.model_mix.all()
        ],
    }


def tier_json(tier: Tier) -> dict[str, Any]:
    """A plan tier as the document writes it: its fields and the live tier's name."""
    return {
        **{name: getattr(tier, name) for name in TIER_FIELDS},
        "live_tier": tier.live_tier.name if tier.live_tier is not None else None,
    }


def segment_json(segment: Segment, tier_names: Mapping[int, str]) -> dict[str, Any]:
    """A segment as the document writes it: its tier's name and its fields."""
    return {"tier": tier_names[segment.tier_id], **{name: getattr(segment, name) for name in SEGMENT_FIELDS}}


def usage_documents(
    usage: Iterable[UsageDistribution],
    tier_names: Mapping[int, str],
    workload_names: Mapping[int, str],
    segment_names: Mapping[int, str],
) -> list[dict[str, Any]]:
    """Usage distributions by tier, segment (null: the whole tier's) and workload name."""
    return [
        {
            "tier": tier_names[u.tier_id],
            "segment": segment_names[u.segment_id] if u.segment_id is not None else None,
            "workload": workload_names[u.workload_id],
            **{name: getattr(u, name) for name in USAGE_DISTRIBUTION_FIELDS},
        }
        for u in usage
    ]


def levers_to_document(
    levers: Iterable[Mapping[str, Any]], workload_names: Mapping[int, str], tier_names: Mapping[int, str]
) -> list[dict[str, Any]]:
    """Levers with workload and tier names and catalog keys instead of ids."""
    levers = list(levers)
    routing_ids = {lever["routing_model"] for lever in levers if lever.get("routing_model") is not None}
    routing = {
        m.pk: model_key(m) for m in AIModel.objects.filter(pk__in=routing_ids).select_related("provider")
    }
    return [
        {
            **lever,
            "workloads": [workload_names[w] for w in lever.get("workloads") or [] if w in workload_names],
            "tiers": [tier_names[t] for t in lever.get("tiers") or [] if t in tier_names],
            "routing_model": routing.get(lever["routing_model"]) if lever.get("routing_model") else None,
        }
        for lever in levers
    ]


def overrides_json(scenario: Scenario, workload_names: Mapping[int, str]) -> list[dict[str, Any]]:
    """The scenario's workload overrides by workload name, models as ``provider/slug``."""
    overrides = list(scenario.workload_overrides.order_by("workload__position", "workload_id"))
    ids = {entry["model"] for o in overrides for entry in o.model_mix or []}
    keys = {m.pk: model_key(m) for m in AIModel.objects.filter(pk__in=ids).select_related("provider")}
    return [
        {
            "workload": workload_names[o.workload_id],
            **{name: getattr(o, name) for name in OVERRIDE_FIELDS},
            "models": None
            if o.model_mix is None
            else [{**entry, "model": keys[entry["model"]]} for entry in o.model_mix],
        }
        for o in overrides
    ]


def plan_section(scenario: Scenario) -> dict[str, Any]:
    """The ``plan`` section: the scenario's settings, tiers, segments, usage, overrides and
    levers. Segments follow their tiers' order; usage is tier by tier, the whole tier's first,
    then each segment's, in workload order."""
    tiers = list(scenario_tiers(scenario).select_related("live_tier"))
    tier_names = {t.pk: t.name for t in tiers}
    tier_order = {t.pk: i for i, t in enumerate(tiers)}
    segments = sorted(
        Segment.objects.filter(tier__scenario=scenario),
        key=lambda s: (tier_order[s.tier_id], s.position, s.pk),
    )
    segment_order = {s.pk: i for i, s in enumerate(segments)}
    workload_names = dict(scenario.product.workloads.values_list("pk", "name"))
    usage = sorted(
        UsageDistribution.objects.filter(tier__scenario=scenario),
        key=lambda u: (
            tier_order[u.tier_id],
            -1 if u.segment_id is None else segment_order[u.segment_id],
            u.workload_id,
        ),
    )
    return {
        "settings": {name: getattr(scenario, name) for name in SCENARIO_COPIED_FIELDS},
        "tiers": [tier_json(tier) for tier in tiers],
        "segments": [segment_json(segment, tier_names) for segment in segments],
        "usage_distributions": usage_documents(
            usage, tier_names, workload_names, {s.pk: s.name for s in segments}
        ),
        "overrides": overrides_json(scenario, workload_names),
        "levers": levers_to_document(scenario.levers, workload_names, tier_names),
    }


def scenario_document_export(*, scenario: Scenario) -> dict[str, Any]:
    """The version 2 document of ``scenario`` (see the module docstring)."""
    return {
        "format": DOCUMENT_FORMAT,
        "version": DOCUMENT_VERSION,
        "product": product_section(scenario.product),
        "plan": plan_section(scenario),
    }


def prefixed(error: ValidationError, prefix: str) -> ValidationError:
    """``error`` with each field name prefixed by its document path (``plan.tiers[0].`` ...)."""
    if hasattr(error, "error_dict"):
        return ValidationError(
            {
                (prefix.rstrip(".") if name == "__all__" else f"{prefix}{name}"): errors
                for name, errors in error.error_dict.items()
            }
        )
    return ValidationError({prefix.rstrip("."): error.error_list})


def catalog_models(keys: Iterable[str]) -> dict[str, AIModel]:
    """The catalog models named by ``provider/slug`` keys (unknown keys are left out)."""
    found: dict[str, AIModel] = {}
    for key in set(keys):
        provider, _, slug = key.partition("/")
        model = AIModel.objects.filter(provider__slug=provider, slug=slug).select_related("provider").first()
        if model is not None:
            found[key] = model
    return found


def levers_from_document(
    levers: Iterable[Mapping[str, Any]],
    *,
    workloads: Mapping[str, Workload],
    tiers: Mapping[str, int],
    catalog: Mapping[str, AIModel],
    path: str,
) -> list[dict[str, Any]]:
    """Levers with workload, tier and model ids, from a document's names (``tiers``: tier ids
    by name). Raises ValidationError at ``{path}[i].workloads``, ``{path}[i].tiers`` or
    ``{path}[i].routing_model`` for a name the document does not know."""
    result = []
    for i, lever in enumerate(levers):
        unknown = [name for name in lever.get("workloads") or [] if name not in workloads]
        if unknown:
            raise ValidationError(
                {f"{path}[{i}].workloads": f"No workload named {unknown[0]!r} in this product."}
            )
        strangers = [name for name in lever.get("tiers") or [] if name not in tiers]
        if strangers:
            raise ValidationError({f"{path}[{i}].tiers": f"No tier named {strangers[0]!r} in this plan."})
        routing = lever.get("routing_model")
        if routing and routing not in catalog:
            raise ValidationError({f"{path}[{i}].routing_model": f"Model {routing!r} is not in the catalog."})
        result.append(
            {
                **{name: value for name, value in lever.items() if value is not None},
                "workloads": [workloads[name].pk for name in lever.get("workloads") or []],
                "tiers": [tiers[name] for name in lever.get("tiers") or []],
                **({"routing_model": catalog[routing].pk} if routing else {}),
            }
        )
    return result
