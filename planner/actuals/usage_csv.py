"""Usage records from a CSV upload (the web's "upload actuals"): parse rows into the records
``usage_records_ingest`` takes, with errors per CSV line.

Columns are the record's fields (docs/ACTUALS.md); ``tier`` and ``workload`` may be given by name
(unique within the organisation) or id. Empty cells are omitted, so the record's defaults apply.
Line numbers count the header as line 1, so a record at batch index ``i`` is line ``i + 2``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from planner.accounts.models import Organization
from planner.actuals.ingest import usage_records_ingest
from planner.actuals.parse import MAX_BATCH, IngestResult, UsageRecordsInvalid
from planner.products.models import Tier, Workload

INTEGER_COLUMNS = (
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "requests",
)
TEXT_COLUMNS = ("event_id", "customer", "timestamp", "model", "variant")
KNOWN_COLUMNS = frozenset((*INTEGER_COLUMNS, *TEXT_COLUMNS, "tier", "workload", "credits"))
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class CsvRowError:
    line: int  # 1 = header; 0 = the file as a whole
    field: str
    reason: str


class UsageCsvInvalid(Exception):
    def __init__(self, errors: list[CsvRowError], total: int | None = None) -> None:
        self.errors = errors
        self.total = len(errors) if total is None else total
        super().__init__(f"{self.total} problem(s) in the CSV")


def _by_name_or_id(objects: list[Any]) -> dict[str, int | None]:
    """name -> id (None when the name is ambiguous) and str(id) -> id."""
    index: dict[str, int | None] = {}
    for obj in objects:
        index[obj.name] = None if obj.name in index else obj.pk
        index[str(obj.pk)] = obj.pk
    return index


def usage_csv_records(*, organization: Organization, content: bytes) -> list[dict[str, Any]]:
    """The records of a usage CSV; raises ``UsageCsvInvalid`` listing every problem by line."""
    if len(content) > MAX_UPLOAD_BYTES:
        raise UsageCsvInvalid(
            [CsvRowError(0, "file", f"The file is larger than {MAX_UPLOAD_BYTES // 2**20} MiB.")]
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageCsvInvalid([CsvRowError(0, "file", "The file is not UTF-8 text.")]) from None
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in reader.fieldnames or []]
    errors: list[CsvRowError] = []
    unknown = sorted(set(columns) - KNOWN_COLUMNS)
    if unknown:
        errors.append(CsvRowError(1, ", ".join(unknown), "Unknown column(s)."))
    missing = [c for c in ("event_id", "customer", "timestamp") if c not in columns]
    if missing:
        errors.append(CsvRowError(1, ", ".join(missing), "Required column(s) missing."))
    if errors:
        raise UsageCsvInvalid(errors)
    tiers = _by_name_or_id(
        list(Tier.objects.filter(product__organization=organization, scenario__isnull=True))
    )
    workloads = _by_name_or_id(list(Workload.objects.filter(product__organization=organization)))
    records: list[dict[str, Any]] = []
    for line, raw in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        record: dict[str, Any] = {}
        for name in TEXT_COLUMNS:
            if row.get(name):
                record[name] = row[name]
        for name in INTEGER_COLUMNS:
            if row.get(name):
                try:
                    record[name] = int(row[name])
                except ValueError:
                    errors.append(CsvRowError(line, name, f"“{row[name]}” is not a whole number."))
        if row.get("credits"):
            try:
                record["credits"] = float(row["credits"])
            except ValueError:
                errors.append(CsvRowError(line, "credits", f"“{row['credits']}” is not a number."))
        for name, index in (("tier", tiers), ("workload", workloads)):
            if row.get(name):
                if name in row and index.get(row[name]) is None:
                    reason = "is ambiguous; use its id" if row[name] in index else "does not exist"
                    errors.append(CsvRowError(line, name, f"{name.title()} “{row[name]}” {reason}."))
                else:
                    record[name] = index[row[name]]
        records.append(record)
    if not records and not errors:
        errors.append(CsvRowError(0, "file", "The file has no rows."))
    if len(records) > MAX_BATCH:
        errors.append(CsvRowError(0, "file", f"At most {MAX_BATCH:,} rows per upload."))
    if errors:
        raise UsageCsvInvalid(errors)
    return records


def usage_csv_ingest(*, organization: Organization, content: bytes) -> IngestResult:
    """Parse and ingest a usage CSV, all or nothing; errors name CSV lines."""
    records = usage_csv_records(organization=organization, content=content)
    try:
        return usage_records_ingest(organization=organization, records=records)
    except UsageRecordsInvalid as exc:
        raise UsageCsvInvalid(
            [
                CsvRowError(e.index + 2 if e.field != "non_field_errors" else 0, e.field, e.reason)
                for e in exc.errors
            ],
            exc.error_count,
        ) from exc
