"""Price sheets: create and edit sheets and their entries, import and export them as CSV or JSON.

Rules (one place for the web, the API and the CLI):

- Field-level messages come from ``PriceSheet`` / ``PriceSheetEntry`` validation (negative
  prices, a discount outside [0, 1], NaN or infinity, too many decimals, a private model without
  prices, a model of another provider).
- Within one organisation, two sheets whose dates overlap may not price the same provider (all
  models), the same catalog model, or the same private model: the price of a model on a date is
  never ambiguous. A model's own discount and its provider's may coexist; the model's wins.
- Import validates every row first and writes nothing when any row is bad: it raises
  ``PriceSheetImportError`` with one ``RowError(line, field, reason)`` per problem (CSV: the
  file's line, the header being line 1; JSON: the entry's position in ``entries``, from 1; line 0
  is the file as a whole). A valid file replaces the sheet's entries in one transaction: rows
  matched by their key (provider/model or private slug) are updated in place, so model mixes that
  name a private model keep pointing at it, new rows are created, missing rows deleted (refused
  while a workload uses them).
- Export writes ``ENTRY_COLUMNS`` in a stable order with Decimals in plain notation, so export,
  import and export again gives the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from planner.accounts.models import Organization
from planner.core.services import model_update, protected_referrers
from planner.prices.models import PriceSheet, PriceSheetEntry
from planner.prices.selectors import price_sheet_entries
from pricing.models import AIModel, Provider

Format = Literal["csv", "json"]

#: The columns of an exported sheet, in order.
ENTRY_COLUMNS = (
    "kind",
    "provider",
    "model",
    "discount",
    "slug",
    "name",
    "input_mtok",
    "output_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "reasoning_mtok",
)
DECIMAL_COLUMNS = frozenset(
    {"discount", "input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok", "reasoning_mtok"}
)
MAX_IMPORT_BYTES = 2_000_000
MAX_IMPORT_ROWS = 10_000
#: Fields a sheet may change, in display order (the web form and the API serializer use them).
SHEET_FIELDS = ("name", "effective_from", "effective_to", "notes")

EntryKey = tuple[str, ...]


@dataclass(frozen=True)
class RowError:
    """One problem in an imported file: ``line`` (0 = the whole file), ``field`` and ``reason``."""

    line: int
    field: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "reason": self.reason}


class PriceSheetImportError(ValueError):
    """The file was refused; ``errors`` lists every bad row. Nothing was written."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        self.errors = list(errors)
        super().__init__(f"{len(self.errors)} error(s) in the file; nothing was imported.")


@dataclass(frozen=True)
class ImportSummary:
    created: int
    updated: int
    deleted: int


# --- Sheets ----------------------------------------------------------------------------------


def _entry_key(entry: PriceSheetEntry) -> EntryKey:
    if entry.kind == PriceSheetEntry.Kind.PRIVATE:
        return ("private", entry.slug)
    return ("discount", str(entry.provider_id), str(entry.model_id or ""))


def _key_field(key: EntryKey) -> str:
    if key[0] == "private":
        return "slug"
    return "model" if key[2] else "provider"


def _overlapping_sheets(*, organization_id: int, sheet: PriceSheet) -> Iterable[PriceSheet]:
    others = PriceSheet.objects.filter(organization_id=organization_id).filter(
        Q(effective_to__isnull=True) | Q(effective_to__gte=sheet.effective_from)
    )
    if sheet.pk is not None:
        others = others.exclude(pk=sheet.pk)
    if sheet.effective_to is not None:
        others = others.filter(effective_from__lte=sheet.effective_to)
    return others


def _conflicts(*, sheet: PriceSheet, keys: Iterable[EntryKey]) -> dict[EntryKey, PriceSheet]:
    """The keys among ``keys`` already priced by another sheet whose dates overlap ``sheet``'s."""
    wanted = set(keys)
    if not wanted:
        return {}
    found: dict[EntryKey, PriceSheet] = {}
    others = {s.pk: s for s in _overlapping_sheets(organization_id=sheet.organization_id, sheet=sheet)}
    for entry in PriceSheetEntry.objects.filter(sheet_id__in=others):
        key = _entry_key(entry)
        if key in wanted:
            found[key] = others[entry.sheet_id]
    return found


def _period(sheet: PriceSheet) -> str:
    end = sheet.effective_to.isoformat() if sheet.effective_to else "open-ended"
    return f"{sheet.effective_from.isoformat()} to {end}"


def _conflict_reason(label: str, other: PriceSheet) -> str:
    return f"Sheet {other.name!r} ({_period(other)}) already prices {label} over overlapping dates."


def _label(entry: PriceSheetEntry) -> str:
    return entry.target_label


def price_sheet_create(*, organization: Organization, **fields: Any) -> PriceSheet:
    """Create an empty sheet of ``organization`` from ``fields`` (any of ``SHEET_FIELDS``; a sheet
    needs a name and ``effective_from``). Another key is refused with a ``ValidationError`` on it."""
    sheet = PriceSheet(organization=organization)
    model_update(instance=sheet, fields=SHEET_FIELDS, data=fields, unknown_message="Unknown field.")
    return sheet


def price_sheet_update(*, sheet: PriceSheet, data: Mapping[str, Any]) -> PriceSheet:
    """Change the fields in ``data`` (``SHEET_FIELDS``). New dates must not make one of the sheet's
    entries overlap another sheet pricing the same thing (error on ``effective_from``)."""
    model_update(instance=sheet, fields=SHEET_FIELDS, data=data, validate=_sheet_validate)
    return sheet


def _sheet_validate(sheet: PriceSheet) -> None:
    """The sheet's own fields, then its entries against the sheets overlapping its dates."""
    sheet.full_clean()
    entries = list(sheet.entries.select_related("provider", "model"))
    conflicts = _conflicts(sheet=sheet, keys=(_entry_key(e) for e in entries))
    if conflicts:
        raise ValidationError(
            {
                "effective_from": [
                    _conflict_reason(_label(e), conflicts[_entry_key(e)])
                    for e in entries
                    if _entry_key(e) in conflicts
                ]
            }
        )


def _entries_in_use(entries: Iterable[PriceSheetEntry]) -> dict[int, list[str]]:
    """The model-mix rows that use each private model among ``entries``, by entry id, as the
    database's PROTECT rule reports them (this package does not import the model mix)."""
    used: dict[int, list[str]] = {}
    for entry in entries:
        if entry.kind == PriceSheetEntry.Kind.PRIVATE and (users := protected_referrers([entry])):
            used[entry.pk] = [str(row) for row in users]
    return used


def price_sheet_delete(*, sheet: PriceSheet) -> None:
    """Delete a sheet and its entries; refused while a workload uses one of its private models."""
    used = _entries_in_use(sheet.entries.all())
    if used:
        workloads = sorted({w for names in used.values() for w in names})
        raise ValidationError({"sheet": f"Private models of this sheet are used by: {', '.join(workloads)}."})
    sheet.delete()


# --- Entries: one row, from strings (CSV, JSON, web form) -----------------------------------


class _Catalog:
    """Provider and model lookups by slug, cached for one import."""

    def __init__(self) -> None:
        self.providers: dict[str, Provider | None] = {}
        self.models: dict[tuple[int, str], AIModel | None] = {}

    def provider(self, slug: str) -> Provider | None:
        if slug not in self.providers:
            self.providers[slug] = Provider.objects.filter(slug=slug).first()
        return self.providers[slug]

    def model(self, provider: Provider, slug: str) -> AIModel | None:
        key = (provider.pk, slug)
        if key not in self.models:
            self.models[key] = (
                AIModel.objects.filter(provider=provider, slug=slug).select_related("provider").first()
            )
        return self.models[key]


def _text(value: object) -> str | None:
    """A cell as stripped text, or None when it is not text (JSON objects, lists, booleans)."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        return None
    return str(value).strip()


def _unstorable(text: str) -> str | None:
    """Why ``text`` cannot be stored, if it cannot: PostgreSQL refuses NUL characters in text, and
    no database encodes a lone UTF-16 surrogate (JSON's ``"\\ud800"``)."""
    if "\x00" in text:
        return "May not contain NUL characters."
    try:
        text.encode()
    except UnicodeEncodeError:
        return "Must be valid Unicode: a lone UTF-16 surrogate (such as \\ud800) is not a character."
    return None


def _escaped(name: str) -> str:
    """A name from the file as an error reports it (the response must encode as UTF-8)."""
    return name.encode(errors="backslashreplace").decode()


def _entry_from_row(
    *, sheet: PriceSheet, row: Mapping[str, object], catalog: _Catalog, entry: PriceSheetEntry | None = None
) -> tuple[PriceSheetEntry, dict[str, str]]:
    """Build (or refill) an unsaved entry from a row of text cells; returns it with field errors."""
    errors: dict[str, str] = {}
    cells: dict[str, str] = {}
    for column in ENTRY_COLUMNS:
        text = _text(row.get(column))
        reason = "Must be a number or a string." if text is None else _unstorable(text)
        if reason is not None:
            errors[column] = reason
            text = ""
        cells[column] = text or ""
    entry = entry or PriceSheetEntry(sheet=sheet)
    entry.kind = cells["kind"].lower()
    entry.provider = None
    entry.model = None
    if cells["provider"]:
        provider = catalog.provider(cells["provider"])
        if provider is None:
            errors["provider"] = f"No provider {cells['provider']!r} in the price catalog."
        entry.provider = provider
        if provider is not None and cells["model"]:
            model = catalog.model(provider, cells["model"])
            if model is None:
                errors["model"] = (
                    f"Provider {provider.slug!r} has no model {cells['model']!r} in the catalog."
                )
            entry.model = model
    elif cells["model"]:
        errors["model"] = "Give the model's provider too."
    entry.slug = cells["slug"]
    entry.name = cells["name"]
    for column in DECIMAL_COLUMNS:
        # Raw text: full_clean's to_python refuses NaN, infinity and non-numbers field by field.
        setattr(entry, column, cells[column] or None)
    try:
        entry.full_clean(exclude=["sheet", *errors], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field if field != "__all__" else "kind", " ".join(messages))
    return entry, errors


def _check_conflicts(
    sheet: PriceSheet, keyed: Mapping[EntryKey, tuple[int, PriceSheetEntry]]
) -> list[RowError]:
    conflicts = _conflicts(sheet=sheet, keys=keyed)
    return [
        RowError(line, _key_field(key), _conflict_reason(_label(entry), conflicts[key]))
        for key, (line, entry) in keyed.items()
        if key in conflicts
    ]


def price_sheet_entry_add(*, sheet: PriceSheet, row: Mapping[str, object]) -> PriceSheetEntry:
    """Add one entry from ``row`` (``ENTRY_COLUMNS`` as text, as in a CSV line)."""
    entry, errors = _entry_from_row(sheet=sheet, row=row, catalog=_Catalog())
    if errors:
        raise ValidationError(errors)
    key = _entry_key(entry)
    if any(_entry_key(other) == key for other in sheet.entries.all()):
        raise ValidationError({_key_field(key): f"This sheet already has an entry for {_label(entry)}."})
    conflicts = _check_conflicts(sheet, {key: (0, entry)})
    if conflicts:
        raise ValidationError({conflicts[0].field: conflicts[0].reason})
    entry.save()
    return entry


def price_sheet_entry_delete(*, entry: PriceSheetEntry) -> None:
    """Delete an entry; refused while a workload's model mix uses the private model."""
    used = _entries_in_use([entry])
    if used:
        raise ValidationError({"entry": f"Used in the model mix of: {', '.join(sorted(used[entry.pk]))}."})
    entry.delete()


# --- Import and export -----------------------------------------------------------------------


Rows = list[tuple[int, dict[str, object]]]


def _rows_from_csv(text: str) -> tuple[Rows, list[RowError]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return [], [RowError(0, "file", "The file is empty; the first line must name the columns.")]
    except csv.Error as exc:
        return [], [RowError(1, "file", f"Not a readable CSV line: {exc}")]
    names = [name.strip().lower() for name in header]
    errors = [
        RowError(1, name or "(empty)", f"Unknown column; the columns are {', '.join(ENTRY_COLUMNS)}.")
        for name in names
        if name not in ENTRY_COLUMNS
    ]
    if "kind" not in names:
        errors.append(RowError(1, "kind", "The header must have a 'kind' column."))
    if len(set(names)) != len(names):
        errors.append(RowError(1, "file", "A column appears twice in the header."))
    if errors:
        return [], errors
    rows: Rows = []
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(names):
                errors.append(RowError(line, "file", f"Expected {len(names)} cells, found {len(cells)}."))
                continue
            rows.append((line, dict(zip(names, cells, strict=True))))
    except csv.Error as exc:
        errors.append(RowError(reader.line_num, "file", f"Not a readable CSV line: {exc}"))
    return rows, errors


def _rows_from_json(text: str) -> tuple[Rows, list[RowError]]:
    try:
        # Decimal keeps prices exact; NaN and Infinity become Decimals that validation refuses.
        document = json.loads(text, parse_float=Decimal, parse_constant=Decimal)
    except json.JSONDecodeError as exc:
        return [], [RowError(exc.lineno, "file", f"Not valid JSON: {exc.msg}.")]
    except RecursionError:
        return [], [RowError(0, "file", "The JSON is nested too deeply.")]
    entries = document.get("entries") if isinstance(document, dict) else document
    if not isinstance(entries, list):
        return [], [
            RowError(0, "entries", "Expected a list of entries, or an object with an 'entries' list.")
        ]
    rows: Rows = []
    errors: list[RowError] = []
    for position, item in enumerate(entries, start=1):
        if not isinstance(item, dict):
            errors.append(RowError(position, "entry", "Each entry must be an object."))
            continue
        unknown = sorted(set(item) - set(ENTRY_COLUMNS))
        errors += [RowError(position, _escaped(name), "Unknown field.") for name in unknown]
        rows.append((position, item))
    return rows, errors


def _decode(content: bytes | str) -> str:
    if isinstance(content, str):
        return content
    return content.decode("utf-8-sig")


def price_sheet_entries_import(*, sheet: PriceSheet, content: bytes | str, format: Format) -> ImportSummary:
    """Replace ``sheet``'s entries with those of a CSV or JSON file (see the module docstring).

    Raises ``PriceSheetImportError`` listing every bad row; nothing is written then.
    """
    if len(content) > MAX_IMPORT_BYTES:
        raise PriceSheetImportError(
            [RowError(0, "file", f"The file is larger than {MAX_IMPORT_BYTES:,} bytes.")]
        )
    try:
        text = _decode(content)
    except UnicodeDecodeError:
        raise PriceSheetImportError([RowError(0, "file", "The file is not UTF-8 text.")]) from None
    if format == "csv":
        rows, errors = _rows_from_csv(text)
    elif format == "json":
        rows, errors = _rows_from_json(text)
    else:
        raise ValueError(f"format must be 'csv' or 'json', got {format!r}")
    if len(rows) > MAX_IMPORT_ROWS:
        raise PriceSheetImportError([RowError(0, "file", f"More than {MAX_IMPORT_ROWS:,} entries.")])

    existing = {_entry_key(e): e for e in sheet.entries.select_related("provider", "model")}
    catalog = _Catalog()
    keyed: dict[EntryKey, tuple[int, PriceSheetEntry]] = {}
    for line, row in rows:
        entry, row_errors = _entry_from_row(sheet=sheet, row=row, catalog=catalog)
        errors += [RowError(line, field, reason) for field, reason in row_errors.items()]
        if row_errors:
            continue
        key = _entry_key(entry)
        if key in keyed:
            errors.append(
                RowError(line, _key_field(key), f"Duplicate of line {keyed[key][0]} ({_label(entry)}).")
            )
            continue
        if key in existing:
            # Update in place: keep the id that model mixes refer to.
            entry.pk = existing[key].pk
        keyed[key] = (line, entry)
    if not errors:
        errors += _check_conflicts(sheet, keyed)
    removed = [entry for key, entry in existing.items() if key not in keyed]
    for entry_id, workloads in _entries_in_use(removed).items():
        label = next(_label(e) for e in removed if e.pk == entry_id)
        errors.append(
            RowError(
                0, "entries", f"{label} is missing from the file but used by {', '.join(sorted(workloads))}."
            )
        )
    if errors:
        raise PriceSheetImportError(sorted(errors, key=lambda e: (e.line, e.field)))

    with transaction.atomic():
        PriceSheetEntry.objects.filter(pk__in=[e.pk for e in removed]).delete()
        for _, entry in keyed.values():
            entry.save()
    created = sum(1 for key in keyed if key not in existing)
    return ImportSummary(created=created, updated=len(keyed) - created, deleted=len(removed))


def _cell(entry: PriceSheetEntry, column: str) -> str | None:
    if column == "provider":
        return entry.provider.slug if entry.provider is not None else None
    if column == "model":
        return entry.model.slug if entry.model is not None else None
    value = getattr(entry, column)
    if column in DECIMAL_COLUMNS:
        return None if value is None else format(Decimal(value).normalize(), "f")
    return value or None


def price_sheet_entries_export(*, sheet: PriceSheet, format: Format) -> str:
    """The sheet's entries as CSV (header + one line per entry) or JSON (``{"sheet", "entries"}``)."""
    entries = list(price_sheet_entries(sheet=sheet))
    if format == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(ENTRY_COLUMNS)
        for entry in entries:
            writer.writerow([_cell(entry, column) or "" for column in ENTRY_COLUMNS])
        return out.getvalue()
    if format == "json":
        document = {
            "sheet": {
                "name": sheet.name,
                "effective_from": sheet.effective_from.isoformat(),
                "effective_to": sheet.effective_to.isoformat() if sheet.effective_to else None,
            },
            "entries": [{column: _cell(entry, column) for column in ENTRY_COLUMNS} for entry in entries],
        }
        return json.dumps(document, indent=2) + "\n"
    raise ValueError(f"format must be 'csv' or 'json', got {format!r}")
