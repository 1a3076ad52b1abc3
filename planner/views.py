"""Server-rendered web pages. Views stay thin: they call selectors and render."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from planner.selectors import dashboard_organizations


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The signed-in user's organisations, products and scenarios with their latest run."""
    organizations = dashboard_organizations(user=request.user)
    return render(request, "planner/dashboard.html", {"organizations": organizations})
