"""Channel messages: the Slack message and the signed webhook event of an outbox row, and one
attempt to send it (docs/ALERTS.md, "Channels").

The payload is built from the row alone (its kind, window, delivery id, subject and the figures
it stores), so every attempt sends the same body; only a webhook's timestamp and signature
change from one attempt to the next. A Slack attempt succeeds on ``200`` with the body ``ok``, a
webhook attempt on any ``2xx``; anything else (a redirect, which is not followed, a 4xx or 5xx,
a timeout) raises ``ChannelError`` for the outbox to retry, with the receiver's ``Retry-After``
when it sent one.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
from typing import Any

from django.urls import reverse

from planner.alerts.channels import alert_channel_secret
from planner.alerts.models import AlertChannel, AlertOutbox
from planner.alerts.outbound import RefusedURL, post_json, url_host
from planner.alerts.outbox import site_link

#: Slack allows 50 blocks a message; a digest lists at most this many rules, then a count.
SLACK_MAX_ITEMS = 20


class ChannelError(Exception):
    """An attempt that failed; ``retry_after``: the receiver's wish, in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=`` and the hex HMAC-SHA256, keyed with ``secret``, of ``<timestamp>.<body>``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _link(item: dict[str, Any] | None) -> str:
    if item is None:
        return site_link(reverse("alerts:rule_list"))
    return site_link(reverse("alerts:rule_history", args=[item["rule"]]))


def _items(row: AlertOutbox) -> list[dict[str, Any]]:
    return list(row.measured.get("items", []))


def webhook_event(row: AlertOutbox) -> str:
    return "alert.test" if row.kind == AlertOutbox.Kind.TEST else "alert.breach"


def webhook_body(row: AlertOutbox) -> bytes:
    """The JSON event of a row (webhook rows carry one rule, or none for a channel's test)."""
    items = _items(row)
    item = items[0] if items else None
    rule = None
    if item is not None:
        rule = {
            "id": item["rule"],
            "name": item["rule_name"],
            "metric": item["metric"],
            "scope": item["scope"],
            "tier": item["tier"],
            "scenario": item["scenario"],
            "comparator": item["comparator"],
            "threshold": item["threshold"],
        }
    body = {
        "event": webhook_event(row),
        "delivery_id": row.message_id,
        "organization": {"slug": row.organization.slug, "name": row.organization.name},
        "rule": rule,
        "window": row.window,
        "subject": row.subject,
        "measured": item,
        "link": _link(item),
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _mrkdwn(text: object) -> str:
    """Text for Slack's mrkdwn: ``&``, ``<`` and ``>`` escaped (Slack's own rule)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _where(item: dict[str, Any]) -> str:
    tier = f"{item['tier']} tier" if item["tier"] else "All tiers"
    if item["scope"] == "scenario":
        run = f", run #{item['run']}" if item["run"] else ""
        return f"Scenario {item['scenario']}{run} · {tier}"
    return f"Actual usage {item['period']} · {tier}"


def _slack_item(item: dict[str, Any]) -> list[dict[str, Any]]:
    value = item["value_display"] or "no data"
    fields = [
        ("Metric", item["metric_label"]),
        ("Measured", value),
        ("Alert when", f"{item['comparator']} {item['threshold_display']}"),
        ("Scope", _where(item)),
        ("Window", item["window"]),
    ]
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*<{_link(item)}|{_mrkdwn(item['subject'])}>*"},
            "fields": [{"type": "mrkdwn", "text": f"*{name}*\n{_mrkdwn(text)}"} for name, text in fields],
        }
    ]
    if item["note"]:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _mrkdwn(item["note"])}]})
    return blocks


def slack_body(row: AlertOutbox) -> bytes:
    """The Slack message of a row: ``text`` (the notification) and Block Kit blocks, one section
    of figures per rule with a link to its history."""
    items = _items(row)
    blocks: list[dict[str, Any]] = []
    if row.kind == AlertOutbox.Kind.TEST:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "*Test message*"}]})
    if not items:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"{_mrkdwn(row.subject)}\n<{_link(None)}|Open alerts>"},
            }
        )
    for index, item in enumerate(items[:SLACK_MAX_ITEMS]):
        if index:
            blocks.append({"type": "divider"})
        blocks.extend(_slack_item(item))
    if len(items) > SLACK_MAX_ITEMS:
        more = f"…and {len(items) - SLACK_MAX_ITEMS} more: <{_link(None)}|open the alerts>"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    body = {"text": row.subject, "blocks": blocks}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _failure(channel: AlertChannel, status: int, body: bytes) -> str:
    excerpt = body[:200].decode("utf-8", "replace").strip()
    return f"HTTP {status} from {url_host(channel.url)}" + (f": {excerpt}" if excerpt else "")


def channel_send(row: AlertOutbox) -> None:
    """One attempt to deliver ``row`` to its channel; ``ChannelError`` when it did not land."""
    channel = row.channel
    assert channel is not None
    headers: dict[str, str] = {}
    if channel.kind == AlertChannel.Kind.SLACK:
        body = slack_body(row)
    else:
        body = webhook_body(row)
        timestamp = int(time.time())  # this attempt's, for the receiver's replay window
        headers = {
            "X-Margin-Planner-Event": webhook_event(row),
            "X-Margin-Planner-Delivery": row.message_id,
            "X-Margin-Planner-Timestamp": str(timestamp),
            "X-Margin-Planner-Signature": webhook_signature(
                secret=alert_channel_secret(channel), timestamp=timestamp, body=body
            ),
        }
    try:
        answer = post_json(channel.url, body, headers)
    except RefusedURL as error:
        raise ChannelError(f"Refused: {error}") from error
    except (OSError, http.client.HTTPException) as error:
        raise ChannelError(f"{type(error).__name__} ({url_host(channel.url)}): {error}") from error
    if channel.kind == AlertChannel.Kind.SLACK:
        delivered = answer.status == 200 and answer.body.strip() == b"ok"
    else:
        delivered = 200 <= answer.status < 300
    if not delivered:
        retry_after = answer.retry_after if answer.status in (429, 503) else None
        raise ChannelError(_failure(channel, answer.status, answer.body), retry_after=retry_after)
