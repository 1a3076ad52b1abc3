"""The "Integrations" page (``/integrations/``): for each billing vendor, the base URL to set in
its SDK (a copyable line) and the organisation's mapping, editable by owners and editors.
Thin views: parse the form, call ``planner.actuals.compat.mappings``, render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from planner.accounts.models import Membership
from planner.actuals.compat.mappings import billing_mapping_save, organization_mappings
from planner.actuals.compat.vendors import SDK_LINES, SDK_PACKAGES, Vendor
from planner.web.forms.integrations import BillingMappingForm
from planner.web.views.common import WRITE_ROLES, current_membership, form_save, require_writer


def _page(
    request: HttpRequest, membership: Membership, bound: BillingMappingForm | None = None, vendor: str = ""
) -> HttpResponse:
    organization = membership.organization
    base = request.build_absolute_uri("/").rstrip("/")
    vendors = []
    for mapping in organization_mappings(organization=organization):
        form = (
            bound
            if bound is not None and mapping.vendor == vendor
            else BillingMappingForm(
                organization=organization,
                initial=BillingMappingForm.initial_for(mapping),
                prefix=mapping.vendor,
            )
        )
        vendors.append(
            {
                "vendor": mapping.vendor,
                "label": Vendor(mapping.vendor).label,
                "package": SDK_PACKAGES[mapping.vendor],
                "line": SDK_LINES[mapping.vendor].format(base=base),
                "base_url": f"{base}/compat/{mapping.vendor}",
                "mapping": mapping,
                "form": form,
            }
        )
    return render(
        request,
        "integrations/index.html",
        {"membership": membership, "vendors": vendors, "can_write": membership.role in WRITE_ROLES},
        status=400 if bound is not None else 200,
    )


@login_required
def integrations(request: HttpRequest) -> HttpResponse:
    return _page(request, current_membership(request))


@login_required
@require_POST
def mapping_save(request: HttpRequest, vendor: str) -> HttpResponse:
    if vendor not in Vendor.values:
        raise Http404("No such vendor.")
    membership = current_membership(request)
    require_writer(membership)
    organization = membership.organization
    form = BillingMappingForm(request.POST, organization=organization, prefix=vendor)
    saved = form_save(
        request,
        form,
        lambda: billing_mapping_save(
            organization=organization, vendor=vendor, data=form.mapping_data(), partial=False
        ),
    )
    if saved is None:
        return _page(request, membership, form, vendor)
    messages.success(request, f"{Vendor(vendor).label} mapping saved.")
    return redirect(reverse("integrations:index") + f"#{vendor}")
