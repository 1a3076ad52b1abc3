"""Web pages for actual usage: upload a usage CSV, customers by margin (underwater highlighted),
per-tier summary and fitted usage distributions that can seed a scenario."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from planner.actuals.selectors import (
    FittedUsage,
    customer_margins_for_period,
    tier_margins_for_period,
    usage_distributions_fitted,
    usage_periods,
)
from planner.actuals.services import usage_distribution_from_fit
from planner.actuals.usage_csv import CsvRowError, UsageCsvInvalid, usage_csv_ingest
from planner.products.models import Tier, Workload
from planner.simulation.plans import stand_ins
from planner.web.forms.account import UsageUploadForm
from planner.web.views.common import current_membership, flash_outcome, require_writer

FIT_MONTHS = 3
CUSTOMERS_SHOWN = 200


def _period(request: HttpRequest, periods: list[dt.date]) -> dt.date | None:
    raw = request.GET.get("period", "")
    try:
        return dt.date.fromisoformat(f"{raw}-01") if raw else (periods[0] if periods else None)
    except ValueError:
        return periods[0] if periods else None


def _fit_range(period: dt.date) -> tuple[dt.date, dt.date]:
    year, month = period.year, period.month - (FIT_MONTHS - 1)
    while month < 1:
        year, month = year - 1, month + 12
    return dt.date(year, month, 1), period


def _page(
    request: HttpRequest,
    *,
    form: UsageUploadForm | None = None,
    row_errors: list[CsvRowError] | None = None,
    error_total: int = 0,
    status: int = 200,
) -> HttpResponse:
    membership = current_membership(request)
    organization = membership.organization
    periods = usage_periods(organization=organization)
    period = _period(request, periods)
    context: dict[str, object] = {
        "organization": organization,
        "can_edit": membership.role in ("owner", "editor"),
        "periods": periods,
        "period": period,
        "form": form or UsageUploadForm(),
        "row_errors": row_errors or [],
        "error_total": error_total,
    }
    if period is not None:
        customers = customer_margins_for_period(organization=organization, period=period)
        context.update(
            tiers=tier_margins_for_period(organization=organization, period=period),
            customers=customers[:CUSTOMERS_SHOWN],
            customer_count=len(customers),
            underwater_count=sum(1 for c in customers if c.underwater),
            fit_range=_fit_range(period),
            fits=_fit_rows(
                usage_distributions_fitted(organization=organization, period_range=_fit_range(period))
            ),
        )
    return render(request, "actuals/index.html", context, status=status)


LIVE_TARGET = "live"


def _fit_rows(fits: list[FittedUsage]) -> list[tuple[FittedUsage, list[tuple[str, str]]]]:
    """Each fit with the plans it can be written to (value, label): the live plan, then each
    scenario of the tier's product that has a tier standing for the fit's live tier."""
    tier_ids = {f.tier_id for f in fits}
    targets: dict[int, list[tuple[str, str]]] = {
        pk: [(LIVE_TARGET, "Live plan (template of new scenarios)")] for pk in tier_ids
    }
    for tier in stand_ins(tier_ids):
        assert tier.scenario is not None and tier.live_tier_id is not None  # a stand-in is a scenario's
        targets[tier.live_tier_id].append((str(tier.scenario_id), f"Scenario “{tier.scenario.name}”"))
    return [(fit, targets[fit.tier_id]) for fit in fits]


@login_required
def actuals(request: HttpRequest) -> HttpResponse:
    return _page(request)


@login_required
@require_POST
def actuals_upload(request: HttpRequest) -> HttpResponse:
    membership = current_membership(request)
    require_writer(membership)
    form = UsageUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _page(request, form=form, status=400)
    try:
        result = usage_csv_ingest(
            organization=membership.organization, content=form.cleaned_data["file"].read()
        )
    except UsageCsvInvalid as error:
        return _page(request, form=form, row_errors=error.errors, error_total=error.total, status=400)
    text = f"Uploaded: {result.created:,} new records, {result.duplicates:,} duplicates"
    if result.conflicts:
        lines = ", ".join(str(c.index + 2) for c in result.conflicts[:10])
        text += f", {len(result.conflicts):,} conflicts (same event_id, other data; lines {lines})"
    messages.success(request, text + ".")
    return redirect("actuals:index")


@login_required
@require_POST
def fit_use(request: HttpRequest) -> HttpResponse:
    """Write the fitted distribution of a live tier x workload into one plan: the live plan
    (``target=live``) or one scenario's (``target=<scenario id>``: its tier standing for the
    live tier). Never several at once."""
    membership = current_membership(request)
    require_writer(membership)
    organization = membership.organization
    live = get_object_or_404(
        Tier, pk=request.POST.get("tier"), product__organization=organization, scenario__isnull=True
    )
    workload = get_object_or_404(Workload, pk=request.POST.get("workload"), product=live.product)
    try:
        period = dt.date.fromisoformat(request.POST.get("period", ""))
    except ValueError as exc:
        raise Http404 from exc
    back = redirect(f"{reverse('actuals:index')}?period={period:%Y-%m}")
    target = request.POST.get("target", "")
    if target == LIVE_TARGET:
        tier, plan = live, "the live plan"
    elif target.isdigit():
        found = (
            Tier.objects.filter(live_tier=live, scenario_id=int(target)).select_related("scenario").first()
        )
        if found is None or found.scenario is None:
            raise Http404("That scenario has no tier standing for this live tier.")
        tier, plan = found, f"scenario “{found.scenario.name}”"
    else:
        messages.error(request, "Choose the plan the fit is for: the live plan or one scenario.")
        return back
    fits = usage_distributions_fitted(organization=organization, period_range=_fit_range(period))
    fit = next((f.fit for f in fits if (f.tier_id, f.workload_id) == (live.pk, workload.pk)), None)
    if fit is None:
        raise Http404("No fit for this tier and workload.")
    spread = "no more spread than Poisson noise" if fit.poisson_limit else f"shape {fit.shape:.2f}"
    done = (
        f"{live.product.name}: {tier.name} × {workload.name} in {plan} now uses the fitted gamma "
        f"(mean {fit.mean:,.1f} requests/month, {spread}). Run a scenario to see the effect."
    )
    flash_outcome(
        request, lambda: usage_distribution_from_fit(tier=tier, workload=workload, fit=fit), success=done
    )
    return back
