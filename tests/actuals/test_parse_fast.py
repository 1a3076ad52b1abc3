"""The column-wise fast path of parsing (planner.actuals.parse.parse_fast) against the
record-by-record parser: same records, same hashes, and for anything it does not accept the
full parser's errors, unchanged. Payload hashes are those stored before the fast path existed."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from planner.actuals import parse
from planner.actuals.parse import parse_fast, parse_records

NOW = datetime(2026, 1, 1, tzinfo=UTC)

#: Records and the payload hashes the parser gave them before the fast path (commit caec8d8):
#: stored records must stay recognisable as duplicates.
KNOWN_HASHES: list[tuple[dict[str, Any], str]] = [
    (
        {
            "event_id": "evt-1",
            "customer": "cus-1",
            "tier": 7,
            "timestamp": "2025-06-10T14:03:00Z",
            "model": "openai/gpt-4o",
            "input_tokens": 1200,
            "output_tokens": 300,
        },
        "9e7ed2d795bf7d1b460554a4abd68231",
    ),
    (
        {
            "event_id": "evt-2",
            "customer": "cus-1",
            "timestamp": "2025-06-10T16:03:00+02:00",
            "model": "openai/o3",
            "variant": "",
            "input_tokens": 1200,
            "cached_tokens": 200,
            "cache_write_tokens": 100,
            "output_tokens": 300,
            "reasoning_tokens": 120,
            "requests": 3,
            "credits": 2.5,
        },
        "8b1e2b23e3494ad6beb7b0f5cdcaf464",
    ),
    (
        {
            "event_id": "evt-3",
            "customer": "café-ü",
            "tier": None,
            "timestamp": "2025-12-31T23:59:59.123456-05:00",
            "workload": 12,
            "input_tokens": 0,
            "output_tokens": 9,
            "requests": 0,
            "credits": "1.0000004",
        },
        "be68ce92e122325251f9c770f030dc30",
    ),
    (
        {
            "event_id": "evt-4",
            "customer": "cus-4",
            "timestamp": "2025-06-10T14:03:00.5+00:00",
            "model": "anthropic/claude-sonnet-4",
            "variant": "processing=batch",
            "workload": 3,
            "input_tokens": 10**10,
            "output_tokens": 0,
            "credits": 12,
        },
        "5e4846afc52963507ca45fd68e1158df",
    ),
    (
        {
            "event_id": "evt-\U0001f600",
            "customer": "c",
            "timestamp": "2000-01-01T00:00:00Z",
            "model": "a/b",
            "credits": None,
            "requests": 10**9,
        },
        "a847d793f07efdc655242eb040ca8738",
    ),
]


def typical(index: int, rng: random.Random) -> dict[str, Any]:
    input_tokens = rng.randrange(0, 20_000)
    output_tokens = rng.randrange(1, 4_000)
    record: dict[str, Any] = {
        "event_id": f"evt-{index}",
        "customer": f"cus-{rng.randrange(50)}",
        "timestamp": (NOW - timedelta(seconds=rng.randrange(90 * 86_400))).isoformat(),
        "model": rng.choice(["openai/o3", "openai/gpt-4o"]),
        "input_tokens": input_tokens,
        "cached_tokens": rng.randrange(0, input_tokens // 2 + 1),
        "output_tokens": output_tokens,
        "reasoning_tokens": rng.randrange(0, output_tokens + 1),
    }
    for name, value in (
        ("tier", rng.randrange(1, 9)),
        ("workload", rng.randrange(1, 9)),
        ("variant", rng.choice(["", "processing=batch"])),
        ("requests", rng.randrange(0, 4)),
        ("credits", rng.choice([1, 2.5, "0.125", None])),
        ("cache_write_tokens", 0),
    ):
        if rng.random() < 0.3:
            record[name] = value
    return record


#: Values that are wrong, or right but unusual, for some field (each replaces one field).
MUTATIONS: list[tuple[str, Any]] = [
    ("event_id", ""),
    ("event_id", 12),
    ("event_id", "x" * 256),
    ("event_id", "a\x00b"),
    ("event_id", "é"),
    ("event_id", "\ud800"),
    ("customer", None),
    ("customer", True),
    ("tier", True),
    ("tier", 0),
    ("tier", 2**63),
    ("tier", "3"),
    ("tier", 1.0),
    ("workload", -1),
    ("timestamp", "2025-06-10T14:03:00"),
    ("timestamp", "2025-13-10T14:03:00Z"),
    ("timestamp", "9999-12-31T23:59:59-14:00"),
    ("timestamp", "0001-01-01T00:00:00+14:00"),
    ("timestamp", "1999-12-31T23:59:59Z"),
    ("timestamp", (NOW + timedelta(days=1, seconds=1)).isoformat()),
    ("timestamp", (NOW + timedelta(days=1)).isoformat()),
    ("timestamp", 1_700_000_000),
    ("timestamp", "x" * 65),
    ("model", "gpt-4o"),
    ("model", ""),
    ("model", None),
    ("model", "p/" + "m" * 510),
    ("variant", 3),
    ("variant", "v" * 201),
    ("input_tokens", -1),
    ("input_tokens", 10**10 + 1),
    ("input_tokens", 1.0),
    ("input_tokens", 1.5),
    ("input_tokens", math.nan),
    ("input_tokens", math.inf),
    ("input_tokens", "12"),
    ("input_tokens", False),
    ("input_tokens", 0),
    ("output_tokens", 0),
    ("cached_tokens", 10**10),
    ("reasoning_tokens", 10**10),
    ("requests", 0),
    ("requests", 10**9 + 1),
    ("credits", -1),
    ("credits", "abc"),
    ("credits", math.inf),
    ("credits", 10**13),
    ("credits", []),
    ("credits", 1e-7),
    ("colour", "blue"),
]


def both(records: list[Any]) -> tuple[Any, Any]:
    """``parse_records`` (fast path first) and the record-by-record parser alone."""
    return parse_records(records, now=NOW), parse._parse_records_one_by_one(records, now=NOW)


def test_payload_hashes_are_those_stored_before() -> None:
    records = [record for record, _ in KNOWN_HASHES]
    parsed, errors = parse_records(records, now=NOW)
    assert errors == []
    assert parsed.hashes == [expected for _, expected in KNOWN_HASHES]
    # The ASCII ones go through the fast path and hash the same there.
    ascii_records = [r for r in records if all(str(v).isascii() for v in r.values())]
    fast = parse_fast(ascii_records, now=NOW)
    assert fast is not None
    assert fast.hashes == [h for r, h in KNOWN_HASHES if r in ascii_records]


def test_typical_batches_take_the_fast_path_with_the_same_result() -> None:
    rng = random.Random(5)
    for size in (1, 7, 500):
        records = [typical(index, rng) for index in range(size)]
        fast = parse_fast(records, now=NOW)
        assert fast is not None
        slow, errors = parse._parse_records_one_by_one(records, now=NOW)
        assert errors == [] and fast == slow


@pytest.mark.parametrize(("field", "value"), MUTATIONS)
def test_an_unusual_value_gets_the_full_parsers_answer(field: str, value: Any) -> None:
    rng = random.Random(field)
    records = [typical(index, rng) for index in range(20)]
    records[7][field] = value
    (parsed, errors), (slow, slow_errors) = both(records)
    assert errors == slow_errors and parsed == slow
    if slow_errors:
        assert parse_fast(records, now=NOW) is None


def test_missing_fields_and_other_shapes_get_the_full_parsers_answer() -> None:
    rng = random.Random(9)
    for field in ("event_id", "customer", "timestamp", "model"):
        records = [typical(index, rng) for index in range(5)]
        del records[2][field]
        (parsed, errors), (slow, slow_errors) = both(records)
        assert errors == slow_errors and parsed == slow
    for odd in ([1, 2], "record", None):
        mixed: list[Any] = [typical(0, rng), odd]
        assert parse_fast(mixed, now=NOW) is None
        assert both(mixed)[0] == both(mixed)[1]


def test_random_mutations_never_change_the_answer() -> None:
    rng = random.Random(2026)
    for _ in range(300):
        records = [typical(index, rng) for index in range(rng.randrange(1, 12))]
        for _ in range(rng.randrange(0, 3)):
            field, value = rng.choice(MUTATIONS)
            rng.choice(records)[field] = value
        (parsed, errors), (slow, slow_errors) = both(records)
        assert errors == slow_errors and parsed == slow
