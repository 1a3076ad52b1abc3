"""A replay's customer-months as CSV or JSON, streamed (the API's and the web's downloads)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from planner.actuals.replay_stats import CustomerMonthReplay

#: The columns of a replay's CSV export: money in USD, credits in credits.
CSV_SIDE_COLUMNS = (
    ("tier", "tier_name"),
    ("credits", "credits"),
    ("revenue_gross_usd", "revenue_gross"),
    ("payment_fees_usd", "payment_fees"),
    ("revenue_usd", "revenue"),
    ("cogs_usd", "cogs"),
    ("margin_usd", "margin"),
    ("underwater", "underwater"),
)
CSV_HEADER = [
    "customer",
    "month",
    *(f"{side}_{name}" for side in ("actual", "replayed") for name, _ in CSV_SIDE_COLUMNS),
    "flip",
    "cut",
]


def replay_csv_lines(rows: Iterator[CustomerMonthReplay]) -> Iterator[str]:
    """The CSV export of ``rows``, in pieces of about 64 kB: one line per customer-month,
    money in USD (``CSV_HEADER``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    for row in rows:
        cells: list[Any] = [row.external_id, f"{row.period:%Y-%m}"]
        for side in (row.actual, row.replayed):
            cells += [getattr(side, attribute) for _, attribute in CSV_SIDE_COLUMNS]
        writer.writerow([*cells, row.flip, row.cut])
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def replay_json_lines(job: dict[str, Any], rows: Iterator[CustomerMonthReplay]) -> Iterator[str]:
    """``{"replay": <the job>, "customer_months": [...]}`` streamed row by row."""
    yield '{"replay": ' + json.dumps(job) + ', "customer_months": ['
    for position, row in enumerate(rows):
        yield ("," if position else "") + json.dumps(row.to_json())
    yield "]}\n"
