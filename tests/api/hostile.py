"""Requests and hostile inputs of the hostile-input sweep (``test_hostile_sweep.py``): how a
request is written (raw JSON numbers, one field changed by path), what an input is, the inputs
every endpoint gets, and how an endpoint is described (``Endpoint``, ``resource``), so that
modules of endpoint cases (``hostile_alert_channels.py``) can be added beside the sweep's own."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

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


# --- Inputs every endpoint gets ------------------------------------------------------------------

API = "/api/v1"

LIMIT = settings.API_MAX_BODY_BYTES
OVERSIZED = b"[" + b"0," * (LIMIT // 2 + 1) + b"0]"
DEEP = b"[" * 100_000 + b"]" * 100_000
DECLARED = {"CONTENT_LENGTH": str(LIMIT + 1)}

#: Whatever the endpoint: bodies the parser or the size limit refuse.
BODY = (
    raw("malformed JSON", b'{"name": '),
    raw("NaN literal", b'{"name": "x", "value": NaN}'),
    raw("-Infinity literal", b"[-Infinity]"),
    raw("not UTF-8", b'{"name": "\xff\xfe\xed\xa0\x80"}'),
    raw("nested 100,000 deep", DEEP),
    raw("over the size limit", OVERSIZED),
    Hostile("size limit declared", lambda w, b: Sent(b"{}", environ=DECLARED)),
    Hostile("text/plain", lambda w, base: Sent(dumps(base), "text/plain")),
    raw("form-encoded", b"name=x&share=NaN", "application/x-www-form-urlencoded"),
)
#: For the routes without a body (DELETE, cancel).
BODILESS = (
    path_id("9999999999999999999"),  # 19 digits: the route takes it, no 64-bit column holds it
    path_id("0"),
    raw("malformed JSON body", b'{"x": ', refused=False),  # the body is not read
    raw("over the size limit", OVERSIZED),
)
#: Hostile values by the kind of field; a kind's last ``lenient`` values may be accepted where
#: the field allows them (a long text in a text without limit, a far date).
VALUES: dict[str, tuple[Any, ...]] = {
    "float": ("NaN", "Infinity", "-Infinity", 1e308, -1e308, Raw("1e400"), True, {"value": 1}),
    "money": ("NaN", "Infinity", "-Infinity", "sNaN", "1e308", "-1E+400", 1e308, ["1"]),
    "int": (True, 2**63, 10**30, 1e308, "NaN", [1]),
    "id": (2**63, 10**30, -1, True, {"id": 1}),
    "text": ("a\x00b", "a\ud800b", ["x"], 12, "x" * 100_000),
    "date": ("9999-12-31T23:59:59-14:00", "2025-02-30", "NaN", 20250101, "0001-01-01", "9999-12-31"),
}


def vary(path: str, kind: str, count: int | None = None, *, lenient: int = 0) -> Inputs:
    values = VALUES[kind]
    return tuple(
        set_field(path, value, refused=index < len(values) - lenient)
        for index, value in enumerate(values[:count])
    )


Inputs = tuple[Hostile, ...]
Body = Callable[[World], Any] | None

# --- Endpoints ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # the schema's template
    ids: Callable[[World], dict[str, Any]]  # the URL's ids (a billing vendor: its name)
    body: Body
    inputs: Inputs
    observe: str | None = None  # a template read whose answer a refused request must not change
    scopes: tuple[str, ...] = ("read", "write")

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    def url(self, world: World, sent: Sent) -> str:
        values = {name: str(value) for name, value in self.ids(world).items()}
        if sent.last_id is not None:
            values[list(values)[-1]] = sent.last_id
        return API + self.path.format(**values) + (f"?{sent.query}" if sent.query else "")


def by_id(key: str, *more: str) -> Callable[[World], dict[str, int]]:
    return lambda w: {"id": w[key], **{name: w[name] for name in more}}


def resource(
    name: str, key: str, body: Body, fields: Inputs, patch: Inputs, put: Body = None
) -> list[Endpoint]:
    """POST, PUT (of ``put`` or ``body``), PATCH and DELETE of a resource whose object is ``key``."""
    detail, one = f"/{name}/{{id}}/", by_id(key)
    return [
        Endpoint("POST", f"/{name}/", dict, body, BODY + fields),
        Endpoint("PUT", detail, one, put or body, BODY + fields, observe=detail),
        Endpoint("PATCH", detail, one, lambda w: {}, BODY + patch, observe=detail),
        Endpoint("DELETE", detail, one, None, BODILESS, observe=detail),
    ]
