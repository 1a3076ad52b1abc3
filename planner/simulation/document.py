"""A scenario as one portable document: export it, import it as a new product and scenario.

The document holds the scenario's product (tiers, workloads with their model mix, usage
distributions, correlations) and the scenario itself. Everything refers to everything else by
*name* (tiers, workloads) or by catalog key (``provider/slug`` for models), never by database
id, so a document moves between organisations and installations. Format version
``DOCUMENT_VERSION``; money as Decimal, fractions as floats, as in the models.

Import builds everything through the product and scenario services in one transaction: any
error leaves nothing behind and is reported under the document path of the faulty field, such
as ``tiers[1].monthly_fee`` or ``scenario.levers``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from planner.accounts.models import Organization
from planner.products import services as product_services
from planner.products.correlations import correlation_set
from planner.products.models import UsageDistribution, WorkloadCorrelation
from planner.products.services import PRODUCT_FIELDS, TIER_FIELDS, USAGE_DISTRIBUTION_FIELDS, WORKLOAD_FIELDS
from planner.simulation.models import Scenario
from planner.simulation.scenarios import SCENARIO_FIELDS, scenario_create
from pricing.models import AIModel

DOCUMENT_FORMAT = "margin-planner/scenario"
DOCUMENT_VERSION = 1

#: The scenario's fields copied as they are; its levers follow, rewritten to name workloads and
#: models instead of their ids.
SCENARIO_COPIED_FIELDS = tuple(name for name in SCENARIO_FIELDS if name != "levers")


def model_key(model: AIModel) -> str:
    """The catalog key of ``model``: ``provider/slug``."""
    return f"{model.provider.slug}/{model.slug}"


def scenario_document_export(*, scenario: Scenario) -> dict[str, Any]:
    """The document of ``scenario`` and its product (see the module docstring)."""
    product = scenario.product
    tiers = list(product.tiers.order_by("position", "id"))
    workloads = list(
        product.workloads.order_by("position", "id").prefetch_related("model_mix__model__provider")
    )
    tier_names = {t.pk: t.name for t in tiers}
    workload_names = {w.pk: w.name for w in workloads}
    routing_ids = {lever.get("routing_model") for lever in scenario.levers} - {None}
    routing = {
        m.pk: model_key(m) for m in AIModel.objects.filter(pk__in=routing_ids).select_related("provider")
    }
    usage = UsageDistribution.objects.filter(tier__product=product).order_by(
        "tier__position", "tier_id", "workload_id"
    )
    correlations = WorkloadCorrelation.objects.filter(product=product).order_by(
        "workload_a_id", "workload_b_id"
    )
    return {
        "format": DOCUMENT_FORMAT,
        "version": DOCUMENT_VERSION,
        "product": {name: getattr(product, name) for name in PRODUCT_FIELDS},
        "tiers": [{name: getattr(tier, name) for name in TIER_FIELDS} for tier in tiers],
        "workloads": [
            {
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
            for workload in workloads
        ],
        "usage_distributions": [
            {
                "tier": tier_names[u.tier_id],
                "workload": workload_names[u.workload_id],
                **{name: getattr(u, name) for name in USAGE_DISTRIBUTION_FIELDS},
            }
            for u in usage
        ],
        "correlations": [
            {
                "workload_a": workload_names[c.workload_a_id],
                "workload_b": workload_names[c.workload_b_id],
                "rho": c.rho,
            }
            for c in correlations
        ],
        "scenario": {
            **{name: getattr(scenario, name) for name in SCENARIO_COPIED_FIELDS},
            "levers": [
                {
                    **lever,
                    "workloads": [
                        workload_names[w] for w in lever.get("workloads") or [] if w in workload_names
                    ],
                    "routing_model": routing.get(lever["routing_model"])
                    if lever.get("routing_model")
                    else None,
                }
                for lever in scenario.levers
            ],
        },
    }


def _prefixed(error: ValidationError, prefix: str) -> ValidationError:
    """``error`` with each field name prefixed by its document path (``tiers[0].`` ...)."""
    if hasattr(error, "error_dict"):
        return ValidationError(
            {
                (prefix.rstrip(".") if name == "__all__" else f"{prefix}{name}"): errors
                for name, errors in error.error_dict.items()
            }
        )
    return ValidationError({prefix.rstrip("."): error.error_list})


def _catalog_models(keys: set[str]) -> dict[str, AIModel]:
    found: dict[str, AIModel] = {}
    for key in keys:
        provider, _, slug = key.partition("/")
        model = AIModel.objects.filter(provider__slug=provider, slug=slug).select_related("provider").first()
        if model is not None:
            found[key] = model
    return found


def scenario_document_import(*, organization: Organization, document: Mapping[str, Any]) -> Scenario:
    """Create a new product of ``organization`` and its scenario from ``document``.

    ``document`` has the structure :func:`scenario_document_export` returns, with typed
    values (Decimal money, float fractions, ``datetime.date`` price date). Raises
    ValidationError keyed by document path; nothing is saved then.
    """
    if document.get("version") != DOCUMENT_VERSION:
        raise ValidationError({"version": f"Only version {DOCUMENT_VERSION} documents can be imported."})
    workloads_in = list(document["workloads"])
    model_keys = {entry["model"] for w in workloads_in for entry in w["models"]}
    levers_in = list(document["scenario"].get("levers") or [])
    model_keys |= {lever["routing_model"] for lever in levers_in if lever.get("routing_model")}
    catalog = _catalog_models(model_keys)
    errors: dict[str, list[str]] = {}
    for i, workload in enumerate(workloads_in):
        for j, entry in enumerate(workload["models"]):
            if entry["model"] not in catalog:
                errors[f"workloads[{i}].models[{j}].model"] = [
                    f"Model {entry['model']!r} is not in the catalog."
                ]
    for i, lever in enumerate(levers_in):
        if lever.get("routing_model") and lever["routing_model"] not in catalog:
            errors[f"scenario.levers[{i}].routing_model"] = [
                f"Model {lever['routing_model']!r} is not in the catalog."
            ]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        return _import(organization=organization, document=document, catalog=catalog)


def _import(
    *, organization: Organization, document: Mapping[str, Any], catalog: dict[str, AIModel]
) -> Scenario:
    try:
        product = product_services.product_create(organization=organization, **document["product"])
    except ValidationError as error:
        raise _prefixed(error, "product.") from error
    tiers = {}
    for i, data in enumerate(document["tiers"]):
        try:
            tiers[data["name"]] = product_services.tier_create(product=product, **data)
        except ValidationError as error:
            raise _prefixed(error, f"tiers[{i}].") from error
    workloads = {}
    for i, data in enumerate(document["workloads"]):
        fields = {name: value for name, value in data.items() if name != "models"}
        mix = [
            (
                catalog[entry["model"]],
                entry["share"],
                entry.get("variant", ""),
                entry.get("uses_reasoning", False),
            )
            for entry in data["models"]
        ]
        try:
            workloads[data["name"]] = product_services.workload_create(product=product, models=mix, **fields)
        except ValidationError as error:
            raise _prefixed(error, f"workloads[{i}].") from error

    def find(table: dict[str, Any], name: str, path: str, what: str) -> Any:
        if name not in table:
            raise ValidationError({path: f"No {what} named {name!r} in this document."})
        return table[name]

    for i, data in enumerate(document.get("usage_distributions") or []):
        tier = find(tiers, data["tier"], f"usage_distributions[{i}].tier", "tier")
        workload = find(workloads, data["workload"], f"usage_distributions[{i}].workload", "workload")
        params = {name: value for name, value in data.items() if name not in ("tier", "workload")}
        try:
            product_services.usage_distribution_set(tier=tier, workload=workload, **params)
        except ValidationError as error:
            raise _prefixed(error, f"usage_distributions[{i}].") from error
    for i, data in enumerate(document.get("correlations") or []):
        a = find(workloads, data["workload_a"], f"correlations[{i}].workload_a", "workload")
        b = find(workloads, data["workload_b"], f"correlations[{i}].workload_b", "workload")
        try:
            correlation_set(product=product, workload_a=a, workload_b=b, rho=data["rho"])
        except ValidationError as error:
            raise _prefixed(error, f"correlations[{i}].") from error
    scenario_in = dict(document["scenario"])
    levers = []
    for i, lever in enumerate(scenario_in.pop("levers", None) or []):
        levers.append(
            {
                **{name: value for name, value in lever.items() if value is not None},
                "workloads": [
                    find(workloads, name, f"scenario.levers[{i}].workloads", "workload").pk
                    for name in lever.get("workloads") or []
                ],
                **(
                    {"routing_model": catalog[lever["routing_model"]].pk}
                    if lever.get("routing_model")
                    else {}
                ),
            }
        )
    try:
        return scenario_create(product=product, levers=levers, **scenario_in)
    except ValidationError as error:
        raise _prefixed(error, "scenario.") from error
