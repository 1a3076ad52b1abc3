"""Web pages of replays (issue 15): start one (a plan, months, prices), follow its progress,
read its totals per tier with their intervals, page through its flipped customers, download
its customer-months."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from planner.accounts.selectors import organizations_for_user
from planner.actuals.replay_export import replay_csv_lines, replay_json_lines
from planner.actuals.replay_jobs import replay_start
from planner.actuals.replay_selectors import (
    FLIP_FILTERS,
    replay_row_replays,
    replay_rows_after,
    replay_rows_of,
    replays_for_organization,
    row_replay,
)
from planner.actuals.selectors import usage_periods
from planner.core.formatting import money
from planner.prices.selectors import price_sheets_for_organization
from planner.products.selectors import products_for_organization
from planner.simulation.adapter import SimulationInputError
from planner.simulation.models import SimulationRun
from planner.simulation.optimizations import error_field
from planner.simulation.runs import run_cancel
from planner.simulation.selectors import scenarios_for_organization
from planner.web.forms.replays import ReplayForm
from planner.web.views.common import WRITE_ROLES, current_membership, membership_in, require_writer
from planner.web.views.runs import progress_payload

#: Flipped customer-months shown per page.
FLIPS_PER_PAGE = 50
#: Replays listed on the start page.
RECENT_REPLAYS = 10
_FORM_FIELDS = {
    "from": "period_from",
    "to": "period_to",
    "price_date": "price_date",
    "price_sheet": "price_sheet",
}


def _replay(request: HttpRequest, pk: int) -> SimulationRun:
    jobs = (
        SimulationRun.objects.replays()
        .select_related("scenario__product", "organization")
        .filter(organization__in=organizations_for_user(user=request.user))
        .defer("snapshot")
    )
    return get_object_or_404(jobs, pk=pk)


def _form(request: HttpRequest, data: Any = None) -> ReplayForm:
    organization = current_membership(request).organization
    return ReplayForm(
        data,
        products=list(products_for_organization(organization=organization).order_by("name", "pk")),
        scenarios=list(
            scenarios_for_organization(organization=organization)
            .select_related("product")
            .order_by("product__name", "name")
        ),
        months=usage_periods(organization=organization),
        sheets=price_sheets_for_organization(organization=organization),
    )


@login_required
def replay_new(request: HttpRequest) -> HttpResponse:
    """The form (GET) or a replay started from it (POST: redirect to its page; 400 with the
    form's errors otherwise); the organisation's latest replays."""
    membership = current_membership(request)
    form = _form(request, request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        require_writer(membership)
        if form.is_valid():
            period_from, period_to = form.months()
            try:
                job = replay_start(
                    organization=membership.organization,
                    period_from=period_from,
                    period_to=period_to,
                    price_date=form.cleaned_data["price_date"],
                    price_sheet=form.cleaned_data["price_sheet"],
                    **form.target(),
                )
            except (ValueError, SimulationInputError) as error:
                field, message = error_field(error)
                form.add_error(_FORM_FIELDS.get(field or ""), message[:1].upper() + message[1:])
            else:
                return redirect("actuals:replay", pk=job.pk)
        status = 400
    recent = replays_for_organization(organization=membership.organization).defer("snapshot")[:RECENT_REPLAYS]
    context = {
        "form": form,
        "organization": membership.organization,
        "can_edit": membership.role in WRITE_ROLES,
        "replays": [(job, _plan_name(job)) for job in recent.select_related("scenario__product")],
    }
    return render(request, "actuals/replay_new.html", context, status=status)


def _plan_name(job: SimulationRun) -> str:
    if job.scenario is not None:
        return f"{job.scenario.product.name}: scenario {job.scenario.name}"
    return "Live plan"


def _money(value: str) -> Decimal:
    return Decimal(value)


def _group_view(group: dict[str, Any]) -> dict[str, Any]:
    """A tier's (or the total's) figures as the template reads them (money as Decimal)."""
    actual = {k: _money(v) for k, v in group["actual"].items()}
    replayed = {k: _money(v) for k, v in group["replayed"].items()}
    return {**group, "actual": actual, "replayed": replayed, "margin_change": _money(group["margin_change"])}


def _after(raw: str) -> tuple[int, dt.date] | None:
    """The keyset cursor ``<customer id>:<YYYY-MM>`` (None: the first page, or a bad one)."""
    customer, _, month = raw.partition(":")
    try:
        return int(customer), dt.date.fromisoformat(month + "-01")
    except ValueError:
        return None


@login_required
def replay_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Progress while the replay runs; then its totals, intervals, flips and notes."""
    job = _replay(request, pk)
    context: dict[str, Any] = {
        "job": job,
        "organization": job.organization,
        "plan_name": _plan_name(job),
        "request_": job.spec.get("request", {}),
        "progress": progress_payload(job, reverse("actuals:replay", kwargs={"pk": job.pk})),
        "can_edit": membership_in(request, job.organization_id).role in WRITE_ROLES,
    }
    results = job.results if job.status == SimulationRun.Status.SUCCEEDED else None
    if results:
        flip = request.GET.get("flip", "any")
        flip = flip if flip in FLIP_FILTERS else "any"
        after = _after(request.GET.get("after", ""))
        page = replay_rows_after(replay_rows_of(job, flip=flip), after, FLIPS_PER_PAGE)
        rows = [row_replay(vars(row)) for row in page[:FLIPS_PER_PAGE]]
        last = rows[-1] if rows and len(page) > FLIPS_PER_PAGE else None
        tiers = [_group_view(group) for group in results["tiers"]]
        context.update(
            results=results,
            total=_group_view(results["total"]),
            tiers=tiers,
            flip=flip,
            flips=rows,
            next_after=f"{last.customer_id}:{last.period:%Y-%m}" if last else "",
            first_page=after is None,
            chart={
                "tiers": [t["tier_name"] or "No tier" for t in tiers],
                "actual": [float(t["actual"]["margin"]) for t in tiers],
                "replayed": [float(t["replayed"]["margin"]) for t in tiers],
                "actual_text": [money(t["actual"]["margin"], job.organization.currency) for t in tiers],
                "replayed_text": [money(t["replayed"]["margin"], job.organization.currency) for t in tiers],
            },
        )
    return render(request, "actuals/replay.html", context)


@login_required
def replay_progress_json(request: HttpRequest, pk: int) -> JsonResponse:
    job = _replay(request, pk)
    return JsonResponse(progress_payload(job, reverse("actuals:replay", kwargs={"pk": job.pk})))


@login_required
@require_POST
def replay_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    job = _replay(request, pk)
    require_writer(membership_in(request, job.organization_id))
    run_cancel(run=job)
    messages.info(request, "Cancelled.")
    return redirect("actuals:replay", pk=job.pk)


@login_required
def replay_export(request: HttpRequest, pk: int, extension: str) -> HttpResponseBase:
    """Every customer-month of a succeeded replay as CSV (money in USD) or JSON."""
    if extension not in ("csv", "json"):
        raise Http404("A replay downloads as .csv or .json.")
    job = _replay(request, pk)
    if job.status != SimulationRun.Status.SUCCEEDED:
        messages.error(request, f"The replay is {job.status}: its download exists once it has succeeded.")
        return redirect("actuals:replay", pk=job.pk)
    rows = replay_row_replays(replay_rows_of(job))
    if extension == "csv":
        response = StreamingHttpResponse(replay_csv_lines(rows), content_type="text/csv; charset=utf-8")
    else:
        summary = {"id": job.pk, "request": job.spec.get("request", {}), "result": job.results}
        response = StreamingHttpResponse(replay_json_lines(summary, rows), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="replay-{job.pk}.{extension}"'
    return response
