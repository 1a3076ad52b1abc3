"""Web pages of simulation runs: live progress, results with charts, exports, comparison.

The progress JSON is polled by the run page (about every 500 ms) while the run is active;
results are read from the stored document, never recomputed.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from planner.accounts.selectors import organizations_for_user
from planner.simulation.models import SimulationRun
from planner.simulation.results import chart_data, headline, results_csv, worst_tier_index
from planner.simulation.runs import run_cancel
from planner.simulation.selectors import run_progress, runs_compared
from planner.simulation.summaries import lever_rows, lifetime_view, segment_rows, summary_sentences
from planner.web.forms.decisions import FixItForm, fix_it_form
from planner.web.views.common import WRITE_ROLES, current_membership, membership_in, require_writer


def _run(request: HttpRequest, pk: int, *, snapshot: bool = False) -> SimulationRun:
    runs = (
        SimulationRun.objects.simulations()
        .select_related("scenario__product", "organization")
        .filter(organization__in=organizations_for_user(user=request.user))
    )
    if not snapshot:
        runs = runs.defer("snapshot")
    return get_object_or_404(runs, pk=pk)


def _badge(status: str, blocks_done: int, fraction: float) -> str:
    """The status a page's badge shows: an active job with any block done is "running", even
    while its row still says queued (the bar would otherwise show 60% beside "queued")."""
    active = status in (SimulationRun.Status.QUEUED, SimulationRun.Status.RUNNING)
    return "running" if active and (blocks_done > 0 or 0 < fraction < 1) else str(status)


def progress_payload(run: SimulationRun, results_url: str) -> dict[str, object]:
    """What a job's page polls: status, progress, time left, and where its results show."""
    progress = run_progress(run=run)
    fraction = progress.fraction if run.status != SimulationRun.Status.SUCCEEDED else 1.0
    return {
        "status": run.status,
        "badge": _badge(run.status, progress.blocks_done, fraction),
        "finished": run.is_finished,
        "fraction": fraction,
        "blocks_done": progress.blocks_done,
        "blocks_total": progress.blocks_total,
        "users_simulated": progress.users_simulated,
        "users_total": progress.users_total,
        "elapsed_seconds": progress.elapsed_seconds,
        "remaining_seconds": progress.eta_seconds,
        "error": run.error,
        "results_url": results_url,
    }


@login_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Progress while the run is active; results with charts once it succeeded."""
    return run_detail_page(request, _run(request, pk, snapshot=True))


def run_detail_page(
    request: HttpRequest, run: SimulationRun, *, fix_form: FixItForm | None = None, status: int = 200
) -> HttpResponse:
    """The run's page (``fix_form``: the "Fix it" form as sent, with its errors)."""
    organization = run.organization
    context: dict[str, object] = {
        "run": run,
        "scenario": run.scenario,
        "organization": organization,
        "progress": progress_payload(run, reverse("runs:detail", kwargs={"pk": run.pk})),
        "can_edit": membership_in(request, run.organization_id).role in WRITE_ROLES,
    }
    if context["can_edit"] and run.status == SimulationRun.Status.SUCCEEDED and run.results:
        context["fix_form"] = fix_form or fix_it_form(
            run.scenario, run.results.get("tiers", []), currency=organization.currency
        )
    if run.status == SimulationRun.Status.SUCCEEDED and run.results:
        context.update(
            results=run.results,
            headline=headline(run.results),
            summary=summary_sentences(run.results, currency=organization.currency),
            lever_rows=lever_rows(run.results, organization.currency),
            segment_rows=segment_rows(run.results),
            lifetime=lifetime_view(run.results),
            charts=chart_data(run.results, run.snapshot, currency=organization.currency),
            default_tier=worst_tier_index(run.results),
        )
    return render(request, "runs/detail.html", context, status=status)


@login_required
def run_progress_json(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(
        progress_payload(run := _run(request, pk), reverse("runs:detail", kwargs={"pk": run.pk}))
    )


@login_required
@require_POST
def run_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    run = _run(request, pk)
    require_writer(membership_in(request, run.organization_id))
    run_cancel(run=run)
    messages.info(request, "Run cancelled.")
    return redirect("runs:detail", pk=run.pk)


@login_required
def run_export(request: HttpRequest, pk: int, format: str) -> HttpResponse:
    """The results document as JSON, or one CSV row per tier."""
    run = _run(request, pk)
    if not run.results:
        raise Http404("This run has no results yet.")
    name = f"run-{run.pk}-results.{format}"
    if format == "json":
        response = HttpResponse(json.dumps(run.results, indent=2), content_type="application/json")
    else:
        response = HttpResponse(
            results_csv(run.results, currency=run.organization.currency),
            content_type="text/csv; charset=utf-8",
        )
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
def compare(request: HttpRequest) -> HttpResponse:
    """Two or more scenarios side by side: their latest successful runs' figures and charts, what
    differs in their inputs, and each tier's changes marked where significant."""
    organization = current_membership(request).organization
    chosen_ids = {int(x) for x in request.GET.getlist("scenario") if x.isdigit()}
    context = {
        "organization": organization,
        **runs_compared(organization=organization, scenario_ids=chosen_ids),
    }
    return render(request, "runs/compare.html", context)
