"""Alert pages: list, create, edit, history with status badges, "send a test alert now";
scoped to the user's organisation, writes for owners and editors only."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.models import User
from django.test import Client

from planner.accounts.models import Membership, Organization
from planner.alerts.models import AlertOutbox, AlertRule
from planner.alerts.rules import alert_rule_create
from planner.products.models import Product
from planner.products.selectors import live_tiers
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _form(product: Product, **fields: str) -> dict[str, str]:
    data = {
        "name": "Pro underwater",
        "scope": "actual",
        "scenario": "",
        "metric": "underwater_share",
        "tier": str(live_tiers(product).get(name="Pro").pk),
        "comparator": "gt",
        "threshold": "7.5",
        "schedule": "daily",
        "cron": "",
        "recipients": "founder@example.com\ncfo@example.com",
        "enabled": "on",
    }
    data.update(fields)
    return data


def test_create_edit_test_and_history(user: User, product: Product) -> None:
    client = _client(user)
    assert "Alerts" in client.get("/").content.decode()
    response = client.post("/alerts/new/", _form(product))
    rule = AlertRule.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/alerts/{rule.pk}/"
    assert rule.recipients == ["founder@example.com", "cfo@example.com"]
    page = client.get("/alerts/").content.decode()
    assert "Pro underwater" in page
    response = client.post(f"/alerts/{rule.pk}/edit/", _form(product, schedule="cron", cron="bad"))
    assert response.status_code == 200 and "Give five fields" in response.content.decode()
    response = client.post(f"/alerts/{rule.pk}/edit/", _form(product, schedule="cron", cron="15 9 * * 1"))
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.schedule, rule.crontab.minute, rule.crontab.hour) == ("cron", "15", "9")
    assert client.post(f"/alerts/{rule.pk}/test/").status_code == 302
    assert AlertOutbox.objects.filter(kind="test").count() == 2
    AlertOutbox.objects.filter(recipient="cfo@example.com").update(
        status="failed", last_error="451 try later"
    )
    history = client.get(f"/alerts/{rule.pk}/").content.decode()
    assert 'badge badge-pending">Pending' in history and 'badge badge-failed">Failed' in history
    assert "451 try later" in history and "Send a test alert now" in history
    assert client.post(f"/alerts/{rule.pk}/delete/").status_code == 302
    assert not AlertRule.objects.exists()


def test_field_errors_are_shown(user: User, product: Product) -> None:
    response = _client(user).post("/alerts/new/", _form(product, scope="scenario", recipients="x@"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Choose the scenario whose latest run this rule watches." in body
    assert "is not a valid email address" in body


def test_metrics_are_offered_with_their_unit_once(user: User, product: Product) -> None:
    choices = dict(_client(user).get("/alerts/new/").context["form"].fields["metric"].choices)
    assert choices["gross_margin_pct"] == "Gross margin (%)"
    assert choices["underwater_share"] == "Share of underwater users/customers (%)"
    assert choices["cogs_p95"] == "COGS per user p95 ($)"


def test_other_organisations_and_viewers(user: User, organization: Organization, product: Product) -> None:
    rule = alert_rule_create(
        organization=organization,
        name="Private",
        metric="gross_margin_pct",
        threshold=Decimal("40"),
        recipients=["founder@example.com"],
    )
    outsider = UserFactory.create(username="mallory")
    MembershipFactory.create(user=outsider, organization=OrganizationFactory.create(slug="rival"))
    client = _client(outsider)
    assert "Private" not in client.get("/alerts/").content.decode()
    for url in (f"/alerts/{rule.pk}/", f"/alerts/{rule.pk}/edit/"):
        assert client.get(url).status_code == 404
    assert client.post(f"/alerts/{rule.pk}/test/").status_code == 404
    viewer = UserFactory.create(username="victor")
    MembershipFactory.create(user=viewer, organization=organization, role=Membership.Role.VIEWER)
    client = _client(viewer)
    assert client.get(f"/alerts/{rule.pk}/").status_code == 200
    assert client.post(f"/alerts/{rule.pk}/test/").status_code == 404
    assert client.post("/alerts/new/", _form(product)).status_code == 404
    assert not AlertOutbox.objects.exists()
