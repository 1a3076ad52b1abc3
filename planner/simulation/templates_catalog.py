"""Product templates: a full product and its baseline scenario to start from in one click.

Each template is a scenario document (version 2, docs/API.md "Scenario documents") in
``product_templates/<key>.json`` with a ``template`` section (``key``, ``title``, ``summary``)
for the pages that offer it. Creating a product from one goes through the document import
(``scenario_document_import``), so a template is validated exactly as an imported document is,
and an exported scenario document becomes a template by adding the section. The baseline
pins no price date: it prices at today's catalog prices. docs/TEMPLATES.md gives the source of
every figure or marks it as an assumption.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError

from planner.accounts.models import Organization
from planner.simulation.document_import import scenario_document_import
from planner.simulation.models import Scenario

TEMPLATE_DIR = Path(__file__).resolve().parent / "product_templates"
#: The order templates are offered in.
TEMPLATE_KEYS = ("chat-app", "coding-copilot", "research-assistant")


@dataclass(frozen=True)
class ProductTemplate:
    key: str
    title: str
    summary: str
    document: dict[str, Any]

    @property
    def tiers(self) -> list[str]:
        return [tier["name"] for tier in self.document["plan"]["tiers"]]

    @property
    def workloads(self) -> list[str]:
        return [workload["name"] for workload in self.document["product"]["workloads"]]


@cache
def product_templates() -> tuple[ProductTemplate, ...]:
    """Every template, in ``TEMPLATE_KEYS`` order (read once per process)."""
    templates = []
    for key in TEMPLATE_KEYS:
        document = json.loads((TEMPLATE_DIR / f"{key}.json").read_text(encoding="utf-8"))
        about = document.pop("template")
        templates.append(
            ProductTemplate(key=key, title=about["title"], summary=about["summary"], document=document)
        )
    return tuple(templates)


def product_template(key: str) -> ProductTemplate:
    """The template ``key``; ValidationError on ``template`` when there is none."""
    for template in product_templates():
        if template.key == key:
            return template
    raise ValidationError(
        {"template": f"No product template {key!r}; choose one of {', '.join(TEMPLATE_KEYS)}."}
    )


def product_template_create(*, organization: Organization, key: str) -> Scenario:
    """A new product of ``organization`` from template ``key`` with its live plan and its
    baseline scenario (returned), named after the template ("Chat app", then "Chat app 2", ...
    when the name is taken). Nothing is saved on error."""
    template = product_template(key)
    document = copy.deepcopy(template.document)
    base = document["product"]["name"]
    taken = set(organization.products.filter(name__startswith=base).values_list("name", flat=True))
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base} {n}"
    document["product"]["name"] = name
    return scenario_document_import(organization=organization, document=document)
