"""Web pages for alert channels (Slack, signed webhooks): the list, create/edit/delete, a
channel's page with its recent deliveries, "Send test" and "Rotate secret".

A webhook's signing secret is rendered in the answer to the POST that created the channel or
rotated its secret, never stored in the session and never shown again (as API keys are). Thin
views: parse a form, call one selector or service, render. Scoped to the organisation the user
acts in (``planner.web.views.common``); writes need an owner or editor.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from planner.accounts.models import Membership
from planner.alerts.channels import (
    alert_channel_create,
    alert_channel_delete,
    alert_channel_rotate_secret,
    alert_channel_send_test,
    alert_channel_update,
    url_masked,
)
from planner.alerts.models import AlertChannel
from planner.alerts.selectors import alert_channel_deliveries, alert_channels_for_organization
from planner.web.forms.alerts import AlertChannelForm
from planner.web.views.common import WRITE_ROLES, current_membership, form_save, require_writer

DELIVERIES_PAGE = 25


def _channel(membership: Membership, pk: int) -> AlertChannel:
    return get_object_or_404(alert_channels_for_organization(organization=membership.organization), pk=pk)


def _writable_channel(request: HttpRequest, pk: int) -> AlertChannel:
    membership = current_membership(request)
    require_writer(membership)
    return _channel(membership, pk)


def _detail(
    request: HttpRequest, membership: Membership, channel: AlertChannel, *, secret: str | None = None
) -> HttpResponse:
    deliveries = alert_channel_deliveries(channel=channel)
    page = Paginator(deliveries, DELIVERIES_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "alerts/channel_detail.html",
        {
            "channel": channel,
            "url_masked": url_masked(channel.url),
            "rules": channel.rules.order_by("name"),
            "page": page,
            "secret": secret,
            "can_write": membership.role in WRITE_ROLES,
        },
    )


@login_required
def channel_list(request: HttpRequest) -> HttpResponse:
    membership = current_membership(request)
    channels = (
        alert_channels_for_organization(organization=membership.organization)
        .annotate(rule_count=Count("rules"))
        .order_by("name")
    )
    return render(
        request,
        "alerts/channel_list.html",
        {
            "membership": membership,
            "channels": [(channel, url_masked(channel.url)) for channel in channels],
            "can_write": membership.role in WRITE_ROLES,
        },
    )


@login_required
def channel_create(request: HttpRequest) -> HttpResponse:
    membership = current_membership(request)
    require_writer(membership)
    form = AlertChannelForm(request.POST or None)
    created = form_save(
        request, form, lambda: alert_channel_create(organization=membership.organization, **form.cleaned_data)
    )
    if created is None:
        return render(request, "alerts/channel_form.html", {"form": form, "channel": None})
    channel, secret = created
    messages.success(request, f"Channel {channel.name!r} created.")
    return _detail(request, membership, channel, secret=secret)


@login_required
def channel_detail(request: HttpRequest, pk: int) -> HttpResponse:
    membership = current_membership(request)
    return _detail(request, membership, _channel(membership, pk))


@login_required
def channel_edit(request: HttpRequest, pk: int) -> HttpResponse:
    channel = _writable_channel(request, pk)
    form = AlertChannelForm(
        request.POST or None, channel=channel, initial=AlertChannelForm.initial_for(channel)
    )
    if (
        form_save(request, form, lambda: alert_channel_update(channel=channel, data=form.cleaned_data))
        is None
    ):
        return render(request, "alerts/channel_form.html", {"form": form, "channel": channel})
    messages.success(request, "Channel saved.")
    return redirect("alerts:channel_detail", pk=channel.pk)


@login_required
@require_POST
def channel_rotate_secret(request: HttpRequest, pk: int) -> HttpResponse:
    membership = current_membership(request)
    require_writer(membership)
    channel = _channel(membership, pk)
    secret = alert_channel_rotate_secret(channel=channel)
    messages.success(request, "New signing secret made: the old one no longer signs deliveries.")
    return _detail(request, membership, channel, secret=secret)


@login_required
@require_POST
def channel_test(request: HttpRequest, pk: int) -> HttpResponse:
    channel = _writable_channel(request, pk)
    alert_channel_send_test(channel=channel, now=timezone.now())
    messages.success(request, "Test message queued; it appears below.")
    return redirect("alerts:channel_detail", pk=channel.pk)


@login_required
@require_POST
def channel_delete(request: HttpRequest, pk: int) -> HttpResponse:
    channel = _writable_channel(request, pk)
    alert_channel_delete(channel=channel)
    messages.success(request, f"Channel {channel.name!r} deleted.")
    return redirect("alerts:channel_list")
