"""``/api/v1/alert-channels/``: CRUD through the channel services, the webhook secret shown only
by create and rotate-secret, the test action through the outbox, 400s that name the field and
say why, and rules that name channels of their own organisation only."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from planner.accounts.models import Organization
from planner.alerts import outbound
from planner.alerts.channels import alert_channel_secret
from planner.alerts.models import AlertChannel, AlertOutbox, AlertRule
from planner.products.models import Product

BASE = "/api/v1/alert-channels/"
HOOK = "https://hooks.example.com/margin/abcd1234"
SLACK = "https://hooks.slack.com/services/T0123/B0456/abcdefghijklmnopqrstWXYZ"


def _errors(response: Any) -> dict[str, str]:
    assert response.status_code == 400, response.content
    return {e["field"]: e["message"] for e in response.json()["errors"]}


def test_create_shows_the_secret_once_and_no_read_returns_it(key_client: Any) -> None:
    client = key_client()
    created = client.post(BASE, {"name": "Ops hook", "kind": "webhook", "url": HOOK}, format="json")
    assert created.status_code == 201, created.content
    data = created.json()
    channel = AlertChannel.objects.get()
    assert data["secret"] == alert_channel_secret(channel) and len(data["secret"]) == 64
    assert data["url_masked"] == "https://hooks.example.com/margin/…1234" and "url" not in data
    assert set(data) == {"id", "name", "kind", "url_masked", "enabled", "created_at", "updated_at", "secret"}
    for read in (client.get(BASE), client.get(f"{BASE}{channel.pk}/")):
        assert read.status_code == 200
        assert data["secret"] not in read.content.decode() and HOOK not in read.content.decode()
        assert b'"secret"' not in read.content
    rotated = client.post(f"{BASE}{channel.pk}/rotate-secret/")
    assert rotated.status_code == 200
    assert rotated.json()["secret"] not in (None, data["secret"])
    channel.refresh_from_db()
    assert rotated.json()["secret"] == alert_channel_secret(channel)
    slack = client.post(BASE, {"name": "Slack", "kind": "slack", "url": SLACK}, format="json")
    assert slack.status_code == 201 and slack.json()["secret"] is None
    assert slack.json()["url_masked"] == "https://hooks.slack.com/services/T…/…WXYZ"
    rotate_slack = client.post(f"{BASE}{slack.json()['id']}/rotate-secret/")
    assert _errors(rotate_slack) == {"kind": "Only webhook channels have a signing secret."}


def test_update_delete_and_the_test_action(key_client: Any) -> None:
    client = key_client()
    channel_id = client.post(BASE, {"name": "Ops", "kind": "webhook", "url": HOOK}, format="json").json()[
        "id"
    ]
    url = f"{BASE}{channel_id}/"
    patched = client.patch(url, {"name": "Ops 2", "enabled": False}, format="json")
    assert patched.status_code == 200 and patched.json()["name"] == "Ops 2"
    assert AlertChannel.objects.get().url == HOOK  # no url sent: it stays
    put = client.put(url, {"name": "Ops 3", "kind": "webhook", "enabled": True}, format="json")
    assert put.status_code == 200, put.content
    moved = client.patch(url, {"url": "https://hooks.example.com/other/zzzz9999"}, format="json")
    assert moved.json()["url_masked"] == "https://hooks.example.com/other/…9999"
    assert _errors(client.patch(url, {"kind": "slack"}, format="json")) == {
        "kind": "The kind cannot be changed; create a new channel instead."
    }
    queued = client.post(f"{url}test/")
    assert queued.status_code == 202
    row = AlertOutbox.objects.get()
    assert queued.json()["id"] == row.pk and queued.json()["channel"] == channel_id
    assert (row.kind, row.status, row.rule_id, row.recipient) == ("test", "pending", None, "")
    deliveries = client.get(f"{url}deliveries/").json()["results"]
    assert [d["id"] for d in deliveries] == [row.pk]
    assert client.delete(url).status_code == 204
    assert not AlertChannel.objects.exists() and not AlertOutbox.objects.exists()


def test_errors_name_the_field_and_say_why(key_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client = key_client()
    assert _errors(client.post(BASE, {"name": "x", "kind": "webhook"}, format="json")) == {
        "url": "This field is required."
    }
    assert set(_errors(client.post(BASE, {"name": "x", "kind": "teams", "url": HOOK}, format="json"))) == {
        "kind"
    }
    monkeypatch.setattr(outbound, "_resolve", lambda host, port: ["93.184.215.14"])
    with override_settings(PLANNER_ALERT_ALLOW_PRIVATE_URLS=False):
        cases = {
            "http://hooks.example.com/x": "Use an https:// URL.",
            "https://169.254.169.254/latest/": "The host 169.254.169.254 is a private, loopback, link-local "
            "or reserved address (169.254.169.254).",
        }
        for url, message in cases.items():
            body = {"name": "x", "kind": "webhook", "url": url}
            assert _errors(client.post(BASE, body, format="json")) == {"url": message}
        body = {"name": "x", "kind": "slack", "url": "https://hooks.example.com/services/x"}
        assert _errors(client.post(BASE, body, format="json")) == {
            "url": "A Slack incoming webhook URL starts with https://hooks.slack.com/services/."
        }
    assert not AlertChannel.objects.exists()


def test_rules_take_channels_of_their_own_organisation_only(
    key_client: Any, product: Product, other_organization: Organization, seeded: dict[str, Any]
) -> None:
    client = key_client()
    own = seeded["alert_channel"]
    body = {"name": "To Slack", "metric": "gross_margin_pct", "threshold": "40", "channels": [own.pk]}
    created = client.post("/api/v1/alert-rules/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["channels"] == [own.pk] and created.json()["recipients"] == []
    assert list(AlertRule.objects.get(name="To Slack").channels.all()) == [own]
    foreign = key_client(organization=other_organization)
    response = foreign.post("/api/v1/alert-rules/", {**body, "name": "Sneaky"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "field": "channels",
        "code": "does_not_exist",
        "message": f'Invalid pk "{own.pk}" - object does not exist.',
    }
    neither = client.post("/api/v1/alert-rules/", {**body, "name": "Nowhere", "channels": []}, format="json")
    assert _errors(neither) == {"recipients": "Give at least one email address or channel."}
    assert foreign.get(f"{BASE}{own.pk}/").status_code == 404
    assert foreign.post(f"{BASE}{own.pk}/rotate-secret/").status_code == 404
    assert foreign.post(f"{BASE}{own.pk}/test/").status_code == 404
    assert not AlertOutbox.objects.exists()


def test_read_keys_cannot_create_rotate_or_test(key_client: Any, seeded: dict[str, Any]) -> None:
    reader = key_client(scopes=["read"])
    channel = seeded["alert_channel"]
    for path in (BASE, f"{BASE}{channel.pk}/rotate-secret/", f"{BASE}{channel.pk}/test/"):
        response = reader.post(path, {"name": "x", "kind": "webhook", "url": HOOK}, format="json")
        assert response.status_code == 403 and response.json()["errors"][0]["code"] == "missing_scope"
    assert reader.get(f"{BASE}{channel.pk}/").status_code == 200
