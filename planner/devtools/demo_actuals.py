"""Actual usage of the demo (issue #15, item 5): 60 customers of "Demo Copilot" on its live
tiers, with daily usage records from the first day of the month before last to the clock's
now, so the actuals pages have customers, months and underwater customers on first start.

The usage follows the demo plan's own assumptions (``planner.devtools.demo``): a customer's
intensity is lognormal around the tier's monthly medians (p90 = 8 x median), every day's
requests are Poisson (cut at a capped tier's cap: the requests it would refuse are not sent),
every request's tokens are the workload's mean tokens per call (times
its calls: the lognormal means of the workload's token profile), and each request's model is
drawn from the workload's mix. A fixed seed makes the
records the same on every machine; ``event_id``s are derived from (customer, day, workload,
model), so seeding again adds only the days that have passed since (ingestion deduplicates).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

from planner.accounts.models import Organization
from planner.actuals.ingest import MAX_BATCH, usage_records_ingest
from planner.products.models import Product, Workload
from planner.products.selectors import live_tiers

#: Customers per live tier.
CUSTOMERS = {"Free": 24, "Pro": 30, "Team": 6}
SEED = 20261207
#: Monthly Pro medians of requests per workload (the demo plan's) and the tiers' factors.
PRO_MEDIANS = {"Chat": 60.0, "Document Q&A": 8.0, "Agent task": 3.0}
TIER_FACTOR = {"Free": 1 / 3, "Pro": 1.0, "Team": 3.0}
P90_OVER_MEDIAN = 8.0
DAYS_PER_MONTH = 30.4


@dataclass(frozen=True)
class DemoActuals:
    """What seeding the demo's actual usage did."""

    customers: int
    created: int
    duplicates: int
    first_day: dt.date
    last_day: dt.date


def first_day(now: dt.datetime) -> dt.date:
    """The first day of the month before last, in UTC (the demo organisation's time zone)."""
    month = now.date().replace(day=1)
    for _ in range(2):
        month = (month - dt.timedelta(days=1)).replace(day=1)
    return month


def _models(workload: Workload) -> tuple[list[tuple[str, bool]], np.ndarray]:
    """The workload's catalog models (``provider/slug``, whether it reasons) and their shares."""
    mix = [e for e in workload.model_mix.select_related("model__provider").order_by("pk") if e.model]
    names = [(f"{e.model.provider.slug}/{e.model.slug}", e.uses_reasoning) for e in mix if e.model]
    shares = np.asarray([float(e.share) for e in mix], dtype=np.float64)
    return names, shares / shares.sum()


def _lognormal_mean(median: float | None, p90: float | None) -> float:
    """The mean of the lognormal with this median and p90 (the median without a p90)."""
    if not median:
        return 0.0
    if not p90 or p90 <= median:
        return float(median)
    sigma = np.log(p90 / median) / sps.norm.ppf(0.9)
    return float(median * np.exp(sigma**2 / 2))


def _tokens(workload: Workload, reasons: bool, requests: int) -> dict[str, int]:
    """The workload's mean tokens per call x mean calls per request x requests (the sums of many
    calls are close to their means); reasoning tokens (part of the output) for a model of the
    mix that reasons."""
    calls = (
        _lognormal_mean(workload.calls_per_request_median or 1.0, workload.calls_per_request_p90) * requests
    )
    tokens = {
        "input_tokens": round(
            _lognormal_mean(workload.input_tokens_median, workload.input_tokens_p90) * calls
        ),
        "output_tokens": round(
            _lognormal_mean(workload.output_tokens_median, workload.output_tokens_p90) * calls
        ),
    }
    if workload.reasoning_tokens_median and reasons:
        mean = _lognormal_mean(workload.reasoning_tokens_median, workload.reasoning_tokens_p90)
        reasoning = round(mean * calls)
        tokens["output_tokens"] += reasoning
        tokens["reasoning_tokens"] = reasoning
    return tokens


def demo_records(product: Product, *, now: dt.datetime) -> list[dict[str, Any]]:
    """The demo's usage records of every day from :func:`first_day` whose noon (UTC, when the
    day's record is stamped) is not after ``now``. A customer's intensity and a day's draws come
    from generators seeded by (customer, day), so a day's records never depend on ``now``:
    seeding later adds records, never changes those already there."""
    sigma = np.log(P90_OVER_MEDIAN) / sps.norm.ppf(0.9)
    tiers = {tier.name: tier for tier in live_tiers(product)}
    workloads = list(product.workloads.order_by("pk"))
    mixes = {w.pk: _models(w) for w in workloads}
    start = first_day(now)
    days = (now.date() - start).days + 1
    noons = [
        dt.datetime.combine(start + dt.timedelta(days=d), dt.time(12), tzinfo=dt.UTC) for d in range(days)
    ]
    stamps = [noon for noon in noons if noon <= now]
    records: list[dict[str, Any]] = []
    for t, (tier_name, count) in enumerate(CUSTOMERS.items()):
        tier = tiers[tier_name]
        for c in range(count):
            customer = f"demo-{tier_name.lower()}-{c + 1:02d}"
            # One intensity per customer (all workloads move together), daily Poisson counts.
            intensity = float(np.exp(sigma * np.random.default_rng([SEED, t, c]).standard_normal()))
            cap, used = tier.effective_cap, dict[dt.date, float]()
            for stamp in stamps:
                day = stamp.date()
                rng = np.random.default_rng([SEED, t, c, day.toordinal()])
                for workload in workloads:
                    mean = PRO_MEDIANS.get(workload.name, 1.0) * TIER_FACTOR[tier_name] * intensity
                    requests = int(rng.poisson(mean / DAYS_PER_MONTH))
                    # A capped tier refuses requests beyond its cap: the month's credits stop there.
                    month = day.replace(day=1)
                    per_request = float(workload.credits_per_request or 1.0)
                    if cap is not None:
                        requests = min(requests, int((cap - used.get(month, 0.0)) // per_request))
                    used[month] = used.get(month, 0.0) + requests * per_request
                    names, shares = mixes[workload.pk]
                    counts = rng.multinomial(requests, shares) if requests else np.zeros(len(names), int)
                    for (model, reasons), n in zip(names, counts, strict=True):
                        if n == 0:
                            continue
                        records.append(
                            {
                                "event_id": f"{customer}-{day:%Y%m%d}-{workload.pk}-{model}",
                                "customer": customer,
                                "tier": tier.pk,
                                "timestamp": stamp.isoformat(),
                                "model": model,
                                "workload": workload.pk,
                                "requests": int(n),
                                **_tokens(workload, reasons, int(n)),
                            }
                        )
    return records


def demo_actuals_seed(organization: Organization, product: Product, *, now: dt.datetime) -> DemoActuals:
    """Ingest the demo's usage records up to ``now`` (idempotent: records already there count
    as duplicates)."""
    records = demo_records(product, now=now)
    created = duplicates = 0
    for i in range(0, len(records), MAX_BATCH):
        result = usage_records_ingest(organization=organization, records=records[i : i + MAX_BATCH], now=now)
        created += result.created
        duplicates += result.duplicates
    return DemoActuals(
        customers=sum(CUSTOMERS.values()),
        created=created,
        duplicates=duplicates,
        first_day=first_day(now),
        last_day=now.date(),
    )
