"""Alert channels end to end through real HTTP receivers (``planner.devtools.webhook_sink``): a
breach writes one outbox row per channel, delivery posts the Slack message or the signed
webhook event, the signature verifies with the recipe in docs/ALERTS.md as written, failures
retry with backoff (and Retry-After), and the SSRF guard refuses private addresses when saved
and when sent."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.test import override_settings

from planner.accounts.models import Organization
from planner.alerts import outbound
from planner.alerts.channels import (
    alert_channel_create,
    alert_channel_rotate_secret,
    alert_channel_secret,
    alert_channel_send_test,
    alert_channel_update,
    url_masked,
)
from planner.alerts.delivery import outbox_deliver
from planner.alerts.evaluate import alert_evaluate, alert_send_test, alerts_evaluate_due
from planner.alerts.models import AlertChannel, AlertOutbox, AlertRule
from planner.devtools.webhook_sink import ReceivedRequest, WebhookSink
from tests.alerts.support import NOW, RuleFactory, slack_sink, webhook_sink  # noqa: F401  (fixtures)
from tests.factories import OrganizationFactory

DOCS = Path(settings.BASE_DIR) / "docs" / "ALERTS.md"
PUBLIC = "93.184.215.14"  # resolved "public" address for hosts in these tests


def documented_verify() -> Any:
    """``verify`` exactly as docs/ALERTS.md shows it (the block after the verify-recipe mark)."""
    text = DOCS.read_text()
    block = re.search(r"<!-- verify-recipe.*?-->\s*```python\n(.*?)```", text, re.S)
    assert block is not None, "docs/ALERTS.md lost its verification recipe"
    namespace: dict[str, Any] = {}
    exec(compile(block.group(1), str(DOCS), "exec"), namespace)  # noqa: S102  (our own docs)
    return namespace["verify"]


def headers_of(request: ReceivedRequest) -> dict[str, str]:
    """The request's headers as a receiver's framework names them."""
    return {name.title(): value for name, value in request.headers.items()}


def channel(
    org: Organization, kind: str, url: str, name: str | None = None
) -> tuple[AlertChannel, str | None]:
    return alert_channel_create(organization=org, name=name or f"{kind} channel", kind=kind, url=url)


def test_a_breach_posts_a_signed_webhook_event_that_the_documented_recipe_verifies(
    webhook_sink: WebhookSink,  # noqa: F811
    november_usage: None,
    make_rule: RuleFactory,
    org: Organization,
) -> None:
    hook, secret = channel(org, "webhook", webhook_sink.url)
    assert secret is not None and len(secret) == 64 and secret not in hook.secret_seed
    rule = make_rule(recipients=["founder@example.com"], channels=[hook])
    assert alert_evaluate(rule=rule, now=NOW).rows_created == 2  # the mail and the webhook
    row = AlertOutbox.objects.get(channel=hook)
    assert (row.recipient, row.kind, row.window, row.html) == ("", "alert", "2026-11-26", "")
    assert outbox_deliver(now=NOW).sent == 2
    (request,) = webhook_sink.record.requests
    headers = headers_of(request)
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "MarginPlanner-Webhooks/1"
    assert headers["X-Margin-Planner-Event"] == "alert.breach"
    assert headers["X-Margin-Planner-Delivery"] == row.message_id
    assert abs(int(headers["X-Margin-Planner-Timestamp"]) - request.received_at) < 5
    body = json.loads(request.body)
    assert body["event"] == "alert.breach" and body["delivery_id"] == row.message_id
    assert body["organization"] == {"slug": org.slug, "name": org.name}
    assert body["rule"]["id"] == rule.pk and body["rule"]["threshold"] == "10.0000"
    assert body["window"] == "2026-11-26"
    assert body["measured"]["value_display"] == "25.0%" and body["measured"]["breached"] is True
    assert body["measured"]["top_customers"][0]["customer"] == "heavy"
    assert body["link"] == f"http://127.0.0.1:8000/alerts/{rule.pk}/"
    verify = documented_verify()
    assert verify(secret, headers, request.body, now=request.received_at)
    assert verify(secret, headers, request.body)  # against the receiver's own clock
    tampered_body = request.body.replace(b"25.0%", b"2.5%")
    assert not verify(secret, headers, tampered_body, now=request.received_at)
    later = {**headers, "X-Margin-Planner-Timestamp": str(int(headers["X-Margin-Planner-Timestamp"]) + 1)}
    assert not verify(secret, later, request.body, now=request.received_at)
    assert not verify("0" * 64, headers, request.body, now=request.received_at)
    assert not verify(secret, headers, request.body, now=request.received_at + 301)  # replayed late
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, "")


def test_the_slack_message_carries_the_figures_and_a_link(
    slack_sink: WebhookSink,  # noqa: F811
    november_usage: None,
    make_rule: RuleFactory,
    org: Organization,
) -> None:
    slack, secret = channel(org, "slack", slack_sink.url)
    assert secret is None and slack.secret_seed == ""
    rule = make_rule(recipients=[], channels=[slack])
    alert_evaluate(rule=rule, now=NOW)
    assert outbox_deliver(now=NOW).sent == 1
    (request,) = slack_sink.record.requests
    message = json.loads(request.body)
    assert message["text"] == "Pro tier: 25.0% of customers underwater in November"
    (section,) = message["blocks"]
    link = f"http://127.0.0.1:8000/alerts/{rule.pk}/"
    assert section["text"]["text"] == f"*<{link}|Pro tier: 25.0% of customers underwater in November>*"
    fields = [f["text"] for f in section["fields"]]
    assert fields == [
        "*Metric*\nShare of underwater users/customers %",
        "*Measured*\n25.0%",
        "*Alert when*\n&gt; 10.0%",
        "*Scope*\nActual usage 2026-11 · Pro tier",
        "*Window*\n2026-11-26",
    ]
    assert "x-margin-planner-signature" not in request.headers


def test_a_slack_channel_needs_ok_and_failures_retry_with_backoff_and_retry_after(
    webhook_sink: WebhookSink,  # noqa: F811
    november_usage: None,
    make_rule: RuleFactory,
    org: Organization,
) -> None:
    # A receiver that answers 200 without "ok" is not Slack having taken the message.
    slack, _ = channel(org, "slack", webhook_sink.url)
    rule = make_rule(recipients=[], channels=[slack])
    alert_evaluate(rule=rule, now=NOW)
    assert outbox_deliver(now=NOW).retrying == 1
    row = AlertOutbox.objects.get()
    assert row.last_error == "HTTP 200 from 127.0.0.1"
    assert row.next_attempt_at == NOW + timedelta(seconds=60)
    # 429 with Retry-After later than the backoff: the receiver's wish wins.
    webhook_sink.mode = "slack"
    webhook_sink.retry_after = 600
    webhook_sink.script(429, 503)
    at = row.next_attempt_at
    assert outbox_deliver(now=at).retrying == 1
    row.refresh_from_db()
    assert row.next_attempt_at == at + timedelta(seconds=600)
    assert row.last_error == "HTTP 429 from 127.0.0.1: injected failure"
    webhook_sink.retry_after = 1  # earlier than the backoff (4 minutes): the backoff wins
    at = row.next_attempt_at
    assert outbox_deliver(now=at).retrying == 1
    row.refresh_from_db()
    assert row.next_attempt_at == at + timedelta(minutes=4)
    assert outbox_deliver(now=row.next_attempt_at).sent == 1
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("sent", 4, "")


def test_webhook_retries_keep_the_delivery_id_redirects_are_not_followed_and_rows_fail_at_max(
    webhook_sink: WebhookSink,  # noqa: F811
    november_usage: None,
    make_rule: RuleFactory,
    org: Organization,
) -> None:
    hook, secret = channel(org, "webhook", webhook_sink.url)
    rule = make_rule(recipients=[], channels=[hook])
    alert_evaluate(rule=rule, now=NOW)
    webhook_sink.script(302, "drop", 404, 500)
    at = NOW
    with override_settings(ALERTS_MAX_ATTEMPTS=4):
        for _ in range(4):
            outbox_deliver(now=at)
            row = AlertOutbox.objects.get()
            at = row.next_attempt_at
    assert (row.status, row.attempts) == ("failed", 4)
    assert row.last_error == "HTTP 500 from 127.0.0.1: injected failure"
    requests = webhook_sink.record.requests
    assert [r.answered for r in requests] == [302, None, 404, 500]
    assert {r.path for r in requests} == {"/hooks/margin"}  # the redirect was not followed
    assert {r.headers["x-margin-planner-delivery"] for r in requests} == {row.message_id}
    verify = documented_verify()
    assert all(verify(secret, headers_of(r), r.body, now=r.received_at) for r in requests)
    assert len({r.body for r in requests}) == 1  # every attempt sends the same body
    assert outbox_deliver(now=at + timedelta(days=1)).sent == 0  # failed rows stay failed


def test_rotating_the_secret_signs_with_the_new_one_and_no_read_returns_it(
    webhook_sink: WebhookSink,  # noqa: F811
    org: Organization,
) -> None:
    hook, first = channel(org, "webhook", webhook_sink.url)
    assert first is not None
    second = alert_channel_rotate_secret(channel=hook)
    assert second != first and alert_channel_secret(AlertChannel.objects.get()) == second
    assert first not in str(AlertChannel.objects.values().get()) and second not in str(
        AlertChannel.objects.values().get()
    )
    alert_channel_send_test(channel=hook, now=NOW)
    assert outbox_deliver(now=NOW).sent == 1
    (request,) = webhook_sink.record.requests
    verify = documented_verify()
    assert verify(second, headers_of(request), request.body, now=request.received_at)
    assert not verify(first, headers_of(request), request.body, now=request.received_at)
    body = json.loads(request.body)
    assert (body["event"], body["rule"], body["measured"]) == ("alert.test", None, None)
    slack, _ = channel(org, "slack", "https://hooks.slack.com/services/T1/B2/abcd")
    with pytest.raises(ValidationError, match="Only webhook channels"):
        alert_channel_rotate_secret(channel=slack)


def test_a_rules_test_alert_goes_to_its_enabled_channels_too(
    slack_sink: WebhookSink,  # noqa: F811
    webhook_sink: WebhookSink,  # noqa: F811
    november_usage: None,
    make_rule: RuleFactory,
    org: Organization,
) -> None:
    slack, _ = channel(org, "slack", slack_sink.url)
    hook, _ = channel(org, "webhook", webhook_sink.url)
    off, _ = channel(org, "webhook", webhook_sink.url, name="Disabled")
    alert_channel_update(channel=off, data={"enabled": False})
    rule = make_rule(recipients=["founder@example.com"], channels=[slack, hook, off], threshold=Decimal("90"))
    rows = alert_send_test(rule=rule, now=NOW)
    assert sorted((r.recipient, r.channel_id or 0) for r in rows) == sorted(
        [("founder@example.com", 0), ("", slack.pk), ("", hook.pk)]
    )
    assert outbox_deliver(now=NOW).sent == 3
    assert json.loads(slack_sink.record.requests[0].body)["text"].startswith("[Test] Pro tier")
    assert json.loads(webhook_sink.record.requests[0].body)["event"] == "alert.test"


def test_digest_rules_send_one_slack_message_per_window_and_one_webhook_event_per_rule(
    slack_sink: WebhookSink,  # noqa: F811
    webhook_sink: WebhookSink,  # noqa: F811
    november_usage: None,
    make_rule: RuleFactory,
    org: Organization,
) -> None:
    slack, _ = channel(org, "slack", slack_sink.url)
    hook, _ = channel(org, "webhook", webhook_sink.url)
    share = make_rule(digest=True, recipients=[], channels=[slack, hook])
    loss = make_rule(
        name="Underwater loss",
        metric="underwater_loss",
        threshold=Decimal("5"),
        digest=True,
        recipients=[],
        channels=[slack, hook],
    )
    AlertRule.objects.update(created_at=NOW - timedelta(days=3))
    assert alerts_evaluate_due(now=NOW).rows_created == 3  # a Slack digest, two webhook events
    digest = AlertOutbox.objects.get(channel=slack)
    assert digest.kind == "digest" and set(digest.rules.all()) == {share, loss}
    assert {r.rule_id for r in AlertOutbox.objects.filter(channel=hook)} == {share.pk, loss.pk}
    assert alert_evaluate(rule=share, now=NOW).rows_created == 0
    outbox_deliver(now=NOW)
    (message,) = [json.loads(r.body) for r in slack_sink.record.requests]
    assert [b["type"] for b in message["blocks"]] == ["section", "divider", "section"]
    assert len(webhook_sink.record.requests) == 2


@override_settings(PLANNER_ALERT_ALLOW_PRIVATE_URLS=False)
@pytest.mark.parametrize(
    ("kind", "url", "message"),
    [
        ("webhook", "http://hooks.example.com/x", "Use an https:// URL."),
        ("webhook", "ftp://hooks.example.com/x", "Use an https:// URL."),
        ("webhook", "https://127.0.0.1/x", "private, loopback"),
        ("webhook", "https://10.1.2.3/x", "private, loopback"),
        ("webhook", "https://169.254.169.254/latest/meta-data/", "private, loopback"),
        ("webhook", "https://[::1]/x", "private, loopback"),
        ("webhook", "https://[::ffff:192.168.1.1]/x", "private, loopback"),
        ("webhook", "https://0.0.0.0/x", "private, loopback"),
        ("webhook", "https://internal.example.com/x", "private, loopback"),  # resolves to 10.0.0.7
        ("webhook", "https://user:pass@hooks.example.com/x", "no credentials"),
        ("webhook", "https://hooks.example.com/a b", "without spaces"),
        ("slack", "https://hooks.example.com/services/T1/B2/x", "https://hooks.slack.com/services/"),
        ("slack", "https://hooks.slack.com/workflows/x", "https://hooks.slack.com/services/"),
        ("teams", "https://hooks.example.com/x", "Choose one of"),
    ],
)
def test_urls_are_refused_when_saved(
    org: Organization, monkeypatch: pytest.MonkeyPatch, kind: str, url: str, message: str
) -> None:
    monkeypatch.setattr(
        outbound, "_resolve", lambda host, port: ["10.0.0.7"] if host.startswith("internal") else [PUBLIC]
    )
    with pytest.raises(ValidationError) as error:
        channel(org, kind, url)
    (field,) = error.value.message_dict
    assert field == ("kind" if kind == "teams" else "url")
    assert message in " ".join(error.value.message_dict[field])
    assert not AlertChannel.objects.exists()


@override_settings(PLANNER_ALERT_ALLOW_PRIVATE_URLS=False)
def test_a_host_that_resolves_to_a_private_address_at_send_time_is_refused(
    org: Organization,
    monkeypatch: pytest.MonkeyPatch,
    make_rule: RuleFactory,
    november_usage: None,
) -> None:
    """DNS rebinding: public when saved, loopback when sent; nothing is requested."""
    answers = iter([[PUBLIC], ["127.0.0.1", PUBLIC]])
    monkeypatch.setattr(outbound, "_resolve", lambda host, port: next(answers))
    hook, _ = channel(org, "webhook", "https://rebind.example.com/hook")
    make_rule(recipients=[], channels=[hook])
    alert_evaluate(rule=hook.rules.get(), now=NOW)
    assert outbox_deliver(now=NOW).retrying == 1
    row = AlertOutbox.objects.get()
    assert row.last_error == (
        "Refused: The host rebind.example.com is a private, loopback, link-local or reserved address"
        " (127.0.0.1)."
    )


def test_the_connection_goes_to_the_checked_address(
    webhook_sink: WebhookSink,  # noqa: F811
    org: Organization,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The host is resolved once, by the check, and the request goes to that address: a name no
    resolver knows reaches the receiver, and the request still names the host."""
    resolved: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        resolved.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(outbound, "_resolve", resolve)
    port = webhook_sink.url.split(":")[2].split("/")[0]
    hook, _ = channel(org, "webhook", f"http://receiver.invalid:{port}/hooks/margin")
    alert_channel_send_test(channel=hook, now=NOW)
    assert outbox_deliver(now=NOW).sent == 1
    (request,) = webhook_sink.record.requests
    assert request.headers["host"] == f"receiver.invalid:{port}"
    assert resolved == ["receiver.invalid"]


def test_urls_are_masked_and_names_unique(org: Organization) -> None:
    assert url_masked("https://hooks.slack.com/services/T0123/B0456/abcdefghijklmnopqrstWXYZ") == (
        "https://hooks.slack.com/services/T…/…WXYZ"
    )
    assert url_masked("https://hooks.example.com/catch/123/secret-token?sig=zzz9") == (
        "https://hooks.example.com/catch/…zzz9"
    )
    assert url_masked("https://example.com") == "https://example.com/"
    channel(org, "webhook", "https://hooks.example.com/a", name="Ops")
    with pytest.raises(ValidationError) as error:
        channel(org, "webhook", "https://hooks.example.com/b", name="Ops")
    assert error.value.message_dict == {"name": ["A channel named 'Ops' exists already."]}
    hook = AlertChannel.objects.get()
    with pytest.raises(ValidationError) as error:
        alert_channel_update(channel=hook, data={"kind": "slack"})
    assert set(error.value.message_dict) == {"kind"}
    alert_channel_update(channel=hook, data={"url": "", "name": "Ops 2"})  # an empty URL keeps it
    hook.refresh_from_db()
    assert (hook.name, hook.url) == ("Ops 2", "https://hooks.example.com/a")


def test_rules_need_recipients_or_channels_of_their_own_organisation(
    make_rule: RuleFactory, org: Organization
) -> None:
    with pytest.raises(ValidationError) as error:
        make_rule(recipients=[], channels=[])
    assert error.value.message_dict == {"recipients": ["Give at least one email address or channel."]}
    rival = OrganizationFactory.create(slug="rival")
    foreign, _ = channel(rival, "webhook", "https://hooks.example.com/rival")
    with pytest.raises(ValidationError) as error:
        make_rule(channels=[foreign])
    assert error.value.message_dict == {"channels": ["This channel does not exist."]}
    own, _ = channel(org, "webhook", "https://hooks.example.com/own")
    rule = make_rule(recipients=[], channels=[own])
    assert list(rule.channels.all()) == [own]
