"""Alert channels (docs/ALERTS.md): Slack incoming webhooks and signed generic webhooks.

Creating, changing and deleting a channel, its webhook signing secret (derived, shown once),
and "send test". A channel is checked as a whole before it is saved; a ``ValidationError``
names each field at fault: a blank or taken name, an unknown kind, a URL that is not https, has
credentials, or resolves to a private address (``planner.alerts.outbound``), a Slack channel
whose URL is not ``https://hooks.slack.com/...`` (both allowed with
``PLANNER_ALERT_ALLOW_PRIVATE_URLS``, for local receivers). The kind is fixed once created.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.crypto import salted_hmac

from planner.accounts.models import Organization
from planner.alerts.models import MAX_CHANNEL_URL_LENGTH, AlertChannel, AlertOutbox
from planner.alerts.outbound import allow_private, url_problem
from planner.alerts.outbox import outbox_insert, outbox_row, outbox_window_test, schedule_delivery
from planner.core.services import model_update

SLACK_HOST = "hooks.slack.com"
#: The salt of the webhook secret's HMAC: a secret derived for anything else never equals it.
SECRET_SALT = "planner.alerts.webhook-secret"
CHANNEL_FIELDS = ("name", "kind", "url", "enabled")


def alert_channel_secret(channel: AlertChannel) -> str:
    """The webhook's signing secret: HMAC-SHA256 of its seed under ``SECRET_KEY`` (64 hex
    characters). Rotating ``SECRET_KEY`` changes every secret: rotate each channel's after."""
    digest = salted_hmac(SECRET_SALT, channel.secret_seed, secret=settings.SECRET_KEY, algorithm="sha256")
    return digest.hexdigest()


def url_masked(url: str) -> str:
    """``url`` as it may be shown: scheme, host and first path segment, the last four
    characters; a Slack URL as ``https://hooks.slack.com/services/T…/…abcd``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "…"
    segments = [s for s in parts.path.split("/") if s]
    origin = f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    tail = url[-4:] if len(url) > 12 else ""
    if parts.hostname == SLACK_HOST and len(segments) >= 2:
        return f"{origin}/{segments[0]}/{segments[1][:1]}…/…{tail}"
    if not segments:
        return origin + "/"
    return f"{origin}/{segments[0]}/…{tail}" if len(segments) > 1 or parts.query else f"{origin}/…{tail}"


def _validate_channel(channel: AlertChannel, *, check_url: bool = True) -> None:
    """Field checks; the URL's (which resolve its host) only when it is new (``check_url``)."""
    errors: dict[str, list[str]] = {}

    def add(field_name: str, message: str) -> None:
        errors.setdefault(field_name, []).append(message)

    if not isinstance(channel.name, str) or not channel.name.strip():
        add("name", "Give the channel a name.")
    elif (
        AlertChannel.objects.filter(organization=channel.organization, name=channel.name)
        .exclude(pk=channel.pk)
        .exists()
    ):
        add("name", f"A channel named {channel.name!r} exists already.")
    if channel.kind not in AlertChannel.Kind.values:
        add("kind", f"Choose one of: {', '.join(AlertChannel.Kind.values)}.")
    url = channel.url
    if not isinstance(url, str) or not url:
        add("url", "Give the channel's URL.")
    elif len(url) > MAX_CHANNEL_URL_LENGTH:
        add("url", f"At most {MAX_CHANNEL_URL_LENGTH} characters.")
    elif check_url:
        problem = url_problem(url)
        if problem is not None:
            add("url", problem)
        elif channel.kind == AlertChannel.Kind.SLACK and not allow_private():
            parts = urlsplit(url)
            if parts.hostname != SLACK_HOST or not parts.path.startswith("/services/"):
                add("url", f"A Slack incoming webhook URL starts with https://{SLACK_HOST}/services/.")
    try:
        channel.full_clean(exclude=["secret_seed", "url"], validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        for key, messages in error.message_dict.items():
            if key not in errors:
                errors[key] = list(messages)
    if errors:
        raise ValidationError(errors)


def _stored(values: Mapping[str, Any]) -> dict[str, Any]:
    stored = dict(values)
    for name in ("name", "url"):
        if isinstance(stored.get(name), str):
            stored[name] = stored[name].strip()
    return stored


@transaction.atomic
def alert_channel_create(*, organization: Organization, **fields: Any) -> tuple[AlertChannel, str | None]:
    """Create a channel from ``fields`` (``name``, ``kind``, ``url``, ``enabled``). Returns it
    and, for a webhook, its signing secret: the only time it is returned with the channel."""
    unknown = sorted(set(fields) - set(CHANNEL_FIELDS))
    if unknown:
        raise ValidationError({name: "Unknown field." for name in unknown})
    channel = AlertChannel(organization=organization, **_stored(fields))
    _validate_channel(channel)
    if channel.kind == AlertChannel.Kind.WEBHOOK:
        channel.secret_seed = secrets.token_hex(32)
    channel.save()
    return channel, alert_channel_secret(channel) if channel.secret_seed else None


@transaction.atomic
def alert_channel_update(*, channel: AlertChannel, data: Mapping[str, Any]) -> AlertChannel:
    """Change ``name``, ``url`` or ``enabled`` (an empty ``url`` keeps the current one); the
    kind is fixed. Deliveries not yet sent go to the new URL."""
    values = _stored(data)
    if not values.get("url", True):
        del values["url"]
    if "kind" in values:
        if values["kind"] != channel.kind:
            raise ValidationError({"kind": "The kind cannot be changed; create a new channel instead."})
        del values["kind"]
    check_url = "url" in values and values["url"] != channel.url
    model_update(
        instance=channel,
        fields=CHANNEL_FIELDS,
        data=values,
        validate=lambda instance: _validate_channel(instance, check_url=check_url),
        unknown_message="Unknown field.",
    )
    return channel


@transaction.atomic
def alert_channel_rotate_secret(*, channel: AlertChannel) -> str:
    """A new signing secret for a webhook (returned once); deliveries from now on are signed
    with it, retries of earlier ones too."""
    if channel.kind != AlertChannel.Kind.WEBHOOK:
        raise ValidationError({"kind": "Only webhook channels have a signing secret."})
    channel.secret_seed = secrets.token_hex(32)
    channel.save(update_fields=["secret_seed", "updated_at"])
    return alert_channel_secret(channel)


def alert_channel_delete(*, channel: AlertChannel) -> None:
    """Delete a channel and its deliveries; rules keep their other recipients and channels."""
    channel.delete()


def alert_channel_send_test(*, channel: AlertChannel, now: datetime) -> AlertOutbox:
    """Queue a test message to ``channel`` (no rule: it says the channel is connected), through
    the outbox like every delivery."""
    organization = channel.organization
    row = outbox_row(
        organization=organization,
        kind=AlertOutbox.Kind.TEST,
        window=outbox_window_test(organization=organization, now=now),
        target=channel,
        items=[],
        now=now,
    )
    with transaction.atomic():
        (inserted,) = outbox_insert([row])
        schedule_delivery()
    return inserted
