"""Web pages for margin alerts: the rules, a rule's history, create/edit/delete, and "send a test
alert now". Thin views: parse a form, call one selector or service, render. Everything is scoped
to the organisation the user acts in (``planner.web.views.common``); writes need an owner or editor.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from planner.accounts.models import Membership
from planner.alerts.evaluate import alert_send_test
from planner.alerts.models import AlertRule
from planner.alerts.rules import alert_rule_create, alert_rule_delete, alert_rule_update
from planner.alerts.selectors import alert_history, alert_rules_for_organization
from planner.web.forms.alerts import AlertRuleForm
from planner.web.views.common import WRITE_ROLES, FormPage, current_membership, require_writer

HISTORY_PAGE = 50
RULE_PAGE = FormPage(
    noun="Alert rule", template="alerts/rule_form.html", object_name="rule", detail="alerts:rule_history"
)


def _rule(membership: Membership, pk: int) -> AlertRule:
    return get_object_or_404(alert_rules_for_organization(organization=membership.organization), pk=pk)


def _writable_rule(request: HttpRequest, pk: int) -> AlertRule:
    membership = current_membership(request)
    require_writer(membership)
    return _rule(membership, pk)


@login_required
def rule_list(request: HttpRequest) -> HttpResponse:
    membership = current_membership(request)
    rules = alert_rules_for_organization(organization=membership.organization).order_by("name")
    return render(
        request,
        "alerts/rule_list.html",
        {"membership": membership, "rules": rules, "can_write": membership.role in WRITE_ROLES},
    )


@login_required
def rule_create(request: HttpRequest) -> HttpResponse:
    membership = current_membership(request)
    require_writer(membership)
    organization = membership.organization
    form = AlertRuleForm(request.POST or None, organization=organization)
    return RULE_PAGE.respond(
        request, form, None, lambda: alert_rule_create(organization=organization, **form.cleaned_data)
    )


@login_required
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    rule = _writable_rule(request, pk)
    form = AlertRuleForm(
        request.POST or None, organization=rule.organization, initial=AlertRuleForm.initial_for(rule)
    )
    return RULE_PAGE.respond(
        request, form, rule, lambda: alert_rule_update(rule=rule, data=form.cleaned_data)
    )


@login_required
def rule_history(request: HttpRequest, pk: int) -> HttpResponse:
    membership = current_membership(request)
    rule = _rule(membership, pk)
    page = Paginator(alert_history(rule=rule), HISTORY_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "alerts/rule_history.html",
        {"rule": rule, "page": page, "can_write": membership.role in WRITE_ROLES},
    )


@login_required
@require_POST
def rule_test(request: HttpRequest, pk: int) -> HttpResponse:
    rule = _writable_rule(request, pk)
    rows = alert_send_test(rule=rule, now=timezone.now())
    messages.success(request, f"Test alert queued for {len(rows)} recipient(s); it appears below.")
    return redirect("alerts:rule_history", pk=rule.pk)


@login_required
@require_POST
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = _writable_rule(request, pk)
    alert_rule_delete(rule=rule)
    messages.success(request, f"Alert rule {rule.name!r} deleted.")
    return redirect("alerts:rule_list")
