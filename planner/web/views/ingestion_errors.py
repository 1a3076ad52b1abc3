"""The "Ingestion errors" page (``/integrations/errors/``): vendor events accepted on the wire and
rejected afterwards (Stripe v2's stream, Orb's ``validation_failed``), newest first, filtered by
vendor. Every member of the organisation reads it; nothing here is priced."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from planner.actuals.compat.selectors import ingestion_errors_for_organization
from planner.actuals.compat.vendors import Vendor
from planner.web.views.common import current_membership

PAGE = 50


@login_required
def ingestion_error_list(request: HttpRequest) -> HttpResponse:
    membership = current_membership(request)
    vendor = request.GET.get("vendor") or None
    if vendor not in Vendor.values:
        vendor = None
    errors = ingestion_errors_for_organization(organization=membership.organization, vendor=vendor)
    page = Paginator(errors, PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "integrations/ingestion_errors.html",
        {"membership": membership, "page": page, "vendor": vendor, "vendors": Vendor.choices},
    )
