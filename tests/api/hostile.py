"""Requests and hostile inputs of the hostile-input sweep (``test_hostile_sweep.py``): how a
request is written (raw JSON numbers, one field changed by path) and what an input is."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

JSON = "application/json"
World = Mapping[str, Any]

# --- Requests and inputs -----------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """A number written as is into the JSON text (``1e400``, ``NaN``): ``json.dumps`` cannot."""

    text: str


def dumps(value: Any) -> bytes:
    """JSON as a client sends it (``ensure_ascii``: a lone surrogate goes as ``\\ud800``); a
    ``Raw`` number is written as is."""
    text = json.dumps(value, default=lambda raw: f"@@{raw.text}@@")
    return re.sub(r'"@@(.*?)@@"', r"\1", text).encode()


def with_path(document: Any, path: str, value: Any) -> Any:
    """A copy of ``document`` with ``value`` at ``path`` (``plan.tiers[0].monthly_fee``)."""
    document = json.loads(json.dumps(document))
    keys: list[str | int] = [int(k) if k.isdigit() else k for k in re.findall(r"[^.\[\]]+", path)]
    target = document
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    return document


@dataclass(frozen=True)
class Sent:
    """A request's body, content type, extra WSGI environ, query and an id for the URL's last."""

    body: bytes | None
    content_type: str = JSON
    environ: Mapping[str, str] = field(default_factory=dict)
    query: str = ""
    last_id: str | None = None


@dataclass(frozen=True)
class Hostile:
    label: str
    build: Callable[[World, Any], Sent]  # (world, the endpoint's valid body) -> request
    refused: bool = True


def raw(label: str, body: bytes, content_type: str = JSON, *, refused: bool = True) -> Hostile:
    return Hostile(label, lambda w, base: Sent(body, content_type), refused)


def set_field(path: str, value: Any, label: str | None = None, *, refused: bool = True) -> Hostile:
    text = label or (value.text if isinstance(value, Raw) else repr(value))
    return Hostile(f"{path}={text[:40]}", lambda w, base: Sent(dumps(with_path(base, path, value))), refused)


def cron(expression: str) -> Hostile:
    """A ``cron`` with the schedule that reads it (another schedule ignores the field)."""
    body = {"schedule": "cron", "cron": expression}
    return Hostile(f"cron={expression!r}", lambda w, base: Sent(dumps({**base, **body})))


def path_id(value: str) -> Hostile:
    return Hostile(f"id {value}", lambda w, base: Sent(None, last_id=value))
