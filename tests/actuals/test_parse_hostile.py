"""``planner.actuals.parse``: hostile text and timestamps are field errors, never exceptions
(issue 17: a lone surrogate and ``9999-12-31T23:59:59-14:00`` answered 500)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from planner.actuals.parse import parse_records

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def record(**changes: Any) -> dict[str, Any]:
    return {
        "event_id": "evt-1",
        "customer": "cus-1",
        "timestamp": "2026-05-01T10:00:00Z",
        "model": "openai/gpt-4o",
        "input_tokens": 10,
        "output_tokens": 5,
        **changes,
    }


@pytest.mark.parametrize("field", ["event_id", "customer", "model", "variant"])
def test_a_lone_surrogate_is_a_field_error(field: str) -> None:
    parsed, errors = parse_records([record(**{field: "openai/\udc80"})], now=NOW)
    assert [(e.index, e.field) for e in errors] == [(0, field)]
    assert "surrogate" in errors[0].reason and not parsed.event_ids


def test_a_valid_astral_character_is_accepted() -> None:
    parsed, errors = parse_records([record(event_id="evt-\U0001f600", customer="café")], now=NOW)
    assert not errors and parsed.event_ids == ["evt-\U0001f600"]


def test_an_unknown_field_named_with_a_lone_surrogate_is_reported_escaped() -> None:
    _, errors = parse_records([record(**{"x\ud800": 1})], now=NOW)
    assert [(e.field, e.reason) for e in errors] == [("x\\ud800", "Unknown field.")]
    errors[0].field.encode()  # the response can encode it


@pytest.mark.parametrize(
    ("timestamp", "reason"),
    [
        ("9999-12-31T23:59:59-14:00", "in the future"),
        ("9999-12-31T23:59:59-00:01", "in the future"),
        ("0001-01-01T00:00:00+14:00", "Before 2000"),
    ],
)
def test_a_timestamp_beyond_the_calendar_in_utc_is_a_field_error(timestamp: str, reason: str) -> None:
    _, errors = parse_records([record(timestamp=timestamp)], now=NOW)
    assert [e.field for e in errors] == ["timestamp"] and reason in errors[0].reason
