"""Vendor events translated to native usage records (docs/INTEGRATIONS.md).

One record per event. Its ``event_id`` is the vendor's key namespaced by vendor (and by source
for OpenMeter): ``<vendor>:<source>:<key>``, or ``<vendor>#<blake2b hex>`` of that text when it
is longer than 255 characters, so a Lago ``transaction_id`` never meets a Metronome one.

Token kinds: an event mapped to one kind (Lago codes, Stripe meters) or naming one kind with a
``type`` / ``token_type`` property (OpenMeter, Stripe) carries that kind's count in its value;
an event mapped to ``multi`` with token-count properties (Metronome, Orb) carries several. The
one-kind events of a call are *disjoint* quantities, as billing systems meter them (each meter
is priced on its own): an input-token event counts the uncached input, a cached-input event the
cache reads (stored as input tokens that are all cached), a cache-creation event the cache
writes, a reasoning event reasoning output. So the parts add up to the native convention (input
including cached, output including reasoning). Requests: a one-kind event counts one request
when it carries input tokens and none otherwise (a part record); a multi-kind event counts one.
A one-kind event of zero tokens (other than input) is acknowledged and not stored: there is
nothing to price.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from planner.actuals.compat.catalog import models_resolve
from planner.actuals.compat.mappings import KIND_WORDS, MULTI, VENDOR_FIELDS, VendorMapping
from planner.actuals.models import MAX_RECORD_TOKENS, USAGE_TOKEN_FIELDS

if TYPE_CHECKING:
    from planner.actuals.compat.ingest import VendorEvent

MAX_EVENT_ID = 255
#: The property a vendor's event may name its model's provider in (Lago's LLM template).
PROVIDER_PROPERTY = "provider"
MAX_NAME = 511


def namespaced_key(vendor: str, source: str, key: str) -> str:
    """The record's ``event_id`` for a vendor's dedup key (see the module docstring)."""
    text = f"{vendor}:{source}:{key}"
    if len(text) <= MAX_EVENT_ID:
        return text
    digest = hashlib.blake2b(text.encode(errors="backslashreplace"), digest_size=32).hexdigest()
    return f"{vendor}#{digest}"


class _Refused(Exception):
    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason


@dataclass
class Translation:
    """An event as a native record (None for an acknowledged zero part or a refused event),
    where each native field came from in the vendor's event, and the refusal, if any."""

    record: dict[str, Any] | None = None
    fields: dict[str, str] = field(default_factory=dict)
    error: tuple[str, str] | None = None
    moment: datetime | None = None  # the event's timestamp


def _count(value: object, where: str) -> int:
    """A token count: an integer, or a string or float holding a whole number."""
    if type(value) is int:  # the common cases first: an int, or digits in a string
        if 0 <= value <= MAX_RECORD_TOKENS:
            return value
    elif (
        type(value) is str
        and len(value) <= 11
        and value.isascii()
        and value.isdigit()
        and int(value) <= MAX_RECORD_TOKENS
    ):
        return int(value)
    number: Decimal
    if isinstance(value, bool) or value is None:
        raise _Refused(where, "Must be a whole number of tokens.")
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _Refused(where, "Must be a finite whole number of tokens.")
        number = Decimal(repr(value))
    elif isinstance(value, str) and len(value) <= 40:
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise _Refused(where, f"Must be a whole number of tokens (got {value!r}).") from None
        if not number.is_finite():
            raise _Refused(where, "Must be a finite whole number of tokens.")
    else:
        raise _Refused(where, "Must be a whole number of tokens.")
    if number != number.to_integral_value():
        raise _Refused(where, f"Must be a whole number of tokens (got {value}).")
    if number < 0:
        raise _Refused(where, "Must be at least 0.")
    if number > MAX_RECORD_TOKENS:
        raise _Refused(where, f"Must be at most {MAX_RECORD_TOKENS:,}.")
    return int(number)


def _text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _single_kind(kind: str, count: int) -> tuple[dict[str, int], int]:
    """Token fields and requests of a one-kind event (see the module docstring)."""
    if kind == "input_tokens":
        return {"input_tokens": count}, 1
    if kind == "output_tokens":
        return {"output_tokens": count}, 0
    if kind in ("cached_tokens", "cache_write_tokens"):
        return {"input_tokens": count, kind: count}, 0
    return {"output_tokens": count, "reasoning_tokens": count}, 0  # reasoning_tokens


@dataclass
class Tiers:
    """The organisation's live tiers: ids, and ids by name (None: a name used by several products)."""

    ids: set[int]
    by_name: dict[str, int | None]

    def find(self, value: object) -> int | None:
        if isinstance(value, int) and not isinstance(value, bool):
            return value if value in self.ids else None
        if not isinstance(value, str):
            return None
        text = value.strip()
        if text.isdigit() and int(text) in self.ids:
            return int(text)
        if text in self.by_name:
            return self.by_name[text]
        folded = {name.casefold(): pk for name, pk in self.by_name.items()}
        return folded.get(text.casefold())


class _Translator:
    """Translates one vendor's events under one mapping. Where each native field comes from in
    the vendor's event depends only on the mapping and on the event's shape (one kind, or kinds
    as properties; tier from a property or not), so those maps are built once and shared."""

    def __init__(self, mapping: VendorMapping, tiers: Tiers | None) -> None:
        self.mapping = mapping
        self.vendor_fields = vendor_fields = VENDOR_FIELDS[mapping.vendor]
        self.tiers = tiers
        self.model_names: list[str | None] = []
        #: ``tier``'s answer per tier property text (raising ``_Refused`` is not remembered).
        self.tier_names: dict[str, tuple[int | None, bool]] = {}
        #: ``model``'s answer per (model, provider) property texts.
        self.model_texts: dict[tuple[str, str | None], str] = {}
        prop = vendor_fields.property_path
        self.value_field = vendor_fields.value or prop("value")
        #: Each token field and where it is in the vendor's event (named in refusals).
        self.token_paths = [(name, prop(name)) for name in USAGE_TOKEN_FIELDS]
        customer = vendor_fields.customer if mapping.customer_is_default else prop(mapping.customer_field)
        base = {
            "event_id": vendor_fields.key,
            "timestamp": vendor_fields.timestamp,
            "non_field_errors": "",
            "customer": customer,
            "model": prop(mapping.model_property),
            "variant": prop(mapping.model_property),
            "credits": prop(mapping.credits_property) if mapping.credits_property else "",
        }
        single = base | dict.fromkeys((*USAGE_TOKEN_FIELDS, "requests"), self.value_field)
        several = (
            base | {name: prop(name) for name in USAGE_TOKEN_FIELDS} | {"requests": prop("input_tokens")}
        )
        tier_property = prop(mapping.tier_property) if mapping.tier_property else customer
        self.base = base
        self.shapes = {
            (False, False): single | {"tier": customer},
            (False, True): single | {"tier": tier_property},
            (True, False): several | {"tier": customer},
            (True, True): several | {"tier": tier_property},
        }

    def tokens(self, event: VendorEvent) -> tuple[dict[str, int], int, bool]:
        """Token counts, requests, and whether the kinds came as properties."""
        vendor_fields, mapping = self.vendor_fields, self.mapping
        kind = mapping.kind_of(event.name)
        if kind is None:
            raise _Refused(
                vendor_fields.name,
                f"Event {event.name!r} is not mapped to a token kind: map it in the {mapping.vendor} "
                "mapping (Integrations page or /api/v1/billing-mappings/).",
            )
        if kind != MULTI:
            return (*_single_kind(kind, _count(event.value, self.value_field)), False)
        properties = event.properties
        counts = {
            name: _count(properties[name], path)
            for name, path in self.token_paths
            if properties.get(name) is not None
        }
        if counts:
            return counts, 1, True
        word = properties.get(vendor_fields.kind_property)
        if word is None and vendor_fields.kind_property != "token_type":
            word = properties.get("token_type")
        if event.value is None or word is None:
            raise _Refused(
                vendor_fields.property_path("input_tokens"),
                "The event carries no token counts: send input_tokens / output_tokens properties, or a "
                f"value with a {vendor_fields.kind_property!r} property naming its kind.",
            )
        single = KIND_WORDS.get(str(word).strip().lower())
        if single is None:
            raise _Refused(
                vendor_fields.property_path(vendor_fields.kind_property),
                f"Unknown token kind {word!r}; use input, output, cached, cache_write or reasoning.",
            )
        return (*_single_kind(single, _count(event.value, self.value_field)), False)

    def customer(self, event: VendorEvent) -> str:
        mapping = self.mapping
        if mapping.customer_is_default:
            customer = event.customer
        else:
            customer = _text(event.properties.get(mapping.customer_field)) or ""
        if not customer:
            raise _Refused(self.base["customer"], "Name the customer.")
        return customer

    def tier(self, event: VendorEvent) -> tuple[int | None, bool]:
        """The event's live tier (None: none given) and whether a property gave it."""
        mapping = self.mapping
        value = event.properties.get(mapping.tier_property) if mapping.tier_property else None
        if type(value) is str:  # the usual case: a tier name, the same for most events of a batch
            known = self.tier_names.get(value)
            if known is None:
                known = self.tier_names[value] = self._tier_of(value)
            return known
        return self._tier_of(value)

    def _tier_of(self, value: object) -> tuple[int | None, bool]:
        mapping = self.mapping
        if value is not None and value != "":
            tier = self.tiers.find(value) if self.tiers is not None else None
            if tier is None:
                where = self.vendor_fields.property_path(mapping.tier_property)
                if (
                    self.tiers is not None
                    and isinstance(value, str)
                    and self.tiers.by_name.get(value.strip(), 0) is None
                ):
                    raise _Refused(where, f"Several products have a live tier named {value!r}; send its id.")
                raise _Refused(where, f"No live tier {value!r} in this organisation (send a name or an id).")
            return tier, True
        default = mapping.default_tier_id
        if default is not None and self.tiers is not None and default in self.tiers.ids:
            return default, False
        return None, False

    def model(self, event: VendorEvent) -> str:
        properties = event.properties
        raw, provider = properties.get(self.mapping.model_property), properties.get(PROVIDER_PROPERTY)
        if type(raw) is str and (provider is None or type(provider) is str):  # the usual case
            key = (raw, provider)
            known = self.model_texts.get(key)
            if known is None:
                known = self.model_texts[key] = self._model_of(properties)
            return known
        return self._model_of(properties)

    def _model_of(self, properties: Mapping[str, Any]) -> str:
        name = _text(properties.get(self.mapping.model_property))
        if not name:
            raise _Refused(self.base["model"], "Name the model (e.g. openai/gpt-4o).")
        provider = properties.get(PROVIDER_PROPERTY)
        if provider and isinstance(provider, str) and "/" not in name:
            name = f"{provider.strip().lower()}/{name}"
        if len(name) > MAX_NAME:
            raise _Refused(self.base["model"], f"At most {MAX_NAME} characters.")
        return name.strip()

    def translate(self, event: VendorEvent, now: datetime) -> Translation:
        vendor_fields = self.vendor_fields
        try:
            if not isinstance(event.key, str) or not event.key:
                raise _Refused(vendor_fields.key, "Send the event's id.")
            timestamp = event.timestamp
            if not isinstance(timestamp, datetime) or timestamp.tzinfo is None:
                raise _Refused(vendor_fields.timestamp, "Must be a date-time with a UTC offset.")
            counts, requests, several = self.tokens(event)
            customer = self.customer(event)
            tier, from_property = self.tier(event)
            model = self.model(event)
        except _Refused as refused:
            self.model_names.append(None)
            return Translation(fields=self.base, error=(refused.field, refused.reason))
        self.model_names.append(model)
        fields = self.shapes[several, from_property]
        if requests == 0 and not any(counts.values()):
            return Translation(fields=fields)
        record: dict[str, Any] = {
            "event_id": namespaced_key(self.mapping.vendor, event.source, event.key),
            "customer": customer,
            "timestamp": timestamp.isoformat(),
            "model": model,
            **counts,
            "requests": requests,
        }
        if tier is not None:
            record["tier"] = tier
        if self.mapping.credits_property:
            credits = event.properties.get(self.mapping.credits_property)
            if credits is not None:
                record["credits"] = credits
        return Translation(record=record, fields=fields, moment=timestamp)


def translate_events(
    events: Sequence[VendorEvent], *, mapping: VendorMapping, tiers: Tiers | None, now: datetime
) -> list[Translation]:
    """Each event as a native record (see the module docstring), model names resolved through
    the catalog: an unknown or ambiguous model refuses its event."""
    translator = _Translator(mapping, tiers)
    translations = [translator.translate(event, now) for event in events]
    names = {name for name in translator.model_names if name is not None}
    resolved = models_resolve(names, default_provider=mapping.default_provider)
    for translation, name in zip(translations, translator.model_names, strict=True):
        if name is None or translation.error is not None:
            continue
        result = resolved[name]
        if not result.name:
            translation.error = (translation.fields["model"], result.reason)
            translation.record = None
        elif translation.record is not None:
            translation.record["model"] = result.name
    return translations


def event_as_data(event: VendorEvent) -> dict[str, Any]:
    """The event as JSON-ready data (for ``IngestionError.payload``)."""
    return {
        "key": event.key,
        "source": event.source,
        "name": event.name,
        "customer": event.customer,
        "timestamp": event.timestamp.isoformat()
        if isinstance(event.timestamp, datetime)
        else str(event.timestamp),
        "properties": _jsonable(event.properties),
        "value": _jsonable(event.value),
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)
