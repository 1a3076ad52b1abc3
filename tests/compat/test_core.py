"""The vendor-neutral core: translation of vendor events to usage records, model and tier
resolution, key namespacing, part records, outcomes and ingestion errors."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from planner.actuals.compat.events import namespaced_key
from planner.actuals.compat.ingest import (
    CompatBatchInvalid,
    EventOutcome,
    VendorEvent,
    compat_ingest,
    record_ingestion_errors,
)
from planner.actuals.compat.models import BillingMapping, IngestionError
from planner.actuals.models import Customer, UsageRecord
from pricing.models import AIModel
from tests.compat.conftest import PERIOD, WHEN, CompatSetup, NativeTwin, margins, token_totals, total_cost
from tests.factories import AIModelFactory, ProviderFactory


def lago(key: str, code: str, value: Any, *, customer: str = "cus-1", **properties: Any) -> VendorEvent:
    return VendorEvent(
        key=key,
        source="",
        name=code,
        customer=customer,
        timestamp=WHEN,
        properties={"value": value, "model": "openai/gpt-4o", "tier": "Pro", **properties},
        value=value,
    )


def metronome(key: str, *, customer: str = "cus-1", **properties: Any) -> VendorEvent:
    return VendorEvent(
        key=key, source="", name="llm_usage", customer=customer, timestamp=WHEN, properties=properties
    )


def ingest(
    compat: CompatSetup, vendor: str, events: list[VendorEvent], partial: bool = False
) -> list[EventOutcome]:
    return compat_ingest(organization=compat.organization, vendor=vendor, events=events, partial=partial)


def statuses(outcomes: list[EventOutcome]) -> list[str]:
    return [outcome.status for outcome in outcomes]


# --- Model names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        ({"model": "openai/gpt-4o"}, "openai/gpt-4o"),
        ({"model": "gpt-4o"}, "openai/gpt-4o"),
        ({"model": "GPT-4o"}, "openai/gpt-4o"),
        ({"model": "gpt-4o", "provider": "openai"}, "openai/gpt-4o"),
    ],
)
def test_model_names_resolve_through_the_catalog(
    compat: CompatSetup, properties: dict[str, str], expected: str
) -> None:
    event = metronome("e1", input_tokens=100, output_tokens=10, tier="Pro", **properties)
    assert statuses(ingest(compat, "metronome", [event])) == ["created"]
    record = UsageRecord.objects.get(organization=compat.organization)
    assert str(record.model) == expected


def test_a_catalog_alias_resolves_through_its_match_clause(compat: CompatSetup) -> None:
    gpt4o = AIModel.objects.get(provider__slug="openai", slug="gpt-4o")
    gpt4o.match = {"or": [{"equals": "gpt-4o"}, {"starts_with": "gpt-4o-2024"}]}
    gpt4o.save()
    event = metronome("e1", input_tokens=100, tier="Pro", model="gpt-4o-2024-08-06")
    assert statuses(ingest(compat, "metronome", [event])) == ["created"]
    assert UsageRecord.objects.get().model_id == gpt4o.pk


def test_an_ambiguous_bare_name_is_refused_unless_the_mapping_names_a_provider(compat: CompatSetup) -> None:
    AIModelFactory.create(provider=ProviderFactory.create(slug="azure"), slug="gpt-4o")
    event = metronome("e1", input_tokens=100, tier="Pro", model="gpt-4o")
    with pytest.raises(CompatBatchInvalid) as refused:
        ingest(compat, "metronome", [event])
    (outcome,) = refused.value.outcomes
    assert (outcome.field, outcome.status) == ("properties.model", "invalid")
    assert "Ambiguous" in outcome.reason and "azure" in outcome.reason and "openai" in outcome.reason
    BillingMapping.objects.create(
        organization=compat.organization, vendor="metronome", default_provider="openai"
    )
    assert statuses(ingest(compat, "metronome", [replace(event, key="e2")])) == ["created"]
    assert str(UsageRecord.objects.get().model) == "openai/gpt-4o"


@pytest.mark.parametrize("name", ["openai/gpt-9", "gpt-9", "nope/gpt-4o", ""])
def test_an_unknown_model_is_refused_never_priced_at_zero(compat: CompatSetup, name: str) -> None:
    event = metronome("e1", input_tokens=100, tier="Pro", model=name)
    with pytest.raises(CompatBatchInvalid) as refused:
        ingest(compat, "metronome", [event])
    assert refused.value.outcomes[0].field == "properties.model"
    assert not UsageRecord.objects.exists()


# --- Tiers ------------------------------------------------------------------------------------


def test_a_new_customer_takes_its_tier_from_the_property_by_name_or_id(compat: CompatSetup) -> None:
    pro, free = compat.tiers["Pro"], compat.tiers["Free"]
    events = [
        metronome("e1", customer="a", input_tokens=10, model="gpt-4o", tier="Pro"),
        metronome("e2", customer="b", input_tokens=10, model="gpt-4o", tier=str(free.pk)),
        metronome("e3", customer="c", input_tokens=10, model="gpt-4o", tier="pro"),
    ]
    ingest(compat, "metronome", events)
    tiers = {c.external_id: c.tier_periods.get().tier_id for c in Customer.objects.all()}
    assert tiers == {"a": pro.pk, "b": free.pk, "c": pro.pk}


def test_a_new_customer_takes_the_mappings_default_tier(compat: CompatSetup) -> None:
    BillingMapping.objects.create(
        organization=compat.organization, vendor="metronome", default_tier=compat.tiers["Free"]
    )
    ingest(compat, "metronome", [metronome("e1", input_tokens=10, model="gpt-4o")])
    assert Customer.objects.get().tier_periods.get().tier == compat.tiers["Free"]


def test_a_new_customer_without_a_tier_is_refused_naming_the_customer(compat: CompatSetup) -> None:
    with pytest.raises(CompatBatchInvalid) as refused:
        ingest(compat, "metronome", [metronome("e1", customer="cus-new", input_tokens=10, model="gpt-4o")])
    (outcome,) = refused.value.outcomes
    assert outcome.field == "customer_id"
    assert "'cus-new'" in outcome.reason and "default tier" in outcome.reason


def test_an_unknown_tier_name_is_refused_on_the_tier_property(compat: CompatSetup) -> None:
    with pytest.raises(CompatBatchInvalid) as refused:
        ingest(compat, "metronome", [metronome("e1", input_tokens=10, model="gpt-4o", tier="Gold")])
    assert refused.value.outcomes[0].field == "properties.tier"


def test_a_known_customer_needs_no_tier(compat: CompatSetup) -> None:
    ingest(compat, "metronome", [metronome("e1", input_tokens=10, model="gpt-4o", tier="Pro")])
    assert statuses(ingest(compat, "metronome", [metronome("e2", input_tokens=10, model="gpt-4o")])) == [
        "created"
    ]


# --- Keys, dedup, conflicts ---------------------------------------------------------------------


def test_the_same_key_text_from_two_vendors_is_two_records(compat: CompatSetup) -> None:
    ingest(compat, "lago", [lago("txn-1", "llm_input_tokens", "100")])
    ingest(compat, "metronome", [metronome("txn-1", input_tokens=100, model="gpt-4o")])
    assert sorted(UsageRecord.objects.values_list("event_id", flat=True)) == [
        "lago::txn-1",
        "metronome::txn-1",
    ]


def test_openmeter_keys_are_namespaced_by_source() -> None:
    assert namespaced_key("openmeter", "svc-a", "1") != namespaced_key("openmeter", "svc-b", "1")
    long = namespaced_key("lago", "", "x" * 300)
    assert long.startswith("lago#") and len(long) <= 255
    assert long == namespaced_key("lago", "", "x" * 300) != namespaced_key("lago", "", "x" * 301)


def test_a_long_key_is_hashed_and_still_deduplicated(compat: CompatSetup) -> None:
    event = lago("k" * 400, "llm_input_tokens", 100)
    assert statuses(ingest(compat, "lago", [event])) == ["created"]
    assert statuses(ingest(compat, "lago", [event])) == ["duplicate"]


def test_resend_is_a_duplicate_and_another_payload_a_conflict(compat: CompatSetup) -> None:
    first = lago("t1", "llm_input_tokens", "100")
    assert statuses(ingest(compat, "lago", [first, lago("t2", "llm_output_tokens", 5)])) == [
        "created",
        "created",
    ]
    again = ingest(
        compat, "lago", [first, lago("t2", "llm_output_tokens", 6), lago("t3", "llm_input_tokens", 1)]
    )
    assert statuses(again) == ["duplicate", "conflict", "created"]
    assert UsageRecord.objects.get(event_id="lago::t2").output_tokens == 5  # the first version stands
    in_batch = ingest(compat, "lago", [lago("t4", "llm_input_tokens", 1), lago("t4", "llm_input_tokens", 1)])
    assert statuses(in_batch) == ["created", "duplicate"]


# --- Parts and requests -------------------------------------------------------------------------


def test_part_records_add_up_to_the_combined_record(compat: CompatSetup, native_twin: NativeTwin) -> None:
    """One call as five Lago events (disjoint quantities) against one native record."""
    events = [
        lago("c1-in", "llm_input_tokens", "700"),
        lago("c1-cached", "llm_cached_input_tokens", "200"),
        lago("c1-write", "llm_cache_creation_tokens", "100"),
        lago("c1-out", "llm_output_tokens", "300"),
        lago("c1-reason", "llm_reasoning_tokens", "50"),
    ]
    assert statuses(ingest(compat, "lago", events)) == ["created"] * 5
    native_twin.send(
        [
            {
                "event_id": "c1",
                "customer": "cus-1",
                "tier": "Pro",
                "timestamp": WHEN.isoformat(),
                "model": "openai/gpt-4o",
                "input_tokens": 1000,
                "cached_tokens": 200,
                "cache_write_tokens": 100,
                "output_tokens": 350,
                "reasoning_tokens": 50,
            }
        ]
    )
    compat_sums = token_totals(compat.organization)["cus-1"]
    native_sums = token_totals(native_twin.organization)["cus-1"]
    assert {**compat_sums, "records": 1} == native_sums
    assert compat_sums["records"] == 5 and compat_sums["requests"] == 1
    assert total_cost(compat.organization) == total_cost(native_twin.organization)
    assert margins(compat.organization, PERIOD) == margins(native_twin.organization, PERIOD)


def test_a_zero_part_is_acknowledged_and_not_stored(compat: CompatSetup) -> None:
    outcomes = ingest(
        compat, "lago", [lago("a", "llm_input_tokens", 10), lago("b", "llm_cached_input_tokens", 0)]
    )
    assert statuses(outcomes) == ["created", "created"]
    assert UsageRecord.objects.count() == 1


def test_credits_from_a_mapped_property(compat: CompatSetup) -> None:
    BillingMapping.objects.create(
        organization=compat.organization, vendor="metronome", credits_property="credits"
    )
    ingest(compat, "metronome", [metronome("e1", input_tokens=10, model="gpt-4o", tier="Pro", credits="2.5")])
    assert str(UsageRecord.objects.get().credits) == "2.500000"


# --- Refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (lago("t", "llm_input_tokens", "12.5"), "properties.value"),
        (lago("t", "llm_input_tokens", "-1"), "properties.value"),
        (lago("t", "llm_input_tokens", None), "properties.value"),
        (lago("t", "llm_unknown", 1), "code"),
        (lago("t", "llm_input_tokens", 1, customer=""), "external_subscription_id"),
        (replace(lago("t", "llm_input_tokens", 1), timestamp=WHEN + timedelta(days=3650)), "timestamp"),
        (replace(lago("t", "llm_input_tokens", 1), key=""), "transaction_id"),
        (lago("t", "llm_input_tokens", 1, customer="x" * 300), "external_subscription_id"),
    ],
)
def test_refusals_name_the_vendor_field(compat: CompatSetup, event: VendorEvent, field: str) -> None:
    with pytest.raises(CompatBatchInvalid) as refused:
        ingest(compat, "lago", [lago("ok", "llm_input_tokens", 1), event])
    (outcome,) = refused.value.outcomes
    assert (outcome.index, outcome.field) == (1, field), outcome.reason
    assert not UsageRecord.objects.exists()


def test_multi_kind_refusals_name_the_property(compat: CompatSetup) -> None:
    with pytest.raises(CompatBatchInvalid) as refused:
        ingest(
            compat,
            "metronome",
            [metronome("e", input_tokens=10, cached_tokens=20, model="gpt-4o", tier="Pro")],
        )
    assert refused.value.outcomes[0].field == "properties.cached_tokens"


def test_partial_writes_the_valid_events_and_reports_the_others(compat: CompatSetup) -> None:
    events = [
        metronome("ok", input_tokens=10, model="gpt-4o", tier="Pro"),
        metronome("bad-model", input_tokens=10, model="gpt-9", tier="Pro"),
        metronome("bad-time", input_tokens=10, model="gpt-4o", tier="Pro"),
    ]
    events[2] = replace(events[2], timestamp=WHEN + timedelta(days=3650))
    outcomes = compat_ingest(organization=compat.organization, vendor="orb", events=events, partial=True)
    assert statuses(outcomes) == ["created", "invalid", "invalid"]
    assert [o.field for o in outcomes] == ["", "properties.model", "timestamp"]
    assert UsageRecord.objects.count() == 1
    assert record_ingestion_errors(compat.organization, "orb", events, outcomes) == 2
    stored = IngestionError.objects.order_by("event_key")
    assert [(e.event_key, e.field, e.customer) for e in stored] == [
        ("bad-model", "properties.model", "cus-1"),
        ("bad-time", "timestamp", "cus-1"),
    ]
    assert stored[0].payload["properties"]["model"] == "gpt-9"


def test_stored_payloads_are_trimmed(compat: CompatSetup) -> None:
    event = metronome("e", input_tokens=1, model="gpt-9", blob="x" * 50_000)
    outcome = EventOutcome(0, "invalid", "properties.model", "Unknown model")
    record_ingestion_errors(compat.organization, "metronome", [event], [outcome])
    payload = IngestionError.objects.get().payload
    assert payload["truncated"] is True and len(payload["json"]) == 4_000


def test_a_new_customers_tier_from_one_event_serves_its_others(compat: CompatSetup) -> None:
    """The tier named by the batch's earliest event of a new customer serves its other events;
    a later resend of one event alone is still the same record (the tier is not hashed)."""
    first = lago("in", "llm_input_tokens", 10)
    second = replace(lago("out", "llm_output_tokens", 5), properties={"value": 5, "model": "openai/gpt-4o"})
    assert statuses(ingest(compat, "lago", [second, first])) == ["created", "created"]
    assert Customer.objects.get().tier_periods.get().tier == compat.tiers["Pro"]
    assert statuses(ingest(compat, "lago", [first])) == ["duplicate"]
    assert statuses(
        ingest(compat, "lago", [replace(first, properties={**first.properties, "tier": "Free"})])
    ) == ["duplicate"]


def test_a_refused_batch_creates_no_customer(compat: CompatSetup) -> None:
    with pytest.raises(CompatBatchInvalid):
        ingest(
            compat, "lago", [lago("a", "llm_input_tokens", 1, customer="new"), lago("b", "llm_unknown", 1)]
        )
    future = replace(lago("c", "llm_input_tokens", 1, customer="new"), timestamp=WHEN + timedelta(days=3650))
    with pytest.raises(CompatBatchInvalid):
        ingest(compat, "lago", [lago("d", "llm_input_tokens", 1, customer="new"), future])
    assert not Customer.objects.exists()


def test_remembered_tiers_and_mappings_follow_their_changes(compat: CompatSetup) -> None:
    """The mapping and live tiers a process remembers (3 s) are forgotten when they change."""
    ingest(compat, "metronome", [metronome("e1", customer="a", input_tokens=1, model="gpt-4o", tier="Pro")])
    pro = compat.tiers["Pro"]
    pro.name = "Gold"
    pro.save()
    ingest(compat, "metronome", [metronome("e2", customer="b", input_tokens=1, model="gpt-4o", tier="Gold")])
    assert Customer.objects.get(external_id="b").tier_periods.get().tier == pro
    BillingMapping.objects.create(organization=compat.organization, vendor="metronome", default_tier=pro)
    ingest(compat, "metronome", [metronome("e3", customer="c", input_tokens=1, model="gpt-4o")])
    assert Customer.objects.get(external_id="c").tier_periods.get().tier == pro
