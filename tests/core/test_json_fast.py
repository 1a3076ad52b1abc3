"""planner.core.json_fast against the standard decoder: whenever it answers, it answers what
``json.loads`` answers, value for value and type for type; the rest is left to the standard
decoder (UNDECIDED)."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import pytest

from planner.core.json_fast import UNDECIDED, json_loads_fast

TRICKY = [
    b'{"a": 1, "a": 2}',
    b"-0",
    b"1E2",
    b"1.0",
    b"[1.7976931348623157e308, 2.5e-324, 0.1, 123456789.123456789e-5]",
    b"1e400",
    b"-1e400",
    b"NaN",
    b"[Infinity]",
    b'"\\ud800"',
    b'"\\ud83d\\ude00 caf\\u00e9"',
    '"café 😀"'.encode(),
    b'"\xff"',
    b"\xef\xbb\xbf[1]",
    b"",
    b"  [1, 2]  ",
    b"[1,]",
    b"01",
    b'"a\nb"',
    b"9223372036854775807",
    b"-9223372036854775808",
    b"-9223372036854775809",
    b"18446744073709551615",
    b"18446744073709551616",
    b"99999999999999999999999",
    b'{"event_id": "12345678901234567890"}',
    b"[" * 2000 + b"]" * 2000,
    b'{"x": [true, false, null, {}, []]}',
]


def standard(raw: bytes) -> Any:
    try:
        return ("value", json.loads(raw.decode()))
    except (ValueError, RecursionError):
        return ("error", None)


def same(left: Any, right: Any) -> bool:
    """Equal values of equal types all the way down (1 == 1.0 and True == 1 are not enough)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, float) and math.isnan(left):
        return math.isnan(right)
    return bool(left == right)


@pytest.mark.parametrize("raw", TRICKY)
def test_an_answer_is_always_the_standard_decoders(raw: bytes) -> None:
    fast = json_loads_fast(raw)
    if fast is UNDECIDED:
        return
    kind, value = standard(raw)
    assert kind == "value" and same(fast, value)


def test_what_orjson_reads_differently_is_left_to_the_standard_decoder() -> None:
    for raw in (b"1e400", b"NaN", b'"\\ud800"', b"-9223372036854775809", b"18446744073709551616", b"[1,]"):
        assert json_loads_fast(raw) is UNDECIDED


def test_random_documents_decode_the_same() -> None:
    rng = random.Random(7)

    def value(depth: int) -> Any:
        kind = rng.randrange(8 if depth < 3 else 6)
        if kind == 0:
            return rng.randrange(-(2**70), 2**70) >> rng.randrange(70)
        if kind == 1:
            return rng.uniform(-1e6, 1e6) * 10 ** rng.randrange(-30, 30)
        if kind == 2:
            return "".join(
                chr(rng.choice([rng.randrange(32, 127), rng.randrange(160, 0x2FFF)])) for _ in range(5)
            )
        if kind == 3:
            return rng.choice([True, False, None])
        if kind in (4, 5):
            return f"evt-{rng.randrange(10**12)}"
        if kind == 6:
            return [value(depth + 1) for _ in range(rng.randrange(4))]
        return {f"k{rng.randrange(9)}": value(depth + 1) for _ in range(rng.randrange(4))}

    for _ in range(500):
        raw = json.dumps(value(0), ensure_ascii=rng.random() < 0.5).encode()
        fast = json_loads_fast(raw)
        if fast is not UNDECIDED:
            assert same(fast, json.loads(raw))
