"""Stateful fuzzing of the REST API with schemathesis (``manage.py fuzz_api``, the suite's
``tests/api/test_schemathesis_stateful.py``).

``fuzz_seed`` gives a fresh organisation one object of every kind the API serves (built through
the API itself: a product and scenario imported from a document, a segment, a price sheet with
an entry, a self-hosted deployment, an alert rule, usage records and a customer, a succeeded
run) and an API key with every scope. ``fuzz_api`` then runs schemathesis's state machine for
the live schema (links inferred from the responses and path parameters: create, then read,
change, delete what was created) in process through the WSGI app, against the configured
database, with every check, until ``cases`` API calls or ``seconds`` have gone by. Check
failures are tallied, not raised, so one run reports every kind it finds; server errors carry
the traceback the app logged.

Valid data may still get a 400 (``positive_data_acceptance`` accepts it, as the stateless test
does): some rules span several fields and cannot be written in OpenAPI. The key is replaced
every ``CALLS_PER_KEY`` calls so the per-key rate limit (1200/min) never answers 429 in a fast
run.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import hypothesis
import schemathesis
from django.test import Client
from genai_prices import data as genai_data
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import Flaky
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.failures import FailureGroup

from planner.accounts.api_keys import api_key_create
from planner.accounts.models import Organization
from planner.simulation.models import Scenario
from planner.simulation.runs import run_create, run_execute
from planner.wsgi import application
from pricing.catalog import catalog_import
from pricing.models import AIModel

SCHEMA_PATH = "/api/v1/schema/"
API = "/api/v1/"
#: Statuses ``positive_data_acceptance`` accepts for schema-valid data (see the module docstring):
#: 422 is an ``Idempotency-Key`` used before for another request, as documented (schemathesis
#: draws keys from few characters, so they repeat within a run).
VALID_DATA_STATUSES = ["2xx", "400", "401", "403", "404", "409", "422", "429"]
#: Well under the per-key rate (1200 a minute), whatever the speed of the run.
CALLS_PER_KEY = 1000
FUZZ_MODELS = ("gpt-4o-mini", "gpt-4o", "o3")

DOCUMENT: dict[str, Any] = {
    "format": "margin-planner/scenario",
    "version": 2,
    "product": {
        "name": "Fuzzed Copilot",
        "default_correlation": 0.8,
        "workloads": [
            {
                "name": "Chat",
                "credits_per_request": 1.0,
                "input_tokens_median": 800.0,
                "input_tokens_p90": 3000.0,
                "output_tokens_median": 300.0,
                "output_tokens_p90": 1200.0,
                "models": [
                    {"model": "openai/gpt-4o-mini", "share": 0.7},
                    {"model": "openai/gpt-4o", "share": 0.3},
                ],
            },
            {
                "name": "Agent",
                "credits_per_request": 10.0,
                "input_tokens_median": 4000.0,
                "input_tokens_p90": 16000.0,
                "output_tokens_median": 400.0,
                "output_tokens_p90": 2000.0,
                "calls_per_request_median": 10.0,
                "calls_per_request_p90": 30.0,
                "models": [{"model": "openai/o3", "share": 1.0}],
            },
        ],
        "correlations": [],
    },
    "plan": {
        "settings": {"name": "Baseline", "horizon_months": 3, "simulated_users": 1000, "seed": 42},
        "tiers": [
            {
                "name": "Free",
                "included_credits": 30.0,
                "hard_cap_credits": 30.0,
                "subscribers": 700,
                "live_tier": "Free",
            },
            {
                "name": "Pro",
                "monthly_fee": "20.0000",
                "subscribers": 300,
                "churn_monthly": 0.04,
                "live_tier": "Pro",
            },
        ],
        "usage_distributions": [
            {"tier": tier, "workload": workload, "kind": "lognormal", "median": median, "p90": median * 6}
            for tier, scale in (("Free", 1 / 3), ("Pro", 1.0))
            for workload, median in (("Chat", 40 * scale), ("Agent", 1 * scale))
        ],
        "levers": [{"key": "cache", "label": "Response cache 30%", "response_cache_hit_rate": 0.3}],
    },
}


def _catalog_ready() -> None:
    """The three catalog models the document uses, with their prices (imported if missing)."""
    if AIModel.objects.filter(provider__slug="openai", slug__in=FUZZ_MODELS).count() == len(FUZZ_MODELS):
        return
    openai = next(p for p in genai_data.providers if p.id == "openai")
    catalog_import(
        providers=[dataclasses.replace(openai, models=[m for m in openai.models if m.id in FUZZ_MODELS])]
    )


def _post(client: Client, path: str, body: Any) -> dict[str, Any]:
    response = client.post(API + path, json.dumps(body), content_type="application/json")
    if response.status_code >= 300:
        raise RuntimeError(f"seeding POST {path} answered {response.status_code}: {response.content[:500]!r}")
    return dict(response.json())


def fuzz_seed(*, slug: str | None = None) -> tuple[Organization, str]:
    """A new organisation with one object of every kind, built through the API, and a key with
    every scope. Returns the organisation and the key."""
    _catalog_ready()
    slug = slug or f"fuzz-{int(time.time() * 1000)}"
    organization = Organization.objects.create(name=slug, slug=slug)
    key = fuzz_key(organization)
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {key}")
    scenario = _post(client, "scenarios/import/", DOCUMENT)
    pro = next(t for t in scenario["inputs"]["tiers"] if t["name"] == "Pro")
    _post(client, "segments/", {"tier": pro["id"], "name": "Heavy", "share": 1.0})
    sheet = _post(client, "price-sheets/", {"name": "Negotiated", "effective_from": "2025-01-01"})
    _post(
        client,
        f"price-sheets/{sheet['id']}/entries/",
        {"kind": "private", "slug": "acme-large", "input_mtok": "1.5", "output_mtok": "4"},
    )
    _post(
        client,
        "self-hosted-deployments/",
        {
            "name": "Llama 70B on H100",
            "gpu_hourly_cost": "2.50",
            "gpus_per_replica": 2,
            "input_tokens_per_second": 5000.0,
            "output_tokens_per_second": 1000.0,
            "target_utilization": 0.6,
        },
    )
    _post(
        client,
        "alert-rules/",
        {
            "name": "Margin",
            "metric": "underwater_share",
            "threshold": "10",
            "recipients": ["ops@example.com"],
        },
    )
    live_pro = client.get(API + "tiers/", {"product": scenario["product"]}).json()["results"][-1]
    _post(
        client,
        "usage-records/",
        [
            {
                "event_id": f"evt-{index}",
                "customer": f"cus-{index % 3}",
                "tier": live_pro["id"],
                "timestamp": "2025-06-12T10:00:00Z",
                "model": "openai/gpt-4o",
                "input_tokens": 1000 + index,
                "output_tokens": 100,
            }
            for index in range(6)
        ],
    )
    run_execute(run=run_create(scenario=Scenario.objects.get(pk=scenario["id"]), users=1_000))
    return organization, key


def fuzz_key(organization: Organization) -> str:
    _, key = api_key_create(organization=organization, name="fuzz", scopes=["read", "write", "ingest"])
    return key


def fuzz_schema() -> Any:
    """The live schema, loaded through the WSGI app, with the acceptance rule above."""
    load_all_checks()
    schema = schemathesis.openapi.from_wsgi(SCHEMA_PATH, application)
    schema.config.checks.positive_data_acceptance.expected_statuses = VALID_DATA_STATUSES
    return schema


class BudgetSpent(Exception):
    """Raised by a step once the run has made its calls or used its time: ends the run."""


@dataclasses.dataclass
class Tally:
    """What a run did: calls (in all and by operation), and failures by check (the first
    example of each kind kept)."""

    cases: int = 0
    operations: Counter[str] = dataclasses.field(default_factory=Counter)
    failures: Counter[str] = dataclasses.field(default_factory=Counter)
    examples: dict[tuple[str, str, str], dict[str, Any]] = dataclasses.field(default_factory=dict)
    server_errors: list[str] = dataclasses.field(default_factory=list)

    def failure(self, *, check: str, case: Any, response: Any, failure: Any) -> None:
        self.failures[check] += 1
        kind = (check, case.operation.label, failure.title)
        if kind in self.examples:
            self.examples[kind]["count"] += 1
            return
        self.examples[kind] = {
            "check": check,
            "operation": case.operation.label,
            "title": failure.title,
            "message": failure.message[:1000],
            "status": response.status_code,
            "response": response.text[:1000],
            "request": case.as_curl_command(headers=dict(response.request.headers)),
            "server_error": self.server_errors[-1]
            if response.status_code >= 500 and self.server_errors
            else None,
            "count": 1,
        }


class _ServerErrors(logging.Handler):
    """Keeps the traceback of each request Django logs as a server error."""

    def __init__(self, tally: Tally) -> None:
        super().__init__(level=logging.ERROR)
        self.tally = tally

    def emit(self, record: logging.LogRecord) -> None:
        detail = "".join(traceback.format_exception(*record.exc_info)) if record.exc_info else ""
        self.tally.server_errors.append(f"{record.getMessage()}\n{detail}"[-4000:])


@contextmanager
def _quiet_request_log(tally: Tally) -> Iterator[None]:
    """4xx warnings off the console (there are thousands); server errors into ``tally``."""
    logger = logging.getLogger("django.request")
    handler = _ServerErrors(tally)
    saved = logger.level, logger.propagate
    logger.setLevel(logging.ERROR)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def state_machine(
    schema: Any, *, key: Callable[[], str], tally: Tally, cases: int, deadline: float
) -> type[Any]:
    """The schema's state machine: calls with ``key()``, counts them into ``tally`` and runs
    every check on each response; a step past ``cases`` calls or the ``deadline``
    (``time.monotonic()``) raises ``BudgetSpent``. Check failures are left to the schema's
    ``after_validate`` hook (``fuzz_run`` tallies them there), not raised."""
    checks = CHECKS.get_all()

    class Fuzz(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": {"Authorization": f"Api-Key {key()}"}}

        def call(self, case: Any, **kwargs: Any) -> Any:
            if tally.cases >= cases or time.monotonic() >= deadline:
                raise BudgetSpent
            tally.cases += 1
            tally.operations[case.operation.label] += 1
            return super().call(case, **kwargs)

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            # The key goes as the checks' explicit headers (not as transport arguments), so that
            # ``ignored_auth`` knows it is valid and sends its probes without it.
            transport = {name: value for name, value in kwargs.items() if name != "headers"}
            with suppress(FailureGroup):
                case.validate_response(
                    response,
                    checks=checks,
                    headers=kwargs.get("headers"),
                    transport_kwargs=transport or None,
                    recorder=self.recorder,
                )

    return Fuzz


def fuzz_run(
    schema: Any,
    *,
    organization: Organization,
    cases: int,
    seconds: float,
    steps: int = 20,
    seed: int | None = None,
    progress: Callable[[Tally, float], None] | None = None,
) -> tuple[Tally, float]:
    """Run the stateful tests as ``organization`` until ``cases`` calls or ``seconds``; returns
    the tally and the seconds taken. Each Hypothesis example is one scenario of up to ``steps``
    calls, ten scenarios a suite; with ``seed``, suite ``n`` draws from ``seed + n`` (the same
    calls on the same data, as far as ids and clocks allow), else at random."""
    tally = Tally()
    keys: dict[int, str] = {}

    def key() -> str:
        index = tally.cases // CALLS_PER_KEY
        if index not in keys:
            keys[index] = fuzz_key(organization)
        return keys[index]

    def after_validate(context: Any, case: Any, response: Any, results: Any) -> None:
        for result in results:
            if result.failure is not None:
                tally.failure(check=result.name, case=case, response=response, failure=result.failure)

    started = time.monotonic()
    machine = state_machine(schema, key=key, tally=tally, cases=cases, deadline=started + seconds)
    scenarios = settings(
        max_examples=10,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    schema.hooks.register_hook_with_name(after_validate, "after_validate")
    last_report = started
    try:
        with _quiet_request_log(tally):
            for suite in itertools.count():
                seeded = machine if seed is None else hypothesis.seed(seed + suite)(machine)
                try:
                    seeded.run(settings=scenarios)
                except BudgetSpent:
                    break
                except Flaky:
                    # The API's state changed under a replayed scenario (schemathesis's own
                    # runner starts the next suite then, too).
                    pass
                if progress is not None and time.monotonic() - last_report >= 30:
                    last_report = time.monotonic()
                    progress(tally, last_report - started)
    finally:
        schema.hooks.unregister(after_validate)
    return tally, time.monotonic() - started


def fuzz_api(
    *,
    cases: int,
    seconds: float,
    steps: int = 20,
    seed: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Seed a new organisation (``fuzz_seed``), run the stateful tests against it and report
    the calls made, the time taken and the failures by check, with one example of each kind
    (the request as curl, the response and, for a server error, the traceback)."""
    organization, _ = fuzz_seed()
    schema = fuzz_schema()
    operations = [result.ok().label for result in schema.get_all_operations()]

    def report_progress(tally: Tally, elapsed: float) -> None:
        if progress is not None:
            progress(f"{tally.cases} cases in {elapsed:.0f} s; failures by check: {dict(tally.failures)}")

    tally, elapsed = fuzz_run(
        schema,
        organization=organization,
        cases=cases,
        seconds=seconds,
        steps=steps,
        seed=seed,
        progress=report_progress,
    )
    return {
        "organization": organization.slug,
        "cases": tally.cases,
        "seconds": round(elapsed, 1),
        "cases_per_second": round(tally.cases / elapsed, 1) if elapsed else None,
        "seed": seed,
        "checks": sorted(check.__name__ for check in CHECKS.get_all()),
        "operations_called": f"{len(tally.operations)} of {len(operations)}",
        "operations_not_called": sorted(set(operations) - set(tally.operations)),
        "failures_by_check": dict(sorted(tally.failures.items())),
        "failures": sorted(tally.examples.values(), key=lambda e: (e["check"], e["operation"])),
    }
