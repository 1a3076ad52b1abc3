"""Parsing a batch of usage records: pure Python, no database.

``parse_records`` checks every record of a batch (a JSON object per record: known fields only, types,
ranges, NaN/inf, NUL bytes, lone UTF-16 surrogates, timestamps from 2000 to at most
``FUTURE_TOLERANCE`` ahead of the server clock, whatever their offset, cached + cache-write tokens
within input, reasoning within output, a model or a workload) and returns the valid records column
by column with each one's payload hash, and the problems as (index, field, reason). The hash
covers the payload as the client sent it, normalised, so that a retried record is recognised as a
duplicate (``planner.actuals.ingest``).

Also the results and errors of ingestion: ``IngestError``, ``UsageRecordsInvalid``,
``IngestConflict``, ``IngestResult``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol, TypeVar, TypeVarTuple, cast

import numpy as np

from planner.actuals.models import (
    MAX_RECORD_CREDITS,
    MAX_RECORD_REQUESTS,
    MAX_RECORD_TOKENS,
    USAGE_TOKEN_FIELDS,
)
from pricing.resolve import epoch_us

MAX_BATCH = 10_000
#: A record may be stamped at most this far ahead of the server clock (client clock skew).
FUTURE_TOLERANCE = timedelta(days=1)
#: Nothing was billed for LLM tokens before this; older timestamps are typos.
EARLIEST_TIMESTAMP = datetime(2000, 1, 1, tzinfo=UTC)
#: At most this many errors are returned; ``UsageRecordsInvalid.error_count`` has the total.
MAX_REPORTED_ERRORS = 1_000
MAX_TEXT = 255
MAX_VARIANT = 200

RECORD_FIELDS = frozenset(
    {
        "event_id",
        "customer",
        "tier",
        "timestamp",
        "workload",
        "model",
        "variant",
        *USAGE_TOKEN_FIELDS,
        "requests",
        "credits",
    }
)
CREDITS_QUANTUM = Decimal("0.000001")
_SEPARATOR = "\x1f"

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


@dataclass(frozen=True)
class IngestError:
    """One reason why a record of a batch is invalid."""

    index: int
    field: str
    reason: str


class UsageRecordsInvalid(Exception):
    """The batch was refused as a whole: nothing was written."""

    def __init__(self, errors: Sequence[IngestError], error_count: int | None = None) -> None:
        self.errors = list(errors[:MAX_REPORTED_ERRORS])
        self.error_count = len(errors) if error_count is None else error_count
        first = errors[0] if errors else None
        summary = f"record {first.index}, {first.field}: {first.reason}" if first else "no details"
        super().__init__(f"{self.error_count} invalid usage record field(s); first: {summary}")


@dataclass(frozen=True)
class IngestConflict:
    """A record whose event id already exists (or appears earlier in the batch) with another payload."""

    index: int
    event_id: str


@dataclass(frozen=True)
class IngestResult:
    created: int
    duplicates: int
    conflicts: list[IngestConflict] = field(default_factory=list)
    #: The event ids this call stored (the others were stored before, or conflict).
    created_ids: frozenset[str] = frozenset()


class _Invalid(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


# --- Parsing: pure Python, no database ----------------------------------------------------------


def _text(value: object, limit: int = MAX_TEXT, *, required: bool = True) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"Must be a string of up to {limit} characters.")
    if not value and required:
        raise _Invalid("May not be empty.")
    if len(value) > limit:
        raise _Invalid(f"At most {limit} characters (got {len(value)}).")
    if "\x00" in value:
        raise _Invalid("May not contain NUL characters.")
    if not value.isascii() and not _encodable(value):
        raise _Invalid("Must be valid Unicode: a lone UTF-16 surrogate (such as \\ud800) is not a character.")
    return value


def _encodable(text: str) -> bool:
    """Whether ``text`` is valid Unicode: JSON's ``"\\ud800"`` decodes to a lone surrogate, which
    neither the payload hash nor the database can encode."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _field_name(name: object) -> str:
    """An unknown field's name as the error reports it: at most 100 characters, lone surrogates
    escaped (the response must encode as UTF-8)."""
    return str(name)[:100].encode(errors="backslashreplace").decode()


def _reference(value: object) -> int | None:
    """An optional id of one of the organisation's objects."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid("Must be an integer id.")
    if not 0 < value < 2**63:
        raise _Invalid("No such id.")
    return value


def _count(value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and not math.isfinite(value):
            raise _Invalid("Must be a finite integer (NaN and infinity are not counts).")
        raise _Invalid("Must be an integer.")
    if value < low:
        raise _Invalid(f"Must be at least {low}.")
    if value > high:
        raise _Invalid(f"Must be at most {high:,}.")
    return value


def _credits(value: object) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Invalid("Must be a number.")
    if isinstance(value, float) and not math.isfinite(value):
        raise _Invalid("Must be a finite number (NaN and infinity are not allowed).")
    if isinstance(value, str) and (len(value) > 40 or "\x00" in value):
        raise _Invalid("Must be a number.")
    try:
        number = Decimal(repr(value) if isinstance(value, float) else value)
    except (InvalidOperation, ValueError):
        raise _Invalid("Must be a number.") from None
    if not number.is_finite():
        raise _Invalid("Must be a finite number (NaN and infinity are not allowed).")
    if number < 0:
        raise _Invalid("Must be at least 0.")
    if number > MAX_RECORD_CREDITS:
        raise _Invalid(f"Must be at most {MAX_RECORD_CREDITS:,}.")
    return number.quantize(CREDITS_QUANTUM)


_TOO_LATE = "More than 1 day in the future; check the client's clock and time zone."
_TOO_EARLY = "Before 2000-01-01; check the value."


def _timestamp(value: object, latest: datetime) -> datetime:
    if not isinstance(value, str) or len(value) > 64:
        raise _Invalid("Must be an ISO 8601 date-time string with a UTC offset.")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _Invalid("Not an ISO 8601 date-time, e.g. 2025-06-10T14:03:00Z.") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise _Invalid("Needs a UTC offset or Z (e.g. 2025-06-10T14:03:00Z); local times are ambiguous.")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-14:00 is in year 10000 in UTC
        raise _Invalid(_TOO_EARLY if moment.year < EARLIEST_TIMESTAMP.year else _TOO_LATE) from None
    if moment > latest:
        raise _Invalid(_TOO_LATE)
    if moment < EARLIEST_TIMESTAMP:
        raise _Invalid(_TOO_EARLY)
    return moment


@dataclass
class ParsedRecords:
    """The valid records of a batch, column by column (only used once the batch is valid)."""

    event_ids: list[str] = field(default_factory=list)
    customers: list[str] = field(default_factory=list)
    tiers: list[int | None] = field(default_factory=list)
    timestamps: list[datetime] = field(default_factory=list)
    micros: list[int] = field(default_factory=list)  # timestamps as epoch microseconds
    workloads: list[int | None] = field(default_factory=list)
    models: list[str | None] = field(default_factory=list)
    variants: list[str | None] = field(default_factory=list)
    tokens: list[list[int]] = field(default_factory=lambda: [[] for _ in USAGE_TOKEN_FIELDS])
    requests: list[int] = field(default_factory=list)
    credits: list[Decimal | None] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)


def _model_name(value: object) -> str | None:
    """An optional model named as provider/model."""
    if value is None:
        return None
    name = _text(value, 2 * MAX_TEXT + 1)
    if "/" not in name:
        raise _Invalid("Name the model as provider/model, e.g. openai/gpt-4o.")
    return name


def _variant(value: object) -> str | None:
    return None if value is None else _text(value, MAX_VARIANT, required=False)


class _Check(Protocol):
    def __call__(self, name: str, parse: Callable[[*Ts], T], /, *args: *Ts) -> T: ...


def _field_checks(index: int, failures: list[IngestError]) -> _Check:
    """The ``check`` of record ``index``: ``check(name, parse, *args)`` returns ``parse(*args)``;
    when that raises ``_Invalid`` the error is collected as field ``name``'s and None returned in
    place of the value (a record with any error is dropped, so that value is never used).

    A plain closure, not a context manager or a bound method: ``parse_records`` calls it for every field
    of up to ``MAX_BATCH`` records, and this is the cheapest wrapper (about 1 us per record, 1% of
    ingestion; a ``with`` block per field costs 4 to 6 us).
    """

    def check(name: str, parse: Callable[[*Ts], T], /, *args: *Ts) -> T:
        try:
            return parse(*args)
        except _Invalid as exc:
            failures.append(IngestError(index, name, exc.reason))
            return cast(T, None)

    return check


def parse_records(records: Sequence[object], *, now: datetime) -> tuple[ParsedRecords, list[IngestError]]:
    """The batch's valid records column by column with their payload hashes, and every problem
    found as (index, field, reason) (the module docstring). A batch of typical records is checked
    column by column (``parse_fast``); anything that check does not accept, valid or not, is
    parsed record by record here, which alone decides what is wrong and how it is reported."""
    fast = parse_fast(records, now=now)
    if fast is not None:
        return fast, []
    return _parse_records_one_by_one(records, now=now)


def _parse_records_one_by_one(
    records: Sequence[object], *, now: datetime
) -> tuple[ParsedRecords, list[IngestError]]:
    parsed, errors = ParsedRecords(), []
    latest = now + FUTURE_TOLERANCE
    token_lists = parsed.tokens
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            errors.append(IngestError(index, "non_field_errors", "A usage record must be a JSON object."))
            continue
        failures: list[IngestError] = []
        check = _field_checks(index, failures)
        if not RECORD_FIELDS.issuperset(record):
            for name in sorted(record.keys() - RECORD_FIELDS, key=str):
                failures.append(IngestError(index, _field_name(name), "Unknown field."))
        get = record.get
        event_id = check("event_id", _text, get("event_id"))
        customer = check("customer", _text, get("customer"))
        tier = check("tier", _reference, get("tier"))
        timestamp = check("timestamp", _timestamp, get("timestamp"), latest)
        workload = check("workload", _reference, get("workload"))
        model = check("model", _model_name, get("model"))
        variant = check("variant", _variant, get("variant"))
        counts = []
        for name in USAGE_TOKEN_FIELDS:
            counts.append(check(name, _count, get(name, 0), 0, MAX_RECORD_TOKENS))
        requests = check("requests", _count, get("requests", 1), 0, MAX_RECORD_REQUESTS)
        credits = check("credits", _credits, get("credits"))
        if not failures:
            input_tokens, output_tokens, cached, written, reasoning = counts
            if cached + written > input_tokens:
                failures.append(
                    IngestError(
                        index,
                        "cached_tokens",
                        "cached_tokens + cache_write_tokens exceed input_tokens, which counts all input "
                        "including cache reads and writes.",
                    )
                )
            if reasoning > output_tokens:
                failures.append(
                    IngestError(
                        index,
                        "reasoning_tokens",
                        "reasoning_tokens exceed output_tokens, which include the reasoning tokens.",
                    )
                )
            if requests == 0 and not any(counts):
                failures.append(
                    IngestError(
                        index,
                        "requests",
                        "A record with requests = 0 (part of requests counted elsewhere) must carry tokens.",
                    )
                )
            if workload is None and model is None:
                failures.append(IngestError(index, "model", "Name the model used, or a workload."))
        if failures:
            errors.extend(failures)
            continue
        parsed.event_ids.append(event_id)
        parsed.customers.append(customer)
        parsed.tiers.append(tier)
        parsed.timestamps.append(timestamp)
        micros = epoch_us(timestamp)
        parsed.micros.append(micros)
        parsed.workloads.append(workload)
        parsed.models.append(model)
        parsed.variants.append(variant)
        for column, count in zip(token_lists, counts, strict=True):
            column.append(count)
        parsed.requests.append(requests)
        parsed.credits.append(credits)
    parsed.hashes = _payload_hashes(parsed)
    return parsed, errors


def _payload_hashes(parsed: ParsedRecords) -> list[str]:
    """Each record's payload hash: BLAKE2b-128 of its fields as the client sent them, normalised
    (the timestamp as epoch microseconds, omitted optional fields as empty, credits quantized),
    not of values derived on the server, so a retry stays a duplicate after the workload or
    catalog changes. Stored hashes depend on this exact text: never change it."""
    empty = ""
    canonical = [
        _SEPARATOR.join(
            (
                event_id,
                customer,
                empty if tier is None else str(tier),
                str(micros),
                empty if workload is None else str(workload),
                model or empty,
                empty if variant is None else variant,
                str(input_tokens),
                str(output_tokens),
                str(cached),
                str(written),
                str(reasoning),
                str(requests),
                empty if credits is None else str(credits),
            )
        ).encode()
        for (
            event_id,
            customer,
            tier,
            micros,
            workload,
            model,
            variant,
            input_tokens,
            output_tokens,
            cached,
            written,
            reasoning,
            requests,
            credits,
        ) in zip(
            parsed.event_ids,
            parsed.customers,
            parsed.tiers,
            parsed.micros,
            parsed.workloads,
            parsed.models,
            parsed.variants,
            *parsed.tokens,
            parsed.requests,
            parsed.credits,
            strict=True,
        )
    ]
    blake2b = hashlib.blake2b
    return [blake2b(text, digest_size=16).hexdigest() for text in canonical]


# --- The fast path: a typical batch checked column by column ------------------------------------


def _texts(column: list[Any], limit: int, *, required: bool = True) -> bool:
    """Whether every value is an ASCII string without NUL of at most ``limit`` characters (not
    empty when ``required``): the common case of ``_text``, checked a column at a time."""
    if set(map(type, column)) != {str}:
        return False
    lengths = list(map(len, column))
    joined = "".join(column)
    return (
        (min(lengths) > 0 or not required)
        and max(lengths) <= limit
        and joined.isascii()
        and "\x00" not in joined
    )


def _optional_texts(column: list[Any], limit: int, *, required: bool = True) -> bool:
    present = [value for value in column if value is not None]
    return not present or _texts(present, limit, required=required)


def _ints(column: list[Any], low: int, high: int) -> bool:
    """Whether every value is an ``int`` (not a bool) from ``low`` to ``high``."""
    return set(map(type, column)) == {int} and min(column) >= low and max(column) <= high


def _optional_references(column: list[Any]) -> bool:
    present = [value for value in column if value is not None]
    return not present or _ints(present, 1, 2**63 - 1)


def parse_fast(records: Sequence[object], *, now: datetime) -> ParsedRecords | None:
    """``parse_records``' answer for a batch in which every record is a plain ``dict`` of known
    fields with ASCII texts, ``int`` counts and ids, and credits absent or valid; None for any
    other batch, valid or not (``parse_records`` then checks it record by record).

    Every check here is the record-by-record check or a stricter one, applied to a whole column
    with built-in functions (about 2 us a record with the hash, against 11 us one by one), so a
    batch it accepts is one the full parser accepts with the same values (tested).
    """
    if not records or set(map(type, records)) != {dict}:
        return None
    rows = cast(list[dict[str, Any]], records)
    if not all(map(RECORD_FIELDS.issuperset, rows)):
        return None
    event_ids = [row.get("event_id") for row in rows]
    customers = [row.get("customer") for row in rows]
    tiers = [row.get("tier") for row in rows]
    workloads = [row.get("workload") for row in rows]
    models = [row.get("model") for row in rows]
    variants = [row.get("variant") for row in rows]
    if not (
        _texts(event_ids, MAX_TEXT)
        and _texts(customers, MAX_TEXT)
        and _optional_references(tiers)
        and _optional_references(workloads)
        and _optional_texts(models, 2 * MAX_TEXT + 1)
        and all("/" in model for model in models if model is not None)
        and _optional_texts(variants, MAX_VARIANT, required=False)
    ):
        return None
    if None in models and any(
        model is None and workload is None for model, workload in zip(models, workloads, strict=True)
    ):
        return None
    counts = [[row.get(name, 0) for row in rows] for name in USAGE_TOKEN_FIELDS]
    requests = [row.get("requests", 1) for row in rows]
    if not (
        all(_ints(column, 0, MAX_RECORD_TOKENS) for column in counts)
        and _ints(requests, 0, MAX_RECORD_REQUESTS)
    ):
        return None
    input_tokens, output_tokens, cached, written, reasoning = (np.array(c, dtype=np.int64) for c in counts)
    if (
        (cached + written > input_tokens).any()
        or (reasoning > output_tokens).any()
        or ((np.array(requests, dtype=np.int64) == 0) & (input_tokens + output_tokens == 0)).any()
    ):
        return None
    stamps = [row.get("timestamp") for row in rows]
    if set(map(type, stamps)) != {str}:
        return None
    timestamps = cast(list[str], stamps)
    if max(map(len, timestamps)) > 64:
        return None
    try:
        moments = list(map(datetime.fromisoformat, timestamps))
        if None in map(datetime.utcoffset, moments):
            return None
        moments = [moment.astimezone(UTC) for moment in moments]
    except (ValueError, OverflowError):
        return None
    if min(moments) < EARLIEST_TIMESTAMP or max(moments) > now + FUTURE_TOLERANCE:
        return None
    credits: list[Decimal | None] = [row.get("credits") for row in rows]
    if any(value is not None for value in credits):
        try:
            credits = [_credits(value) for value in credits]
        except _Invalid:
            return None
    parsed = ParsedRecords(
        event_ids=cast(list[str], event_ids),
        customers=cast(list[str], customers),
        tiers=tiers,
        timestamps=moments,
        micros=list(map(epoch_us, moments)),
        workloads=workloads,
        models=models,
        variants=variants,
        tokens=counts,
        requests=requests,
        credits=credits,
    )
    parsed.hashes = _payload_hashes(parsed)
    return parsed
