"""A first product: from a template in one click, or guided in four steps (plan -> workloads ->
usage -> run), each a form page that leads to the next and the last to the run's page."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from planner.simulation.adapter import SimulationInputError
from planner.simulation.first_product import first_product_create, first_usage_set, first_workload_add
from planner.simulation.models import Scenario
from planner.simulation.plans import scenario_tiers
from planner.simulation.runs import run_start
from planner.simulation.scenarios import scenario_update
from planner.simulation.templates_catalog import product_template_create
from planner.web.forms.first_product import GuidedPlanForm, GuidedRunForm, GuidedUsageForm, GuidedWorkloadForm
from planner.web.views.common import current_membership, form_errors_add, require_writer
from planner.web.views.scenarios import editor_scenario

#: The guide's steps: (number, title, URL name); step 1 has no scenario yet.
STEPS = (
    (1, "Plan", "scenarios:guided_plan"),
    (2, "Workloads", "scenarios:guided_workloads"),
    (3, "Usage", "scenarios:guided_usage"),
    (4, "Run", "scenarios:guided_run"),
)


def _step(
    request: HttpRequest, number: int, form: Any, *, scenario: Scenario | None = None, **context: Any
) -> HttpResponse:
    """A step's page: 400 when the POSTed form has errors (they name the field)."""
    page = {"form": form, "step": number, "steps": STEPS, "scenario": scenario, **context}
    status = 400 if request.method == "POST" and form.errors else 200
    return render(request, f"scenarios/guided_{STEPS[number - 1][1].lower()}.html", page, status=status)


@login_required
@require_POST
def product_from_template(request: HttpRequest) -> HttpResponse:
    """One click: the template's product, live plan and baseline scenario, then its editor."""
    membership = current_membership(request)
    require_writer(membership)
    try:
        scenario = product_template_create(
            organization=membership.organization, key=request.POST.get("template", "")
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("scenarios:product_new")
    messages.success(
        request,
        f"Created “{scenario.product.name}” with its Baseline scenario from the template. "
        "Press Run to simulate it; every figure can be changed below.",
    )
    return redirect("scenarios:editor", pk=scenario.pk)


@login_required
def guided_plan(request: HttpRequest) -> HttpResponse:
    """Step 1: the product's name and tiers; creates the product and its Baseline scenario."""
    membership = current_membership(request)
    require_writer(membership)
    form = GuidedPlanForm(request.POST or None, currency=membership.organization.currency)
    if request.method == "POST" and form.is_valid():
        try:
            scenario = first_product_create(
                organization=membership.organization, name=form.cleaned_data["product"], tiers=form.tiers()
            )
        except ValidationError as error:
            form_errors_add(form, form.service_errors(error))
        else:
            return redirect("scenarios:guided_workloads", pk=scenario.pk)
    return _step(request, 1, form)


@login_required
def guided_workloads(request: HttpRequest, pk: int) -> HttpResponse:
    """Step 2: add workloads one at a time (each with default usage in every tier)."""
    scenario, _ = editor_scenario(request, pk, write=True)
    form = GuidedWorkloadForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            first_workload_add(
                scenario=scenario, name=data["name"], preset=data["preset"], model_key=data["model"]
            )
        except ValidationError as error:
            form_errors_add(form, error)
        else:
            messages.success(request, f"Workload “{data['name']}” added.")
            if "next" in request.POST:
                return redirect("scenarios:guided_usage", pk=scenario.pk)
            return redirect("scenarios:guided_workloads", pk=scenario.pk)
    workloads = list(scenario.product.workloads.order_by("position", "id"))
    return _step(request, 2, form, scenario=scenario, workloads=workloads)


@login_required
def guided_usage(request: HttpRequest, pk: int) -> HttpResponse:
    """Step 3: requests per month of each tier and workload (defaults from step 2)."""
    scenario, _ = editor_scenario(request, pk, write=True)
    workloads = list(scenario.product.workloads.order_by("position", "id"))
    if not workloads:
        messages.error(request, "Add a workload first: usage is requests of a workload per month.")
        return redirect("scenarios:guided_workloads", pk=scenario.pk)
    form = GuidedUsageForm(request.POST or None, tiers=list(scenario_tiers(scenario)), workloads=workloads)
    if request.method == "POST" and form.is_valid():
        try:
            first_usage_set(scenario=scenario, usage=form.usage())
        except ValidationError as error:
            form_errors_add(form, form.service_errors(error))
        else:
            return redirect("scenarios:guided_run", pk=scenario.pk)
    return _step(request, 3, form, scenario=scenario)


@login_required
def guided_run(request: HttpRequest, pk: int) -> HttpResponse:
    """Step 4: the run's size and horizon; starts the first run and opens its page."""
    scenario, _ = editor_scenario(request, pk, write=True)
    initial = {
        "simulated_users": min(scenario.simulated_users, 100_000),
        "horizon_months": scenario.horizon_months,
    }
    form = GuidedRunForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            scenario_update(scenario=scenario, data=form.cleaned_data)
            run = run_start(scenario=scenario)
        except ValidationError as error:
            form_errors_add(form, error)
        except SimulationInputError as error:
            form.add_error(None, str(error))
        else:
            return redirect("runs:detail", pk=run.pk)
    return _step(request, 4, form, scenario=scenario)
