"""``/api/v1/alert-rules/``: CRUD through the alert services, typed errors, tenant scoping and
the read-only history of a rule's mails."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from planner.accounts.models import Organization
from planner.alerts.evaluate import alert_send_test
from planner.alerts.models import AlertOutbox, AlertRule
from planner.products.models import Product
from planner.products.selectors import live_tiers

BASE = "/api/v1/alert-rules/"


def _body(product: Product, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Pro underwater",
        "metric": "underwater_share",
        "tier": live_tiers(product).get(name="Pro").pk,
        "comparator": "gt",
        "threshold": "7.5",
        "recipients": ["founder@example.com"],
    }
    body.update(fields)
    return body


def test_create_read_update_delete(key_client: Any, product: Product) -> None:
    client = key_client()
    created = client.post(BASE, _body(product, schedule="cron", cron="30 7 * * 1-5"), format="json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["threshold"] == "7.5000" and data["cron"] == "30 7 * * 1-5" and data["scope"] == "actual"
    assert data["last_measurement"] is None
    rule_url = f"{BASE}{data['id']}/"
    updated = client.patch(rule_url, {"schedule": "weekly", "digest": True}, format="json")
    assert updated.status_code == 200, updated.content
    assert updated.json()["cron"] == "0 8 * * 1" and updated.json()["digest"] is True
    assert client.get(BASE).json()["count"] == 1
    assert client.delete(rule_url).status_code == 204
    assert not AlertRule.objects.exists()


def test_errors_name_the_field(key_client: Any, product: Product) -> None:
    client = key_client()
    response = client.post(
        BASE,
        _body(product, scope="scenario", recipients=["nope"], threshold=7.5, schedule="cron", cron="x"),
        format="json",
    )
    assert response.status_code == 400
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"recipients[0]", "threshold"}  # typed errors first
    response = client.post(BASE, _body(product, scope="scenario", schedule="cron", cron="x"), format="json")
    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {"scenario", "cron"}


def test_foreign_ids_do_not_exist_and_history_is_scoped(
    key_client: Any, product: Product, other_organization: Organization, seeded: dict[str, Any]
) -> None:
    foreign = key_client(organization=other_organization)
    response = foreign.post(BASE, _body(product), format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "field": "tier",
        "code": "does_not_exist",
        "message": f'Invalid pk "{live_tiers(product).get(name="Pro").pk}" - object does not exist.',
    }
    rule = seeded["alert_rule"]
    alert_send_test(rule=rule, now=datetime(2026, 11, 26, 14, tzinfo=UTC))
    assert foreign.get(f"{BASE}{rule.pk}/history/").status_code == 404
    history = key_client().get(f"{BASE}{rule.pk}/history/")
    assert history.status_code == 200
    (row,) = history.json()["results"]
    assert row["kind"] == "test" and row["status"] == "pending" and row["recipient"] == "seeded@example.com"
    assert row["message_id"] == AlertOutbox.objects.get().message_id
    assert row["measured"]["items"][0]["metric"] == "underwater_share"


def test_viewer_keys_without_write_scope_cannot_create(key_client: Any, product: Product) -> None:
    response = key_client(scopes=["read"]).post(BASE, _body(product), format="json")
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "missing_scope"
