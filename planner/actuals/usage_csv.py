"""Usage records from a CSV upload (the web's "upload actuals"): parse rows into the records
``usage_records_ingest`` takes, with errors per CSV line.

Columns are the record's fields (docs/ACTUALS.md); ``tier`` and ``workload`` may be given by name
or id. With a ``product`` they are looked up among that product's live tiers (``scenario`` is
null: real customers are never on a scenario's tier) and its workloads only, so a name another
product also uses is no longer ambiguous; without one, among the organisation's, where a name
two products use is refused as ambiguous. An unknown or ambiguous name or id is an error that
names the CSV line and column and lists the tiers (or workloads) there are, with their ids.
Empty cells are omitted, so the record's defaults apply. Line numbers count the header as line
1, so a record at batch index ``i`` is line ``i + 2``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from planner.accounts.models import Organization
from planner.actuals.ingest import usage_records_ingest
from planner.actuals.parse import MAX_BATCH, IngestResult, UsageRecordsInvalid
from planner.products.models import Product, Tier, Workload

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


@dataclass(frozen=True)
class _Lookup:
    """The tiers or workloads a column may name: by name or by id, and how to say which exist."""

    column: str
    objects: list[Tier] | list[Workload]
    product: Product | None

    def index(self) -> dict[str, int | None]:
        """name -> id (None when two of them share the name) and str(id) -> id."""
        index: dict[str, int | None] = {}
        for obj in self.objects:
            index[obj.name] = None if obj.name in index else obj.pk
            index[str(obj.pk)] = obj.pk
        return index

    def _listed(self, objects: list[Any]) -> str:
        named = [f"{obj.name} (id {obj.pk})" for obj in objects]
        if self.product is None and len({obj.product_id for obj in self.objects}) > 1:
            named = [f"{obj.product.name}: {name}" for obj, name in zip(objects, named, strict=True)]
        return ", ".join(named) or "none"

    def problem(self, value: str) -> str:
        """Why ``value`` names no single object, and which ones exist."""
        noun = "Tier" if self.column == "tier" else "Workload"
        kinds = "live tiers" if self.column == "tier" else "workloads"
        matches = [obj for obj in self.objects if obj.name == value]
        if len(matches) > 1:
            return (
                f"{noun} “{value}” is ambiguous: {self._listed(matches)} share the name. Choose the "
                f"product on the upload form, or give the {self.column}'s id."
            )
        where = f"the product {self.product.name}" if self.product is not None else "this organisation"
        return (
            f"{noun} “{value}” is not one of the {kinds} of {where}; they are: {self._listed(self.objects)}."
        )


def _lookups(organization: Organization, product: Product | None) -> tuple[_Lookup, _Lookup]:
    """The live tiers and the workloads the file may name: ``product``'s, else the organisation's."""
    scope = {"product": product} if product is not None else {"product__organization": organization}
    tiers = list(
        Tier.objects.filter(scenario__isnull=True, **scope)
        .select_related("product")
        .order_by("product__name", "position", "id")
    )
    workloads = list(
        Workload.objects.filter(**scope).select_related("product").order_by("product__name", "name", "id")
    )
    return _Lookup("tier", tiers, product), _Lookup("workload", workloads, product)


def usage_csv_records(
    *, organization: Organization, content: bytes, product: Product | None = None
) -> list[dict[str, Any]]:
    """The records of a usage CSV; raises ``UsageCsvInvalid`` listing every problem by line.

    ``product`` (one of ``organization``'s) scopes the tier and workload names and ids to its
    live tiers and workloads; None looks among the whole organisation's (module docstring)."""
    if product is not None and product.organization_id != organization.pk:
        raise UsageCsvInvalid([CsvRowError(0, "product", "No such product in this organisation.")])
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
    lookups = [(lookup, lookup.index()) for lookup in _lookups(organization, product)]
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
        for lookup, index in lookups:
            value = row.get(lookup.column)
            if value:
                found = index.get(value)
                if found is None:
                    errors.append(CsvRowError(line, lookup.column, lookup.problem(value)))
                else:
                    record[lookup.column] = found
        records.append(record)
    if not records and not errors:
        errors.append(CsvRowError(0, "file", "The file has no rows."))
    if len(records) > MAX_BATCH:
        errors.append(CsvRowError(0, "file", f"At most {MAX_BATCH:,} rows per upload."))
    if errors:
        raise UsageCsvInvalid(errors)
    return records


def usage_csv_ingest(
    *, organization: Organization, content: bytes, product: Product | None = None
) -> IngestResult:
    """Parse and ingest a usage CSV, all or nothing; errors name CSV lines. ``product`` scopes
    the tier and workload names as in ``usage_csv_records``."""
    records = usage_csv_records(organization=organization, content=content, product=product)
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
