"""Each vendor's mapping defaults, the vendors' field names, and an organisation's mapping.

A mapping says how a vendor's events become usage records: which token kind an event type /
code / meter name carries (``token_kinds``), where the customer is, which property names the
live tier, the default tier for a new customer, the provider of bare model names, the property
naming the model and the one giving credits. An organisation without a ``BillingMapping`` row
for a vendor uses the vendor's defaults (``default_mapping``), which make the vendor's
documented LLM shapes work with no configuration.

``organization_mapping`` and ``organization_live_tiers`` are remembered in this process's memory
cache for ``CACHE_SECONDS`` (3 s): measured on the shared PostgreSQL, the two lookups cost 4 to 7
ms per request under load, as much as translating a hundred events, which a 100-event Lago batch
or a one-event Stripe call pays on every request. A saved mapping or tier (``post_save`` /
``post_delete``) is forgotten at once in the saving process; other processes see it within 3 s.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import caches
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from planner.accounts.models import Organization
from planner.actuals.compat.models import BillingMapping
from planner.actuals.compat.vendors import Vendor
from planner.actuals.models import USAGE_TOKEN_FIELDS
from planner.products.models import Tier
from pricing.models import Provider

#: ``token_kinds`` value for events that name their kinds themselves: token-count properties
#: (``input_tokens``, ``output_tokens``...) or one ``value`` with a kind property (``type`` /
#: ``token_type``: ``input``, ``output``...).
MULTI = "multi"
TOKEN_KINDS = (*USAGE_TOKEN_FIELDS, MULTI)
#: ``token_kinds`` key matching any event name not listed.
ANY_NAME = "*"
#: How long a process remembers an organisation's mapping and live tiers (module docstring).
CACHE_SECONDS = 3
_CACHE = "local"


@dataclass(frozen=True)
class VendorFields:
    """Where a vendor's event keeps each thing, as the vendor's documentation names the fields
    (error messages name these, so the user finds the field in their own code)."""

    key: str
    name: str
    customer: str
    timestamp: str
    properties: str  # the object holding the event's properties ("properties", "data", "payload")
    value: str = ""  # the single-kind quantity's field, if the vendor has one
    source: str = ""
    #: Property naming the kind of ``value`` in a "multi" event (OpenMeter ``data.type``).
    kind_property: str = "token_type"

    def property_path(self, name: str) -> str:
        return f"{self.properties}.{name}"


VENDOR_FIELDS: dict[str, VendorFields] = {
    Vendor.OPENMETER: VendorFields(
        key="id",
        source="source",
        name="type",
        customer="subject",
        timestamp="time",
        properties="data",
        value="data.tokens",
        kind_property="type",
    ),
    Vendor.LAGO: VendorFields(
        key="transaction_id",
        name="code",
        customer="external_subscription_id",
        timestamp="timestamp",
        properties="properties",
        value="properties.value",
    ),
    Vendor.STRIPE: VendorFields(
        key="identifier",
        name="event_name",
        customer="payload.stripe_customer_id",
        timestamp="timestamp",
        properties="payload",
        value="payload.value",
    ),
    Vendor.METRONOME: VendorFields(
        key="transaction_id",
        name="event_type",
        customer="customer_id",
        timestamp="timestamp",
        properties="properties",
    ),
    Vendor.ORB: VendorFields(
        key="idempotency_key",
        name="event_name",
        customer="external_customer_id",
        timestamp="timestamp",
        properties="properties",
    ),
}

_LAGO_KINDS = {
    "llm_input_tokens": "input_tokens",
    "llm_output_tokens": "output_tokens",
    "llm_cached_input_tokens": "cached_tokens",
    "llm_cache_creation_tokens": "cache_write_tokens",
    "llm_reasoning_tokens": "reasoning_tokens",
}

#: Per vendor: the ``token_kinds`` and ``customer_field`` used when the organisation has no row.
DEFAULT_TOKEN_KINDS: dict[str, dict[str, str]] = {
    # OpenMeter's LLM example: type "prompt", data {"tokens", "model", "type": "input" | "output"}.
    Vendor.OPENMETER: {"prompt": MULTI},
    Vendor.LAGO: dict(_LAGO_KINDS),
    # Stripe's token meters: payload {"value", "model", "token_type": "input" | "output"}; the Lago
    # codes are accepted as meter names too (one meter per kind, no token_type).
    Vendor.STRIPE: {**_LAGO_KINDS, ANY_NAME: MULTI},
    # Metronome and Orb events carry every kind as properties (input_tokens, output_tokens...).
    Vendor.METRONOME: {ANY_NAME: MULTI},
    Vendor.ORB: {ANY_NAME: MULTI},
}
DEFAULT_CUSTOMER_FIELDS: dict[str, str] = {
    Vendor.OPENMETER: "subject",
    Vendor.LAGO: "external_subscription_id",
    Vendor.STRIPE: "stripe_customer_id",
    Vendor.METRONOME: "customer_id",
    Vendor.ORB: "external_customer_id",
}

#: Words a kind property (``type`` / ``token_type``) may use for each token field.
KIND_WORDS: dict[str, str] = {
    **{name: name for name in USAGE_TOKEN_FIELDS},
    "input": "input_tokens",
    "prompt": "input_tokens",
    "system": "input_tokens",
    "output": "output_tokens",
    "completion": "output_tokens",
    "cached": "cached_tokens",
    "cached_input": "cached_tokens",
    "cache_read": "cached_tokens",
    "cache_write": "cache_write_tokens",
    "cache_creation": "cache_write_tokens",
    "reasoning": "reasoning_tokens",
}


@dataclass(frozen=True)
class VendorMapping:
    """An organisation's effective mapping for one vendor (its row, or the defaults)."""

    vendor: str
    token_kinds: Mapping[str, str] = field(default_factory=dict)
    customer_field: str = ""
    tier_property: str = "tier"
    default_tier_id: int | None = None
    default_provider: str = ""
    model_property: str = "model"
    credits_property: str = ""
    stored: bool = False  # whether a row exists

    def kind_of(self, name: str) -> str | None:
        """The token kind (a token field or ``MULTI``) of events named ``name``; None: unmapped."""
        kind = self.token_kinds.get(name)
        return kind if kind is not None else self.token_kinds.get(ANY_NAME)

    @property
    def customer_is_default(self) -> bool:
        return self.customer_field in ("", DEFAULT_CUSTOMER_FIELDS[self.vendor])


def default_mapping(vendor: str) -> VendorMapping:
    """The vendor's defaults (no row needed)."""
    return VendorMapping(
        vendor=vendor,
        token_kinds=dict(DEFAULT_TOKEN_KINDS[vendor]),
        customer_field=DEFAULT_CUSTOMER_FIELDS[vendor],
    )


def _from_row(row: BillingMapping) -> VendorMapping:
    defaults = default_mapping(row.vendor)
    return VendorMapping(
        vendor=row.vendor,
        token_kinds=dict(row.token_kinds) if row.token_kinds else dict(defaults.token_kinds),
        customer_field=row.customer_field or defaults.customer_field,
        tier_property=row.tier_property,
        default_tier_id=row.default_tier_id,
        default_provider=row.default_provider,
        model_property=row.model_property or "model",
        credits_property=row.credits_property,
        stored=True,
    )


def _organization_id(organization: Organization | int) -> int:
    return organization if isinstance(organization, int) else organization.pk


def _mapping_key(organization_id: int, vendor: str) -> str:
    return f"compat-mapping:{organization_id}:{vendor}"


#: Bumped by any tier's change: the live tiers remembered before it are then never read again.
_TIERS_GENERATION = "compat-live-tiers-generation"


def _tiers_key(organization_id: int) -> str:
    generation = caches[_CACHE].get(_TIERS_GENERATION, 0)
    return f"compat-live-tiers:{generation}:{organization_id}"


def organization_mapping(*, organization: Organization | int, vendor: str) -> VendorMapping:
    """The organisation's mapping for ``vendor``: its row, else the vendor's defaults.

    Remembered in this process for ``CACHE_SECONDS`` (see the module docstring)."""
    key = _mapping_key(_organization_id(organization), vendor)
    cache = caches[_CACHE]
    mapping = cache.get(key)
    if mapping is None:
        row = BillingMapping.objects.filter(organization=organization, vendor=vendor).order_by()[:1]
        mapping = default_mapping(vendor) if not row else _from_row(row[0])
        cache.set(key, mapping, CACHE_SECONDS)
    return mapping


def organization_live_tiers(*, organization: Organization | int) -> list[tuple[int, str]]:
    """(id, name) of the organisation's live tiers, remembered like the mappings."""
    key = _tiers_key(_organization_id(organization))
    cache = caches[_CACHE]
    tiers = cache.get(key)
    if tiers is None:
        tiers = list(
            Tier.objects.filter(product__organization=organization, scenario__isnull=True)
            .order_by()
            .values_list("pk", "name")
        )
        cache.set(key, tiers, CACHE_SECONDS)
    return tiers


def _forget(key: str) -> None:
    """Forget ``key`` now and again once the change commits (a read in between may have
    remembered the old value)."""
    caches[_CACHE].delete(key)
    transaction.on_commit(lambda: caches[_CACHE].delete(key))


@receiver([post_save, post_delete], sender=BillingMapping)
def _mapping_changed(sender: Any, instance: BillingMapping, **kwargs: Any) -> None:
    _forget(_mapping_key(instance.organization_id, instance.vendor))


def _tiers_renew() -> None:
    caches[_CACHE].set(_TIERS_GENERATION, time.monotonic_ns(), None)


@receiver([post_save, post_delete], sender=Tier)
def _tier_changed(sender: Any, instance: Tier, **kwargs: Any) -> None:
    """Any tier's change renews the generation (no query to find its organisation), now and
    once the change commits."""
    _tiers_renew()
    transaction.on_commit(_tiers_renew)


def mapping_as_data(mapping: VendorMapping) -> dict[str, Any]:
    """The mapping as the API and the web form show it."""
    return {
        "vendor": mapping.vendor,
        "token_kinds": dict(mapping.token_kinds),
        "customer_field": mapping.customer_field,
        "tier_property": mapping.tier_property,
        "default_tier": mapping.default_tier_id,
        "default_provider": mapping.default_provider,
        "model_property": mapping.model_property,
        "credits_property": mapping.credits_property,
        "is_default": not mapping.stored,
    }


# --- Editing (API and web) --------------------------------------------------------------------

MAX_TOKEN_KINDS = 100
MAX_PROPERTY = 100
#: The mapping's editable fields, with each one's value when the row is created without it.
MAPPING_FIELDS = (
    "token_kinds",
    "customer_field",
    "tier_property",
    "default_tier",
    "default_provider",
    "model_property",
    "credits_property",
)


def _clean_text(text: str) -> bool:
    """No NUL and valid Unicode (JSON's ``"\\ud800"`` decodes to a lone surrogate, which no
    database column can store)."""
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _check_text(errors: dict[str, str], name: str, value: object, *, required: bool = False) -> str:
    if not isinstance(value, str):
        errors[name] = "Must be a string."
        return ""
    if len(value) > MAX_PROPERTY:  # as sent, like the schema's maxLength
        errors[name] = f"At most {MAX_PROPERTY} characters."
        return ""
    value = value.strip()
    if required and not value:
        errors[name] = "May not be empty."
    elif not _clean_text(value):
        errors[name] = "May not contain NUL characters or lone UTF-16 surrogates."
    return value


def _check_token_kinds(errors: dict[str, str], value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        errors["token_kinds"] = "Map each event name to a token kind (a JSON object)."
        return {}
    if len(value) > MAX_TOKEN_KINDS:
        errors["token_kinds"] = f"At most {MAX_TOKEN_KINDS} event names."
        return {}
    kinds: dict[str, str] = {}
    for name, kind in value.items():
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_PROPERTY or not _clean_text(name):
            errors["token_kinds"] = f"Event names are non-empty strings of up to {MAX_PROPERTY} characters."
            return {}
        if kind not in TOKEN_KINDS:
            shown = name.encode(errors="backslashreplace").decode()
            errors["token_kinds"] = (
                f"{shown!r}: choose one of {', '.join(TOKEN_KINDS)} (got {str(kind)[:40]!r})."
            )
            return {}
        kinds[name.strip()] = str(kind)
    return kinds


def billing_mapping_save(
    *, organization: Organization, vendor: str, data: Mapping[str, Any], partial: bool
) -> VendorMapping:
    """Create or change the organisation's mapping for ``vendor``.

    ``partial`` (PATCH): the fields given change, the others keep their current values (the
    defaults when no row exists); otherwise (PUT) omitted fields take the defaults. Raises a
    ``ValidationError`` naming each refused field: token kinds among the five token fields or
    ``multi``; ``default_tier`` a live tier of this organisation; ``default_provider`` a provider
    of the catalog.
    """
    if vendor not in Vendor.values:
        raise ValidationError({"vendor": f"Unknown vendor {vendor!r}."})
    unknown = sorted(set(data) - set(MAPPING_FIELDS), key=str)
    errors: dict[str, str] = {str(name)[:100]: "Unknown field." for name in unknown}
    current = (
        organization_mapping(organization=organization, vendor=vendor) if partial else default_mapping(vendor)
    )
    merged = mapping_as_data(current)
    merged.update({name: value for name, value in data.items() if name in MAPPING_FIELDS})
    token_kinds = _check_token_kinds(errors, merged["token_kinds"])
    texts = {
        name: _check_text(errors, name, merged[name], required=name == "model_property")
        for name in (
            "customer_field",
            "tier_property",
            "default_provider",
            "model_property",
            "credits_property",
        )
    }
    default_tier = merged["default_tier"]
    tier: Tier | None = None
    if default_tier is not None:
        if (
            isinstance(default_tier, bool)
            or not isinstance(default_tier, int)
            or not 0 < default_tier < 2**63
        ):
            errors["default_tier"] = "Must be a tier id (an integer) or null."
        else:
            tier = Tier.objects.filter(
                pk=default_tier, product__organization=organization, scenario__isnull=True
            ).first()
            if tier is None:
                errors["default_tier"] = f"No live tier {default_tier} in this organisation."
    provider = texts["default_provider"]
    if provider and "default_provider" not in errors and not Provider.objects.filter(slug=provider).exists():
        errors["default_provider"] = f"No provider {provider!r} in the price catalog."
    if errors:
        raise ValidationError(errors)
    row, _ = BillingMapping.objects.update_or_create(
        organization=organization,
        vendor=vendor,
        defaults={
            "token_kinds": token_kinds,
            "customer_field": texts["customer_field"] or DEFAULT_CUSTOMER_FIELDS[vendor],
            "tier_property": texts["tier_property"],
            "default_tier": tier,
            "default_provider": provider,
            "model_property": texts["model_property"],
            "credits_property": texts["credits_property"],
        },
    )
    # Built from the row, not read through the cache: this transaction may still roll back.
    return _from_row(row)


def organization_mappings(*, organization: Organization | int) -> list[VendorMapping]:
    """The organisation's mapping of every vendor (its rows, the defaults elsewhere), in vendor order."""
    rows = {row.vendor: row for row in BillingMapping.objects.filter(organization=organization)}
    return [
        _from_row(rows[vendor]) if vendor in rows else default_mapping(vendor) for vendor in Vendor.values
    ]


def billing_mappings_for_organization(*, organization: Organization | int) -> QuerySet[BillingMapping]:
    """The organisation's stored mappings."""
    return BillingMapping.objects.filter(organization=organization)
