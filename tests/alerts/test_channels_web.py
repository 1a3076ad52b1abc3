"""Alert channel pages: list, create (the webhook secret shown once, with a copy button), edit
(the URL kept when left empty, never shown whole), rotate, send test, recent deliveries, delete;
the rule form ticks channels. Scoped to the user's organisation, writes for owners and editors."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.test import Client

from planner.accounts.models import Membership, Organization
from planner.alerts.channels import alert_channel_create, alert_channel_secret
from planner.alerts.models import AlertChannel, AlertOutbox, AlertRule
from planner.products.models import Product
from tests.alerts.test_alerts_web import _form
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

SLACK = "https://hooks.slack.com/services/T0123/B0456/abcdefghijklmnopqrstWXYZ"
HOOK = "https://hooks.example.com/margin/abcd1234"


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_create_shows_the_secret_once_then_edit_test_rotate_and_delete(
    user: User, organization: Organization
) -> None:
    client = _client(user)
    assert "Channels (Slack, webhooks)" in client.get("/alerts/").content.decode()
    response = client.post(
        "/alerts/channels/new/", {"name": "Ops hook", "kind": "webhook", "url": HOOK, "enabled": "on"}
    )
    channel = AlertChannel.objects.get()
    secret = alert_channel_secret(channel)
    page = response.content.decode()
    assert response.status_code == 200 and "Channel &#x27;Ops hook&#x27; created." in page
    assert (
        f'<code class="secret" id="webhook-secret">{secret}</code>' in page
        and 'data-copy="webhook-secret"' in page
    )
    again = client.get(f"/alerts/channels/{channel.pk}/").content.decode()
    assert secret not in again and HOOK not in again and "https://hooks.example.com/margin/…1234" in again
    listed = client.get("/alerts/channels/").content.decode()
    assert "Ops hook" in listed and HOOK not in listed
    edit = client.get(f"/alerts/channels/{channel.pk}/edit/").content.decode()
    assert HOOK not in edit and "Leave empty to keep it." in edit
    response = client.post(
        f"/alerts/channels/{channel.pk}/edit/", {"name": "Ops", "kind": "slack", "url": ""}
    )
    assert response.status_code == 302  # the kind is fixed: the disabled field keeps it
    channel.refresh_from_db()
    assert (channel.name, channel.kind, channel.url, channel.enabled) == ("Ops", "webhook", HOOK, False)
    response = client.post(f"/alerts/channels/{channel.pk}/rotate-secret/")
    rotated = alert_channel_secret(AlertChannel.objects.get())
    assert (
        rotated != secret and rotated in response.content.decode() and secret not in response.content.decode()
    )
    assert client.post(f"/alerts/channels/{channel.pk}/test/").status_code == 302
    AlertOutbox.objects.update(status="retrying", attempts=2, last_error="HTTP 503 from hooks.example.com")
    detail = client.get(f"/alerts/channels/{channel.pk}/").content.decode()
    assert 'badge badge-retrying">Retrying' in detail and "HTTP 503 from hooks.example.com" in detail
    assert "Send test" in detail and "Rotate secret" in detail and rotated not in detail
    assert client.post(f"/alerts/channels/{channel.pk}/delete/").status_code == 302
    assert not AlertChannel.objects.exists() and not AlertOutbox.objects.exists()


def test_field_errors_are_shown(user: User, organization: Organization) -> None:
    client = _client(user)
    response = client.post("/alerts/channels/new/", {"name": "", "kind": "webhook", "url": "ftp://x"})
    body = response.content.decode()
    assert (
        response.status_code == 200
        and "This field is required." in body
        and not AlertChannel.objects.exists()
    )
    response = client.post("/alerts/channels/new/", {"name": "x", "kind": "webhook", "url": "ftp://x"})
    assert "Use an https:// URL." in response.content.decode()


def test_the_rule_form_ticks_channels(user: User, organization: Organization, product: Product) -> None:
    slack, _ = alert_channel_create(organization=organization, name="Ops Slack", kind="slack", url=SLACK)
    client = _client(user)
    assert "Ops Slack" in client.get("/alerts/new/").content.decode()
    response = client.post("/alerts/new/", _form(product, recipients="", channels=str(slack.pk)))
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = AlertRule.objects.get()
    assert (rule.recipients, list(rule.channels.all())) == ([], [slack])
    assert "Ops Slack" in client.get("/alerts/").content.decode()
    response = client.post("/alerts/new/", _form(product, name="Nowhere", recipients=""))
    assert "Give at least one email address or channel." in response.content.decode()


def test_other_organisations_and_viewers(user: User, organization: Organization) -> None:
    channel, _ = alert_channel_create(
        organization=organization, name="Private hook", kind="webhook", url=HOOK
    )
    outsider = UserFactory.create(username="mallory")
    MembershipFactory.create(user=outsider, organization=OrganizationFactory.create(slug="rival"))
    client = _client(outsider)
    assert "Private hook" not in client.get("/alerts/channels/").content.decode()
    for url in (f"/alerts/channels/{channel.pk}/", f"/alerts/channels/{channel.pk}/edit/"):
        assert client.get(url).status_code == 404
    for action in ("test", "rotate-secret", "delete"):
        assert client.post(f"/alerts/channels/{channel.pk}/{action}/").status_code == 404
    viewer = UserFactory.create(username="victor")
    MembershipFactory.create(user=viewer, organization=organization, role=Membership.Role.VIEWER)
    client = _client(viewer)
    page = client.get(f"/alerts/channels/{channel.pk}/").content.decode()
    assert "Private hook" in page and "Send test</button>" not in page
    for action in ("test", "rotate-secret", "delete"):
        assert client.post(f"/alerts/channels/{channel.pk}/{action}/").status_code == 404
    assert (
        client.post("/alerts/channels/new/", {"name": "x", "kind": "webhook", "url": HOOK}).status_code == 404
    )
    assert AlertChannel.objects.get().secret_seed == channel.secret_seed and not AlertOutbox.objects.exists()
