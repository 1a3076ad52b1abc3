"""``POST /api/v1/scenarios/import/``: a scenario document becomes a new product and scenario.

Everything is built through the product and scenario services in one transaction: any error
leaves nothing behind and is reported under the document path of the faulty field, such as
``plan.tiers[1].monthly_fee`` (version 2) or ``tiers[1].monthly_fee`` (version 1).

- Version 2: the product section gives the product, its workloads and correlations; each plan
  tier that stands for a live tier gives the new product's live tier of that name (with the
  plan tier's fields, segments and usage; the first one wins when several stand for the same
  name); the scenario then gets the document's plan, segments and levers (their tier names
  become the ids of the new scenario's tiers; ``planner.simulation.document_replace.plan_apply``).
- Version 1: the tiers are the new product's live plan and the scenario starts as a copy of it
  (lever tier names become the live tiers' ids, which the copy retargets to its own tiers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from planner.accounts.models import Organization
from planner.products import services as product_services
from planner.products.correlations import correlation_set
from planner.products.models import Product, Tier, Workload
from planner.products.segments import segments_copy
from planner.products.services import TIER_FIELDS
from planner.simulation.document import IMPORTABLE_VERSIONS, catalog_models, levers_from_document, prefixed
from planner.simulation.document_replace import plan_apply
from planner.simulation.models import Scenario
from planner.simulation.plans import scenario_tiers
from planner.simulation.scenarios import scenario_create
from pricing.models import AIModel


def scenario_document_import(*, organization: Organization, document: Mapping[str, Any]) -> Scenario:
    """Create a new product of ``organization`` and its scenario from ``document`` (version 1
    or 2, typed values as the API's document serializers give them). Raises ValidationError
    keyed by document path; nothing is saved then."""
    version = document.get("version")
    if version not in IMPORTABLE_VERSIONS:
        raise ValidationError({"version": "Only version 1 and 2 documents can be imported."})
    workloads_in = document["product"]["workloads"] if version == 2 else document["workloads"]
    workloads_path = "product.workloads" if version == 2 else "workloads"
    levers_in = (document["plan"] if version == 2 else document["scenario"]).get("levers") or []
    catalog = catalog_models(
        [entry["model"] for w in workloads_in for entry in w["models"]]
        + [lever["routing_model"] for lever in levers_in if lever.get("routing_model")]
    )
    errors: dict[str, list[str]] = {}
    for i, workload in enumerate(workloads_in):
        for j, entry in enumerate(workload["models"]):
            if entry["model"] not in catalog:
                errors[f"{workloads_path}[{i}].models[{j}].model"] = [
                    f"Model {entry['model']!r} is not in the catalog."
                ]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        if version == 2:
            return _import_v2(organization=organization, document=document, catalog=catalog)
        return _import_v1(organization=organization, document=document, catalog=catalog)


def _product_create(
    organization: Organization,
    fields: Mapping[str, Any],
    workloads_in: list[Mapping[str, Any]],
    correlations_in: list[Mapping[str, Any]],
    catalog: Mapping[str, AIModel],
    path: str,
) -> tuple[Product, dict[str, Workload]]:
    """The product with its workloads and correlations; errors at ``{path}...``."""
    try:
        product = product_services.product_create(organization=organization, **fields)
    except ValidationError as error:
        raise prefixed(error, "product.") from error
    workloads = {}
    for i, data in enumerate(workloads_in):
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
            workloads[data["name"]] = product_services.workload_create(
                product=product,
                models=mix,
                **{name: value for name, value in data.items() if name != "models"},
            )
        except ValidationError as error:
            raise prefixed(error, f"{path}workloads[{i}].") from error
    for i, data in enumerate(correlations_in):
        pair = []
        for side in ("workload_a", "workload_b"):
            if data[side] not in workloads:
                raise ValidationError(
                    {f"{path}correlations[{i}].{side}": f"No workload named {data[side]!r} in this document."}
                )
            pair.append(workloads[data[side]])
        try:
            correlation_set(product=product, workload_a=pair[0], workload_b=pair[1], rho=data["rho"])
        except ValidationError as error:
            raise prefixed(error, f"{path}correlations[{i}].") from error
    return product, workloads


def _import_v2(
    *, organization: Organization, document: Mapping[str, Any], catalog: Mapping[str, AIModel]
) -> Scenario:
    section = document["product"]
    fields = {name: value for name, value in section.items() if name not in ("workloads", "correlations")}
    product, _ = _product_create(
        organization, fields, section["workloads"], section.get("correlations") or [], catalog, "product."
    )
    plan = document["plan"]
    live: dict[str, Tier] = {}  # plan tier name -> the live tier it made
    for i, data in enumerate(plan["tiers"]):
        live_name = data.get("live_tier")
        if live_name and live_name not in {tier.name for tier in live.values()}:
            tier_fields = {name: data[name] for name in TIER_FIELDS if name in data}
            try:
                live[data["name"]] = product_services.tier_create(
                    product=product, **{**tier_fields, "name": live_name}
                )
            except ValidationError as error:
                raise prefixed(error, f"plan.tiers[{i}].") from error
    try:
        scenario = scenario_create(product=product, **plan["settings"])
    except ValidationError as error:
        raise prefixed(error, "plan.settings.") from error
    plan_apply(scenario=scenario, plan=plan)
    # The live plan (the template of new scenarios) gets the usage and segments of the tiers
    # that made it.
    pairs = []
    for plan_tier in scenario_tiers(scenario).filter(name__in=live):
        for usage in plan_tier.usage.filter(segment__isnull=True):
            usage.pk, usage.tier = None, live[plan_tier.name]
            usage.save()
        pairs.append((plan_tier, live[plan_tier.name]))
    segments_copy(pairs=pairs)
    return scenario


def _import_v1(
    *, organization: Organization, document: Mapping[str, Any], catalog: Mapping[str, AIModel]
) -> Scenario:
    product, workloads = _product_create(
        organization,
        document["product"],
        document["workloads"],
        document.get("correlations") or [],
        catalog,
        "",
    )
    tiers = {}
    for i, data in enumerate(document["tiers"]):
        try:
            tiers[data["name"]] = product_services.tier_create(product=product, **data)
        except ValidationError as error:
            raise prefixed(error, f"tiers[{i}].") from error
    for i, data in enumerate(document.get("usage_distributions") or []):
        path = f"usage_distributions[{i}]"
        if data["tier"] not in tiers:
            raise ValidationError({f"{path}.tier": f"No tier named {data['tier']!r} in this document."})
        if data["workload"] not in workloads:
            raise ValidationError(
                {f"{path}.workload": f"No workload named {data['workload']!r} in this document."}
            )
        params = {name: value for name, value in data.items() if name not in ("tier", "workload")}
        try:
            product_services.usage_distribution_set(
                tier=tiers[data["tier"]], workload=workloads[data["workload"]], **params
            )
        except ValidationError as error:
            raise prefixed(error, f"{path}.") from error
    scenario_in = dict(document["scenario"])
    levers = levers_from_document(
        scenario_in.pop("levers", None) or [],
        workloads=workloads,
        tiers={name: tier.pk for name, tier in tiers.items()},
        catalog=catalog,
        path="scenario.levers",
    )
    try:
        return scenario_create(product=product, levers=levers, **scenario_in)
    except ValidationError as error:
        raise prefixed(error, "scenario.") from error
