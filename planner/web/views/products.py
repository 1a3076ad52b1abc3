"""The product page: the live plan (the tiers real customers are on, and their usage), the
product's workloads (shared by every scenario), its scenarios, and a new scenario copied from
the live plan.

Thin views: a form parses, one planner service validates and writes, its field errors go back
next to the field. Reads are scoped to the user's organisations (another organisation's product
is a 404); writes need owner or editor. Tier URLs here reach live tiers only: a scenario's tier
id is a 404 (scenario tiers are edited in the scenario editor).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch, ProtectedError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from planner.accounts.models import Membership
from planner.accounts.selectors import organizations_for_user
from planner.products.models import Product, Tier, UsageDistribution, Workload, WorkloadModel
from planner.products.selectors import live_tiers
from planner.products.services import tier_create, tier_delete, tier_update, usage_distribution_set
from planner.simulation.models import Scenario
from planner.simulation.scenarios import scenario_create
from planner.web.forms.products import ScenarioFromLiveForm
from planner.web.forms.scenarios import TierForm, UsageForm
from planner.web.views.common import form_save, membership_in, require_writer


def _product(request: HttpRequest, pk: int, *, write: bool = False) -> tuple[Product, Membership]:
    """The product ``pk`` of one of the user's organisations (else 404), with the user's
    membership there; ``write`` requires owner or editor (a viewer gets a 404)."""
    product = get_object_or_404(
        Product.objects.select_related("organization").filter(
            organization__in=organizations_for_user(user=request.user)
        ),
        pk=pk,
    )
    membership = membership_in(request, product.organization_id)
    if write:
        require_writer(membership)
    return product, membership


def _live_tier(product: Product, tier_pk: int) -> Tier:
    """A live tier of ``product``; a scenario's tier (or another product's) is a 404."""
    return get_object_or_404(Tier, pk=tier_pk, product=product, scenario__isnull=True)


def product_url(product: Product, anchor: str = "") -> str:
    url = reverse("products:detail", kwargs={"pk": product.pk})
    return f"{url}#{anchor}" if anchor else url


def _page_context(product: Product, membership: Membership) -> dict[str, Any]:
    mix = WorkloadModel.objects.select_related("model__provider", "price_sheet_entry", "self_hosted")
    workloads = list(
        product.workloads.order_by("position", "id").prefetch_related(Prefetch("model_mix", queryset=mix))
    )
    tiers = list(live_tiers(product))
    usage = {
        (d.tier_id, d.workload_id): d
        for d in UsageDistribution.objects.filter(
            tier__product=product, tier__scenario__isnull=True, segment__isnull=True
        )
    }
    scenarios = list(product.scenarios.order_by("name", "id"))
    return {
        "product": product,
        "organization": product.organization,
        "can_edit": membership.role in ("owner", "editor"),
        "tiers": tiers,
        "workloads": workloads,
        "usage_rows": [(t, [(w, usage.get((t.pk, w.pk))) for w in workloads]) for t in tiers],
        "scenarios": scenarios,
        # Workloads are the product's: they are edited from a scenario's editor (any would do).
        "workload_scenario": scenarios[0] if scenarios else None,
        "scenario_form": ScenarioFromLiveForm(),
    }


@login_required
@require_GET
def product_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The product's live plan, workloads and scenarios."""
    product, membership = _product(request, pk)
    return render(request, "products/detail.html", _page_context(product, membership))


@login_required
@require_POST
def scenario_new(request: HttpRequest, pk: int) -> HttpResponse:
    """A new scenario whose plan is a copy of the live plan, then its editor; a refused name
    shows the product page again with the error next to the field."""
    product, membership = _product(request, pk, write=True)
    form = ScenarioFromLiveForm(request.POST)
    scenario: Scenario | None = form_save(
        request, form, lambda: scenario_create(product=product, name=form.cleaned_data["name"])
    )
    if scenario is not None:
        messages.success(request, f"Scenario “{scenario.name}” created from the live plan.")
        return redirect("scenarios:editor", pk=scenario.pk)
    context = _page_context(product, membership)
    context["scenario_form"] = form
    return render(request, "products/detail.html", context, status=400)


def _form_page(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    """A form page; 400 when it shows a POST that was not saved."""
    return render(request, template, context, status=400 if request.method == "POST" else 200)


@login_required
def tier_edit(request: HttpRequest, pk: int, tier_pk: int | None = None) -> HttpResponse:
    """Add a live tier (no ``tier_pk``) or edit one; scenarios keep their own copies."""
    product, _ = _product(request, pk, write=True)
    tier = _live_tier(product, tier_pk) if tier_pk else None
    form = TierForm(request.POST or None, instance=tier, currency=product.organization.currency)

    def save() -> Tier:
        if tier is None:
            return tier_create(product=product, **form.cleaned_data)
        return tier_update(tier=tier, data=form.cleaned_data)

    saved = form_save(request, form, save)
    if saved is not None:
        messages.success(request, f"Live tier “{saved.name}” saved.")
        return redirect(product_url(product, "live-plan"))
    return _form_page(request, "products/tier_form.html", {"product": product, "tier": tier, "form": form})


@login_required
@require_POST
def tier_remove(request: HttpRequest, pk: int, tier_pk: int) -> HttpResponse:
    """Delete a live tier with its usage; refused (with a message) while customers' tier
    history points at it. Scenarios' copies stay, standing for no live tier."""
    product, _ = _product(request, pk, write=True)
    tier = _live_tier(product, tier_pk)
    try:
        tier_delete(tier=tier)
    except ProtectedError as error:  # customers' tier periods (actual usage) point at it
        customers = {getattr(period, "customer_id", None) for period in error.protected_objects}
        messages.error(
            request,
            f"The tier “{tier.name}” cannot be deleted: the tier history of {len(customers)} "
            f"customer{'s' if len(customers) != 1 else ''} of your actual usage points at it.",
        )
    else:
        messages.success(request, f"Live tier “{tier.name}” deleted. Scenarios keep their copies of it.")
    return redirect(product_url(product, "live-plan"))


@login_required
def usage_edit(request: HttpRequest, pk: int, tier_pk: int, workload_pk: int) -> HttpResponse:
    """The usage distribution of a live tier for one of the product's workloads."""
    product, _ = _product(request, pk, write=True)
    tier = _live_tier(product, tier_pk)
    workload = get_object_or_404(Workload, pk=workload_pk, product=product)
    distribution = UsageDistribution.objects.filter(
        tier=tier, workload=workload, segment__isnull=True
    ).first()
    form = UsageForm(request.POST or None, instance=distribution)
    saved = form_save(
        request, form, lambda: usage_distribution_set(tier=tier, workload=workload, **form.parameters())
    )
    if saved is not None:
        messages.success(request, f"Live usage of {tier.name} × {workload.name} saved.")
        return redirect(product_url(product, "usage"))
    context = {"product": product, "tier": tier, "workload": workload, "form": form}
    return _form_page(request, "products/usage_form.html", context)
