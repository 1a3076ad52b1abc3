"""Hostile-input sweep over every write endpoint of the API (issue 17, docs/RELIABILITY.md).

Every POST, PUT, PATCH and DELETE operation of the OpenAPI schema (a new one without inputs
here fails ``test_the_sweep_covers_every_write_operation``) gets bodies that are not JSON, not
UTF-8, nested too deeply, of another content type or over the size limit (sent, or declared),
and fields with NaN and infinities (JSON literals and strings), 1e308, numbers beyond a float,
NUL, lone UTF-16 surrogates, extreme dates, ids beyond 64 bits, wrong types and long strings;
lists get forged cursors and pages. Before each request the row count of every table is taken
(one SQL statement). After it: never a 5xx; on a 4xx the counts are unchanged, the object the
request names reads the same (its GET) and the body is the API's error shape
(``api.exceptions``). An input marked ``refused`` (most are) must get a 4xx. Each endpoint is a
test over one seeded organisation; each input a subtest in a savepoint rolled back after it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.db import connection, transaction
from drf_spectacular.generators import SchemaGenerator

from planner.actuals.models import CustomerMonth
from planner.actuals.services import customer_tier_change
from planner.products.selectors import live_tiers
from planner.simulation.plans import scenario_tiers
from tests.api.conftest import KeyClient
from tests.api.hostile import (
    API,
    BODILESS,
    BODY,
    JSON,
    Endpoint,
    Hostile,
    Raw,
    Sent,
    World,
    by_id,
    cron,
    dumps,
    raw,
    resource,
    set_field,
    vary,
)
from tests.api.hostile_alert_channels import ALERT_CHANNEL_ENDPOINTS

#: A request the optimizations endpoint accepts: Pro's cap and fee on a small grid.
OPTIMIZATION = {
    "tier": "Pro",
    "vary": [{"setting": "cap", "min": 0, "max": 1000, "step": 250}, {"setting": "fee", "max": "40.00"}],
    "constraints": [{"metric": "underwater_share", "max": 0.05}],
}


#: A request the replays endpoints accept: the month of the seeded customer's usage.
REPLAY = {"from": "2026-06", "to": "2026-06"}


#: A request the sensitivities endpoint accepts.
SENSITIVITY = {"tier": "Pro", "users": 1000, "ranges": {"usage_median": [-0.25, 0.25]}}


def workload_body(w: World) -> dict[str, Any]:
    tokens = {"input_tokens_median": 800.0, "input_tokens_p90": 3e3, "output_tokens_median": 300.0}
    return {"product": w["product"], "name": "Hostile", "output_tokens_p90": 1200.0, **tokens} | {
        "models": [{"model": w["model"], "share": 1.0}]
    }


def record_body(w: World) -> list[dict[str, Any]]:
    record = {"event_id": "evt-h", "customer": "cus-h", "tier": w["live_pro"], "model": "openai/gpt-4o"}
    return [{**record, "timestamp": "2025-06-12T10:00:00Z", "input_tokens": 1000, "output_tokens": 100}]


def csv_file(*rows: str) -> Callable[[World, Any], Sent]:
    header = "kind,provider,model,discount,slug,name,input_mtok,output_mtok,cache_read_mtok,cache_write_mtok"
    text = "\n".join((header + ",reasoning_mtok", *rows))
    return lambda w, base: Sent(text.encode("utf-8", "surrogatepass"), "text/csv")


def idempotency_key(label: str, value: str) -> Hostile:
    return Hostile(
        f"Idempotency-Key {label}", lambda w, b: Sent(b"{}", environ={"HTTP_IDEMPOTENCY_KEY": value})
    )


DOCUMENT_FIELDS = (
    *vary("plan.usage_distributions[0].median", "float"),
    *vary("plan.tiers[0].monthly_fee", "money"),
    *vary("plan.settings.seed", "int"),
    *vary("plan.settings.price_date", "date", lenient=2),
    *vary("plan.tiers[0].name", "text"),
    set_field("version", "2"),
    set_field("version", Raw("2e308")),
    set_field("product", []),
    set_field("plan.levers", {"key": "x"}),
)
PRIVATE_ROW = "private,,,,acme,Acme,{},2,,,"
SHEET_FILE = (
    *(
        Hostile(f"CSV price {text}", csv_file(PRIVATE_ROW.format(text)))
        for text in ("NaN", "-Infinity", "1e308")
    ),
    Hostile("CSV with NUL", csv_file("private,,,,ac\x00me,Acme,1,2,,,")),
    Hostile("CSV with a lone surrogate", csv_file("private,,,,ac\ud800me,Acme,1,2,,,")),
    raw("CSV not UTF-8", b"kind,slug\nprivate,\xff\xfe", "text/csv"),
    raw("application/xml", b"<entries/>", "application/xml"),
    set_field("entries[0].input_mtok", Raw("1e400")),
    set_field("entries[0].input_mtok", "NaN"),
    set_field("entries[0].slug", "\ud800"),
    set_field("entries", {"kind": "private"}),
)
RECORD_FIELDS = (
    *vary("[0].timestamp", "date", 3),
    set_field("[0].timestamp", "0001-01-01T00:00:00+14:00"),
    *vary("[0].event_id", "text", 2),
    *vary("[0].input_tokens", "int", 4),
    *vary("[0].tier", "id", 3),
    set_field("[0].credits", "NaN"),
    Hostile("10,001 records", lambda w, base: Sent(dumps(base * 10_001))),
    set_field("[0]", []),
)

ENDPOINTS: list[Endpoint] = [
    *resource(
        "products",
        "product",
        lambda w: {"name": "Hostile", "description": "", "default_correlation": 0.5},
        (
            *vary("default_correlation", "float"),
            *vary("name", "text"),
            *vary("description", "text", lenient=1),
        ),
        (*vary("default_correlation", "float", 4), *vary("name", "text", 2)),
    ),
    *resource(
        "tiers",
        "live_pro",
        lambda w: {"product": w["product"], "name": "Hostile", "monthly_fee": "10.00", "subscribers": 10},
        (
            *vary("product", "id"),
            *vary("monthly_fee", "money"),
            *vary("included_credits", "float"),
            set_field("subscribers", 2**31),  # past a 32-bit column (SQLite took it: a 500)
        ),
        (*vary("churn_monthly", "float", 5), *vary("seats", "int", 3), set_field("seats", 2**31)),
    ),
    *resource(
        "segments",
        "segment",
        lambda w: {"tier": w["plan_pro"], "name": "Hostile", "share": 0.5},
        (*vary("share", "float"), *vary("tier", "id"), *vary("position", "int"), *vary("name", "text", 3)),
        (*vary("share", "float", 5), set_field("share", 5e-324, refused=False), *vary("tier", "id", 2)),
    ),
    *resource(
        "workloads",
        "chat",
        workload_body,
        (
            *vary("input_tokens_median", "float"),
            *vary("models[0].share", "float", 4),
            *vary("models[0].model", "id", 3),
            set_field("models", {"model": 1}),
            set_field("models", []),
        ),
        (*vary("calls_per_request_median", "float", 5), *vary("name", "text", 2)),
    ),
    *resource(
        "usage-distributions",
        "usage",
        lambda w: {"tier": w["plan_pro"], "segment": w["segment"], "workload": w["chat"]}
        | {"kind": "lognormal", "median": 1.0, "p90": 6.0},
        (
            *vary("median", "float"),
            set_field("values", ["NaN", 1.0]),
            set_field("values", [Raw("1e400"), 1.0]),
            # Accepted: unlike ``median`` (at most 1e9) the values have no upper bound (reported).
            set_field("values", [1e308, 1.0], refused=False),
        ),
        (*vary("p90", "float", 5), set_field("kind", "pareto\x00"), *vary("segment", "id", 2)),
        lambda w: {"tier": w["plan_pro"], "segment": None, "workload": w["chat"], "median": 1.0, "p90": 6.0},
    ),
    *resource(
        "scenarios",
        "scenario",
        lambda w: {"product": w["product"], "name": "Hostile", "horizon_months": 3},
        (
            *vary("seed", "int"),
            *vary("simulated_users", "int", 3),
            *vary("price_date", "date", lenient=2),
            *vary("price_trend_yearly", "float", 4),
            set_field("levers", [{"key": "x", "label": "y", "response_cache_hit_rate": "NaN"}]),
            set_field("levers", {"key": "x"}),
        ),
        (*vary("target_margin", "float", 5), *vary("name", "text", 2)),
    ),
    Endpoint(
        "PUT", "/scenarios/{id}/document/", by_id("scenario"), lambda w: w["document"],
        BODY + DOCUMENT_FIELDS,
        "/scenarios/{id}/document/",
    ),
    Endpoint(
        "POST", "/scenarios/import/", dict, lambda w: w["import"],
        BODY + DOCUMENT_FIELDS + (set_field("version", 1),),
    ),
    Endpoint(
        "POST", "/scenarios/{id}/duplicate/", by_id("scenario"), lambda w: {"name": "Hostile copy"},
        BODY + vary("name", "text")
        + (idempotency_key("with NUL", "a\x00b"), idempotency_key("of 1,000 characters", "k" * 1000)),
        "/scenarios/{id}/",
    ),
    Endpoint(
        "POST", "/scenarios/{id}/runs/", by_id("scenario"), lambda w: {"users": 1000, "seed": 1},
        BODY + vary("users", "int") + vary("seed", "int", 4) + (set_field("seed", -1),), "/scenarios/{id}/",
    ),
    Endpoint("POST", "/runs/{id}/cancel/", by_id("run"), None, BODILESS, "/runs/{id}/"),
    Endpoint(
        "POST", "/scenarios/{id}/optimizations/", by_id("scenario"), lambda w: OPTIMIZATION,
        BODY + vary("vary[0].min", "float") + vary("vary[1].max", "money")
        + vary("constraints[0].max", "float") + vary("users", "int", 3)
        + (
            set_field("tier", 12), set_field("tier", "No such tier"), set_field("vary", []),
            set_field("vary[0].setting", "seats"), set_field("vary[0].lever", "x" * 100),
            set_field("vary[0].step", 1e-9), set_field("vary[0].step", 0), set_field("vary[1].max", 12),
            set_field("vary[0].max", "100"), set_field("constraints", []),
            set_field("constraints[0].metric", "profit"),
            set_field("constraints[0]", {"metric": "gross_margin"}),
            set_field("constraints[0]", {"metric": "gross_margin", "min": 60}),
            set_field("constraints[0]", {"metric": "underwater_loss", "max": 500}),
            set_field("confidence", 1.5), set_field("month", "Horizon"), set_field("month", 2),
            set_field("month", True), set_field("objective", "cheapest"),
        ),
        "/scenarios/{id}/",
    ),
    Endpoint(
        "POST", "/scenarios/{id}/sensitivities/", by_id("scenario"), lambda w: SENSITIVITY,
        BODY + vary("ranges.usage_median[0]", "float") + vary("users", "int", 3)
        + (
            set_field("tier", "No such tier"), set_field("tier", 12), set_field("metric", "profit"),
            set_field("ranges", {"weather": [0, 1]}), set_field("ranges", [1, 2]),
            set_field("ranges", {"usage_median": [1]}), set_field("ranges", {"usage_median": [0.5, -0.5]}),
            set_field("ranges", {"model_mix": [-2, 2]}), set_field("ranges", {"usage_median": [-1, 0]}),
        ),
        "/scenarios/{id}/",
    ),
    Endpoint(
        "POST", "/optimizations/{id}/cancel/", by_id("optimization"), None, BODILESS, "/optimizations/{id}/"
    ),
    *(
        Endpoint(
            "POST", f"/{owner}s/{{id}}/replays/", by_id(owner), lambda w: REPLAY,
            BODY + vary("from", "text", 4) + vary("to", "date", 4) + vary("price_date", "date", 5)
            + vary("price_sheet", "id") + vary("bootstrap", "int") + vary("seed", "int", 4)
            + (
                set_field("from", "2026-13"), set_field("to", "2025-12"), set_field("bootstrap", -1),
                set_field("bootstrap", 10_001), set_field("price_sheet", 0), set_field("from", "1999-01"),
                set_field("to", "2031-01"),
            ),
            f"/{owner}s/{{id}}/",
        )
        for owner in ("scenario", "product")
    ),
    Endpoint("POST", "/replays/{id}/cancel/", by_id("replay"), None, BODILESS, "/replays/{id}/"),
    *resource(
        "alert-rules",
        "alert_rule",
        lambda w: {"name": "Hostile", "metric": "underwater_share", "threshold": "10"}
        | {"recipients": ["a@example.com"]},
        (
            *vary("threshold", "money"),
            set_field("recipients", ["a\x00@example.com"]),
            set_field("recipients", ["x@example.com"] * 1000),
            set_field("recipients", "a@example.com"),
            cron("99 99 99 99 99"),
            cron("0 8 * * *\x00"),
            *vary("scenario", "id", 3),
        ),
        (*vary("threshold", "money", 4), cron("\ud800 * * * *"), *vary("tier", "id", 2)),
    ),
    *resource(
        "price-sheets",
        "price_sheet",
        lambda w: {"name": "Hostile sheet", "effective_from": "2027-01-01"},
        (
            set_field("name", "\x1e" + "x" * 200, "U+001E and 200 characters"),  # was trimmed, then taken
            *vary("effective_from", "date", lenient=2),
            *vary("effective_to", "date", 4),
            *vary("notes", "text", 2),
        ),
        (*vary("effective_to", "date", 4), *vary("name", "text", 3)),
    ),
    Endpoint(
        "POST", "/price-sheets/{id}/entries/", by_id("price_sheet"),
        lambda w: {"kind": "private", "slug": "hostile", "input_mtok": "1", "output_mtok": "2"},
        BODY + vary("input_mtok", "money") + vary("slug", "text", 3) + (set_field("kind", "discount\x00"),),
        "/price-sheets/{id}/",
    ),
    Endpoint(
        "DELETE", "/price-sheets/{id}/entries/{entry_id}/", by_id("price_sheet", "entry_id"), None, BODILESS,
        "/price-sheets/{id}/",
    ),
    Endpoint(
        "POST", "/price-sheets/{id}/import/", by_id("price_sheet"),
        lambda w: {"entries": [{"kind": "private", "slug": "acme", "input_mtok": "1", "output_mtok": "2"}]},
        BODY[:7] + SHEET_FILE, "/price-sheets/{id}/",
    ),
    *resource(
        "self-hosted-deployments",
        "self_hosted",
        lambda w: {
            "name": "Hostile", "gpu_hourly_cost": "2.50", "gpus_per_replica": 2,
            "input_tokens_per_second": 5e3, "output_tokens_per_second": 1e3, "target_utilization": 0.6,
        },
        (
            *vary("input_tokens_per_second", "float"),
            set_field("input_tokens_per_second", 1e-300),
            *vary("gpu_hourly_cost", "money", 5),
            *vary("gpus_per_replica", "int", 3),
        ),
        (*vary("target_utilization", "float", 5), set_field("throughput_multiplier", 5e-324)),
    ),
    Endpoint(
        "POST", "/usage-records/", dict, record_body, BODY[:7] + RECORD_FIELDS, scopes=("read", "ingest")
    ),
    Endpoint(
        "POST", "/customers/{id}/tier-changes/", by_id("customer"),
        lambda w: {"tier": w["live_pro"], "effective_from": "2026-01-01"},
        BODY + vary("tier", "id") + vary("effective_from", "date", lenient=2), "/customers/{id}/",
    ),
    *ALERT_CHANNEL_ENDPOINTS,
    *(
        Endpoint(
            method, "/billing-mappings/{vendor}/", lambda w: {"vendor": "lago"},
            lambda w: {"token_kinds": {"llm_input_tokens": "input_tokens"}, "default_tier": w["live_pro"]},
            BODY + vary("default_tier", "id") + vary("customer_field", "text")
            + vary("model_property", "text", 3)
            + (
                Hostile("a scenario's tier", lambda w, b: Sent(dumps({**b, "default_tier": w["plan_pro"]}))),
                set_field("token_kinds.llm_input_tokens", "x"),
                set_field("token_kinds", ["input_tokens"]), set_field("default_provider", "nope\x00"),
            ),
            "/billing-mappings/{vendor}/",
        )
        for method in ("PUT", "PATCH")
    ),
]  # fmt: skip


def query(*, refused: bool = True, **parameters: str) -> Hostile:
    label = "&".join(f"{name}={value[:30]!r}" for name, value in parameters.items())
    return Hostile(f"?{label}", lambda w, base: Sent(None, query=urlencode(parameters)), refused)


def cursor(position: str) -> Hostile:
    return query(cursor=base64.b64encode(urlencode({"p": position}).encode()).decode())


#: Forged cursors and pages on lists (reads, so not in the write operations' coverage).
FORGED = (
    query(cursor="forged"),
    query(cursor="%%%"),
    *(cursor(p) for p in ("abc", "1\x00", "9" * 40, "2025-06-12 10:00")),
    query(page_size="0"),
    query(page_size="501"),
    query(page_size="NaN"),
)
PAGES = (
    *(query(page=page) for page in ("abc", "0", "1.5", "-1", "1\x00", "1e308")),
    query(page="", refused=False),  # the first page (the schema's ``allowEmptyValue``)
    *FORGED[-3:],
)
READS = [
    Endpoint("GET", "/runs/", dict, None, FORGED),
    Endpoint("GET", "/usage-records/", dict, None, FORGED),
    Endpoint("GET", "/ingestion-errors/", dict, None, (*FORGED, query(vendor="paypal"), query(vendor=""))),
    Endpoint("GET", "/products/", dict, None, PAGES),
]
BY_KEY = {endpoint.key: endpoint for endpoint in ENDPOINTS + READS}


# --- The checks --------------------------------------------------------------------------------


def _row_count_sql() -> str:
    tables = sorted({m._meta.db_table for m in apps.get_models(include_auto_created=True) if m._meta.managed})
    quote = connection.ops.quote_name
    return "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {quote(table)})" for table in tables)


def row_counts(sql: str) -> tuple[int, ...]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return tuple(cursor.fetchone())


def assert_error_shape(response: Any) -> None:
    assert response["Content-Type"].startswith(JSON), response["Content-Type"]
    body = response.json()
    assert set(body) == {"errors"} and body["errors"], body
    for error in body["errors"]:
        assert set(error) in ({"field", "code", "message"}, {"field", "code", "message", "line"}), error
        assert error["field"] is None or isinstance(error["field"], str), error
        assert isinstance(error["code"], str) and error["code"], error
        assert isinstance(error["message"], str) and error["message"], error


@pytest.fixture
def world(seeded: dict[str, Any], key_client: KeyClient) -> World:
    """Organisation A's ids (``seeded``), its customer on the live Pro tier since 2026."""
    product, scenario = seeded["product"], seeded["scenario"]
    live_pro, plan_pro = live_tiers(product).get(name="Pro"), scenario_tiers(scenario).get(name="Pro")
    customer_tier_change(customer=seeded["customer"], tier=live_pro, effective_from=date(2026, 1, 1))
    # A month of usage (the rollup row is what a replay starts from) for the replays endpoints.
    CustomerMonth.objects.create(
        organization=product.organization, customer=seeded["customer"], period=date(2026, 6, 1), credits=1
    )
    chat = product.workloads.get(name="Chat")
    document = key_client().get(f"{API}/scenarios/{scenario.pk}/document/").json()
    return {
        "product": product.pk,
        "live_pro": live_pro.pk,
        "plan_pro": plan_pro.pk,
        "chat": chat.pk,
        "model": chat.model_mix.values_list("model", flat=True)[0],
        "usage": plan_pro.usage.get(workload=chat, segment=None).pk,
        "scenario": scenario.pk,
        "segment": seeded["segment"].pk,
        "run": seeded["run"].pk,
        "optimization": seeded["optimization"].pk,
        "replay": seeded["replay"].pk,
        "customer": seeded["customer"].pk,
        "alert_rule": seeded["alert_rule"].pk,
        "alert_channel": seeded["alert_channel"].pk,
        "price_sheet": seeded["price_sheet"].pk,
        "entry_id": seeded["price_sheet"].entries.get().pk,
        "self_hosted": seeded["self_hosted"].pk,
        "document": document,
        "import": {**document, "product": {**document["product"], "name": "Hostile import"}},
    }


@pytest.mark.parametrize("key", list(BY_KEY))
def test_hostile_input_is_refused_without_a_server_error_or_a_write(
    key: str, world: World, key_client: KeyClient, subtests: Any
) -> None:
    endpoint = BY_KEY[key]
    client = key_client(scopes=list(endpoint.scopes))
    count_sql = _row_count_sql()
    base = endpoint.body(world) if endpoint.body is not None else None
    if base is not None:  # each input changes one thing of a request the endpoint accepts
        with transaction.atomic():
            send = getattr(client, endpoint.method.lower())
            accepted = send(endpoint.url(world, Sent(None)), dumps(base), content_type=JSON)
            assert accepted.status_code < 300, accepted.content[:2000]
            transaction.set_rollback(True)
    for hostile in endpoint.inputs:
        with subtests.test(msg=f"{key} <- {hostile.label}"), transaction.atomic():
            sent = hostile.build(world, base)
            url = endpoint.url(world, sent)
            observed = API + endpoint.observe.format(**endpoint.ids(world)) if endpoint.observe else None
            before = client.get(observed).content if observed else None
            counts = row_counts(count_sql)
            try:
                send = getattr(client, endpoint.method.lower())  # the body goes as is, bytes too
                response = send(url, sent.body or b"", content_type=sent.content_type, **sent.environ)
            except Exception as error:  # the test client re-raises what the view raised: a 500
                pytest.fail(f"server error: {error!r}"[:2000])
            status = response.status_code
            assert status < 500, response.content[:2000]
            if hostile.refused:
                assert 400 <= status < 500, (status, response.content[:2000])
            if 400 <= status < 500:
                assert_error_shape(response)
                assert row_counts(count_sql) == counts, "a refused request changed the row counts"
                if observed:
                    assert client.get(observed).content == before, "a refused request changed the object"
            transaction.set_rollback(True)


def test_the_sweep_covers_every_write_operation(capsys: pytest.CaptureFixture[str]) -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = {
        f"{method.upper()} {path.removeprefix(API)}"
        for path, methods in schema["paths"].items()
        for method in methods
        if method in ("post", "put", "patch", "delete")
    }
    writes = {endpoint.key for endpoint in ENDPOINTS}
    assert writes == operations, (operations - writes, writes - operations)
    total = sum(len(endpoint.inputs) for endpoint in ENDPOINTS)
    reads = sum(len(endpoint.inputs) for endpoint in READS)
    with capsys.disabled():
        print(
            f"\nhostile sweep: {total} (endpoint, input) cases over {len(writes)} write operations,"
            f" {reads} forged cursors and pages over {len(READS)} lists"
        )
    assert total >= 150
