"""Web pages for actual usage: upload a usage CSV (for one product, whose live tiers and
workloads the page lists with their ids), customers by margin (underwater highlighted),
per-tier summary, fitted usage distributions and proposed user segments, each of which can be
written into one plan (the live plan or one scenario's); every customer of a month, searched and
paged by keyset; one customer's months."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from planner.accounts.models import Organization
from planner.actuals.customer_list import PAGE_SIZE, SEARCH_MAX_LENGTH, customer_page
from planner.actuals.insights import cogs_concentration, customer_history, margin_histogram, monthly_trend
from planner.actuals.models import Customer
from planner.actuals.segment_use import proposed_segments_named, proposed_segments_use
from planner.actuals.selectors import (
    customer_margins_for_period,
    tier_margins_for_period,
    usage_distributions_fitted,
    usage_fits_and_proposals,
    usage_periods,
    usage_segments_proposed,
)
from planner.actuals.services import usage_distribution_from_fit
from planner.actuals.usage_csv import CsvRowError, UsageCsvInvalid, usage_csv_ingest
from planner.core.formatting import money
from planner.products.models import Product, Tier, Workload
from planner.products.selectors import products_with_live_plans
from planner.simulation.plans import stand_ins
from planner.web.forms.actuals import CustomerSearchForm, UsageUploadForm
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
    products = products_with_live_plans(organization=organization)
    context: dict[str, object] = {
        "organization": organization,
        "can_edit": membership.role in ("owner", "editor"),
        "periods": periods,
        "period": period,
        "form": form or UsageUploadForm(products=products),
        "products": products,
        "row_errors": row_errors or [],
        "error_total": error_total,
        "search_max_length": SEARCH_MAX_LENGTH,
    }
    if period is not None:
        customers = customer_margins_for_period(organization=organization, period=period)
        fit_range = _fit_range(period)
        fits, proposals = usage_fits_and_proposals(organization=organization, period_range=fit_range)
        targets = _plan_targets({f.tier_id for f in fits} | {p.tier_id for p in proposals})
        # The trend bills every customer-month of up to 12 months: it is fetched by the page
        # (``actuals:trend``) so that the page itself costs one month's report.
        charts = {
            "histogram": margin_histogram(customers, organization.currency),
            "concentration": cogs_concentration(customers),
            "trend_url": reverse("actuals:trend"),
        }
        context.update(
            charts=charts,
            tiers=tier_margins_for_period(organization=organization, period=period),
            customers=customers[:CUSTOMERS_SHOWN],
            customer_count=len(customers),
            underwater_count=sum(1 for c in customers if c.underwater),
            fit_range=fit_range,
            fits=[(fit, targets[fit.tier_id]) for fit in fits],
            proposals=[(p, proposed_segments_named(p), targets[p.tier_id]) for p in proposals],
        )
    return render(request, "actuals/index.html", context, status=status)


LIVE_TARGET = "live"


def _plan_targets(tier_ids: Iterable[int]) -> dict[int, list[tuple[str, str]]]:
    """For each live tier, the plans a fit or a proposal for it can be written to (value,
    label): the live plan, then each scenario that has a tier standing for it (one query)."""
    targets: dict[int, list[tuple[str, str]]] = {
        pk: [(LIVE_TARGET, "Live plan (template of new scenarios)")] for pk in tier_ids
    }
    for tier in stand_ins(targets.keys()):
        assert tier.scenario is not None and tier.live_tier_id is not None  # a stand-in is a scenario's
        targets[tier.live_tier_id].append((str(tier.scenario_id), f"Scenario “{tier.scenario.name}”"))
    return targets


def _posted_live_tier(request: HttpRequest, organization: Organization) -> Tier:
    """The live tier of ``organization`` named by the POST's ``tier``; 404 for anything else."""
    pk = request.POST.get("tier", "")
    if not pk.isdigit():
        raise Http404("No such tier.")
    return get_object_or_404(Tier, pk=int(pk), product__organization=organization, scenario__isnull=True)


def _posted_period(request: HttpRequest) -> dt.date:
    try:
        return dt.date.fromisoformat(request.POST.get("period", ""))
    except ValueError as exc:
        raise Http404 from exc


def _target_plan(request: HttpRequest, live: Tier) -> tuple[Tier, str] | None:
    """The tier to write in the plan the POST's ``target`` chooses, with the plan's name: the
    live tier itself (``live``) or the tier of scenario ``<id>`` standing for it (404 when that
    scenario has none). None when no plan was chosen: nothing is ever written to several."""
    target = request.POST.get("target", "")
    if target == LIVE_TARGET:
        return live, "the live plan"
    if not target.isdigit():
        return None
    found = Tier.objects.filter(live_tier=live, scenario_id=int(target)).select_related("scenario").first()
    if found is None or found.scenario is None:
        raise Http404("That scenario has no tier standing for this live tier.")
    return found, f"scenario “{found.scenario.name}”"


def _back(period: dt.date) -> HttpResponse:
    return redirect(f"{reverse('actuals:index')}?period={period:%Y-%m}")


@login_required
def actuals(request: HttpRequest) -> HttpResponse:
    return _page(request)


@login_required
@require_POST
def actuals_upload(request: HttpRequest) -> HttpResponse:
    membership = current_membership(request)
    require_writer(membership)
    form = UsageUploadForm(
        request.POST, request.FILES, products=products_with_live_plans(organization=membership.organization)
    )
    if not form.is_valid():
        return _page(request, form=form, status=400)
    product: Product | None = form.cleaned_data["product"]
    try:
        result = usage_csv_ingest(
            organization=membership.organization, content=form.cleaned_data["file"].read(), product=product
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
    live = _posted_live_tier(request, organization)
    workload = get_object_or_404(Workload, pk=request.POST.get("workload"), product=live.product)
    period = _posted_period(request)
    chosen = _target_plan(request, live)
    if chosen is None:
        messages.error(request, "Choose the plan the fit is for: the live plan or one scenario.")
        return _back(period)
    tier, plan = chosen
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
    return _back(period)


@login_required
@require_POST
def segments_use(request: HttpRequest) -> HttpResponse:
    """Replace a live tier's segments in one plan with the two proposed from actual usage (the
    months of the fits): the live plan (``target=live``) or one scenario's (``target=<scenario
    id>``: its tier standing for the live tier). Never several at once."""
    membership = current_membership(request)
    require_writer(membership)
    organization = membership.organization
    live = _posted_live_tier(request, organization)
    period = _posted_period(request)
    chosen = _target_plan(request, live)
    if chosen is None:
        messages.error(request, "Choose the plan the segments are for: the live plan or one scenario.")
        return _back(period)
    tier, plan = chosen
    proposals = usage_segments_proposed(organization=organization, period_range=_fit_range(period))
    proposal = next((p for p in proposals if p.tier_id == live.pk), None)
    if proposal is None:
        raise Http404("No segments are proposed for this tier.")
    shares = ", ".join(f"{s.name} {s.share:.1%}" for s in proposed_segments_named(proposal))
    done = (
        f"{live.product.name}: {tier.name} in {plan} now has the proposed segments ({shares}), each "
        "with a gamma usage per workload. Run a scenario to see the effect."
    )
    flash_outcome(request, lambda: proposed_segments_use(tier=tier, proposal=proposal), success=done)
    return _back(period)


def _list_url(period: dt.date, search: str, cursor: str | None = None) -> str:
    query = {"period": f"{period:%Y-%m}", "q": search, "cursor": cursor or ""}
    return f"{reverse('actuals:customers')}?{urlencode({k: v for k, v in query.items() if v})}"


@login_required
def customer_list(request: HttpRequest) -> HttpResponse:
    """Every customer with usage in the month, by external id, searched and paged by keyset
    (``customer_page``), each billed by the report's rule. A search or a cursor that does not
    clean is left out of the list and its error shown (400): never a server error."""
    organization = current_membership(request).organization
    periods = usage_periods(organization=organization)
    period = _period(request, periods)
    form = CustomerSearchForm(request.GET)
    valid = form.is_valid()
    search = form.cleaned_data.get("q") or ""
    cursor = form.cleaned_data.get("cursor")
    context: dict[str, object] = {
        "organization": organization,
        "periods": periods,
        "period": period,
        "search": search,
        "search_max_length": SEARCH_MAX_LENGTH,
        "page_size": PAGE_SIZE,
        "errors": [error for errors in form.errors.values() for error in errors],
    }
    if period is not None:
        page = customer_page(
            organization=organization, period=period, search=search, cursor=cursor, size=PAGE_SIZE
        )
        context.update(
            page=page,
            next_url=_list_url(period, search, page.next_cursor) if page.next_cursor else None,
            previous_url=_list_url(period, search, page.previous_cursor) if page.previous_cursor else None,
            first_url=_list_url(period, search) if cursor is not None else None,
        )
    return render(request, "actuals/customers.html", context, status=200 if valid else 400)


@login_required
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One customer's months: tier, requests, credits, revenue, COGS and margin, with a chart."""
    organization = current_membership(request).organization
    customer = get_object_or_404(Customer, organization=organization, pk=pk)
    history = customer_history(organization=organization, customer=customer)
    chart = [
        {
            "period": m.period.isoformat()[:7],
            "revenue": float(m.revenue),
            "cogs": float(m.cogs),
            "margin": float(m.margin),
            **{
                f"{name}_text": money(getattr(m, name), organization.currency)
                for name in ("revenue", "cogs", "margin")
            },
        }
        for m in history
    ]
    context = {"organization": organization, "customer": customer, "history": history, "chart": chart}
    return render(request, "actuals/customer.html", context)


@login_required
def actuals_trend(request: HttpRequest) -> JsonResponse:
    """The month-by-month totals the actuals page draws (``monthly_trend``), as JSON."""
    organization = current_membership(request).organization
    periods = usage_periods(organization=organization)
    months = monthly_trend(organization=organization, periods=periods)
    return JsonResponse(
        {
            "trend": [
                {
                    "period": month.period.isoformat()[:7],
                    "revenue": float(month.revenue),
                    "cogs": float(month.cogs),
                    "margin": float(month.margin),
                    "underwater": month.underwater_customers,
                }
                for month in months
            ]
        }
    )
