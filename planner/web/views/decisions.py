"""Web pages of decision jobs: "Fix it" (an optimization started from the results page), the
sensitivity tornado, and applying an answer as a new scenario.

A job's page polls its progress like a run's, then shows the answer: the value with its figures
and the step beyond, or the frontier of a two-setting grid, or the tornado per tier.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from planner.accounts.selectors import organizations_for_user
from planner.simulation.adapter import SimulationInputError
from planner.simulation.decision_views import decision_view
from planner.simulation.models import Scenario, SimulationRun
from planner.simulation.optimizations import (
    error_field,
    optimization_apply,
    optimization_start,
    sensitivity_start,
)
from planner.simulation.runs import run_cancel
from planner.web.forms.decisions import fix_it_form
from planner.web.views.common import WRITE_ROLES, membership_in, require_writer
from planner.web.views.runs import progress_payload, run_detail_page


def _job(request: HttpRequest, pk: int) -> SimulationRun:
    jobs = (
        SimulationRun.objects.decisions()
        .select_related("scenario__product", "organization")
        .filter(organization__in=organizations_for_user(user=request.user))
        .defer("snapshot")
    )
    return get_object_or_404(jobs, pk=pk)


def _scenario(request: HttpRequest, pk: int) -> Scenario:
    scenario = get_object_or_404(
        Scenario.objects.select_related("product__organization").filter(
            product__organization__in=organizations_for_user(user=request.user)
        ),
        pk=pk,
    )
    require_writer(membership_in(request, scenario.product.organization_id))
    return scenario


@login_required
@require_POST
def optimize_start_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Start an optimization from the "Fix it" form of a run's results page (``run`` in POST);
    a form with errors shows that page again with them (400)."""
    scenario = _scenario(request, pk)
    run_id = request.POST.get("run", "")
    run = get_object_or_404(
        SimulationRun.objects.simulations(), pk=int(run_id) if run_id.isdigit() else 0, scenario=scenario
    )
    form = fix_it_form(
        scenario,
        (run.results or {}).get("tiers", []),
        request.POST,
        currency=scenario.product.organization.currency,
    )
    if form.is_valid():
        try:
            job = optimization_start(
                scenario=scenario,
                tier=form.tier_name(),
                vary=form.vary(),
                constraints=form.constraints(),
                confidence=float(form.cleaned_data["confidence"]),
                month=form.month_value(),
            )
        except (ValueError, SimulationInputError) as error:
            form.add_error(None, _plain(error))
        else:
            return redirect("decisions:detail", pk=job.pk)
    return run_detail_page(request, run, fix_form=form, status=400)


@login_required
@require_POST
def sensitivity_start_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Start a sensitivity analysis of the scenario (every tier, default ranges), or, with
    ``sweep_input`` in POST, a sweep of that input at 9 values over its range."""
    scenario = _scenario(request, pk)
    swept = request.POST.get("sweep_input", "")
    try:
        job = sensitivity_start(scenario=scenario, sweep={"input": swept, "points": 9} if swept else None)
    except (ValueError, SimulationInputError) as error:
        messages.error(request, _plain(error))
        return redirect("scenarios:editor", pk=scenario.pk)
    return redirect("decisions:detail", pk=job.pk)


def _plain(error: Exception) -> str:
    """A service error in the form's words: ``vary[0].min: must be...`` without the path."""
    _, message = error_field(error)
    return message[:1].upper() + message[1:]


@login_required
def decision_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Progress while the job runs; then the answer (optimization) or the tornado (sensitivity)."""
    job = _job(request, pk)
    context = {
        "job": job,
        "scenario": job.scenario,
        "organization": job.organization,
        "progress": progress_payload(job, reverse("decisions:detail", kwargs={"pk": job.pk})),
        "can_edit": membership_in(request, job.organization_id).role in WRITE_ROLES,
        "view": decision_view(
            job.kind, job.spec.get("request", {}), job.results, currency=job.organization.currency
        )
        if job.status == SimulationRun.Status.SUCCEEDED
        else None,
    }
    return render(request, "decisions/detail.html", context)


@login_required
def decision_progress_json(request: HttpRequest, pk: int) -> JsonResponse:
    job = _job(request, pk)
    return JsonResponse(progress_payload(job, reverse("decisions:detail", kwargs={"pk": job.pk})))


@login_required
@require_POST
def decision_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(request, pk)
    require_writer(membership_in(request, job.organization_id))
    run_cancel(run=job)
    messages.info(request, "Cancelled.")
    return redirect("decisions:detail", pk=job.pk)


@login_required
@require_POST
def decision_apply_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Create a scenario with the answer (or the chosen frontier point: ``point`` in POST, its
    index in the frontier) applied, and open it."""
    job = _job(request, pk)
    require_writer(membership_in(request, job.organization_id))
    point = None
    index = request.POST.get("point")
    frontier = (job.results or {}).get("frontier") or []
    if index is not None and index.isdigit() and int(index) < len(frontier):
        chosen = frontier[int(index)]
        point = {name: chosen[name] for name in (job.results or {}).get("settings", [])}
    try:
        scenario = optimization_apply(job=job, point=point)
    except ValueError as error:
        messages.error(request, _plain(error))
        return redirect("decisions:detail", pk=job.pk)
    messages.success(request, f"Created “{scenario.name}”. Run it to check the figures on a full run.")
    return redirect("scenarios:editor", pk=scenario.pk)
