"""Server-rendered web pages: the dashboard. Views stay thin: they call selectors and render."""

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from planner.accounts.models import Membership
from planner.actuals.selectors import tier_margins_for_period, usage_periods
from planner.simulation.results import headline, runs_by_id, scenarios_with_latest_runs, sparkline
from planner.web.views.common import SESSION_KEY


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """Every scenario of the current organisation with its latest run's headline figures and a
    small chart of margin by month, and the actual-usage margin of the last month with data."""
    memberships = list(
        Membership.objects.filter(user_id=request.user.pk or 0)
        .select_related("organization")
        .order_by("created_at")
    )
    if not memberships:
        return render(request, "planner/dashboard.html", {"organization": None})
    slug = request.GET.get("org") or request.session.get(SESSION_KEY)
    membership = next((m for m in memberships if m.organization.slug == slug), memberships[0])
    request.session[SESSION_KEY] = membership.organization.slug
    organization = membership.organization
    scenarios: list[Any] = list(scenarios_with_latest_runs(organization=organization))  # annotated rows
    runs = runs_by_id(s.latest_result_run_id for s in scenarios)
    rows = []
    for scenario in scenarios:
        run = runs.get(scenario.latest_result_run_id) if scenario.latest_result_run_id else None
        results = run.results if run is not None else None
        rows.append(
            {
                "scenario": scenario,
                "run": run,
                "headline": headline(results) if results else None,
                "sparkline": sparkline(results) if results else None,
            }
        )
    periods = usage_periods(organization=organization)
    actuals = tier_margins_for_period(organization=organization, period=periods[0]) if periods else None
    context = {
        "organization": organization,
        "membership": membership,
        "memberships": memberships,
        "rows": rows,
        "actuals": actuals,
        "actuals_period": periods[0] if periods else None,
        "actuals_total": {
            "revenue": sum(t.revenue for t in actuals),
            "cogs": sum(t.cogs for t in actuals),
            "margin": sum(t.margin for t in actuals),
            "underwater": sum(t.underwater_customers for t in actuals),
            "customers": sum(t.customers for t in actuals),
        }
        if actuals
        else None,
    }
    return render(request, "planner/dashboard.html", context)
