"""Web pages for prices: the catalog browser, price sheets and self-hosted deployments.

Thin views: parse a form, call one selector or service, render. Reads are scoped to the user's
organisations, writes to the ones where the user is an owner or editor; anything else is a 404.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from planner.accounts.selectors import organizations_for_editor
from planner.prices.models import PriceSheet, PriceSheetEntry, SelfHostedDeployment
from planner.prices.selectors import price_sheet_entries, price_sheets_for_user, self_hosted_for_user
from planner.prices.self_hosted import (
    self_hosted_break_even,
    self_hosted_create,
    self_hosted_price,
    self_hosted_update,
)
from planner.prices.sheets import (
    Format,
    PriceSheetImportError,
    RowError,
    price_sheet_create,
    price_sheet_entries_export,
    price_sheet_entries_import,
    price_sheet_entry_add,
    price_sheet_entry_delete,
    price_sheet_update,
)
from planner.products.models import Workload
from planner.web.forms.prices import (
    BreakEvenForm,
    CatalogSearchForm,
    EntryForm,
    ImportForm,
    PriceSheetForm,
    SelfHostedForm,
)
from planner.web.views.common import FormPage, flash_outcome, form_errors_add, form_save
from pricing.models import AIModel
from pricing.selectors import catalog_search, model_price_history

CATALOG_PAGE = 100
SHEET_PAGE = FormPage(
    noun="Price sheet", template="prices/sheet_form.html", object_name="sheet", detail="prices:sheet_detail"
)
DEPLOYMENT_PAGE = FormPage(
    noun="Deployment",
    template="prices/self_hosted_form.html",
    object_name="deployment",
    detail="prices:self_hosted_detail",
)


# --- Catalog ---------------------------------------------------------------------------------


def _can_create(request: HttpRequest) -> bool:
    """Whether the Prices navigation offers "New price sheet" and "New deployment": the user
    edits at least one organisation."""
    return organizations_for_editor(user=request.user).exists()


@login_required
def catalog(request: HttpRequest) -> HttpResponse:
    """Search the catalog by provider or model name; sort by relevance or current price."""
    form = CatalogSearchForm(request.GET or None)
    query, sort = "", "relevance"
    if form.is_valid():
        query, sort = form.cleaned_data["q"] or "", form.sort_value()
    models = list(catalog_search(query=query, limit=CATALOG_PAGE, sort=sort))
    context = {"form": form, "models": models, "limit": CATALOG_PAGE, "can_create": _can_create(request)}
    return render(request, "prices/catalog.html", context)


@login_required
def catalog_model(request: HttpRequest, pk: int) -> HttpResponse:
    """A catalog model's price history, every variant and dated change."""
    model = get_object_or_404(AIModel.objects.select_related("provider"), pk=pk)
    rows = list(model_price_history(model_id=model.pk))
    variants = sorted({row.variant for row in rows})
    return render(
        request,
        "prices/catalog_model.html",
        {"model": model, "variants": [(v, [r for r in rows if r.variant == v]) for v in variants]},
    )


# --- Price sheets ----------------------------------------------------------------------------


def _editable_sheet(request: HttpRequest, pk: int) -> PriceSheet:
    return get_object_or_404(
        PriceSheet.objects.filter(organization__in=organizations_for_editor(user=request.user)), pk=pk
    )


@login_required
def sheet_list(request: HttpRequest) -> HttpResponse:
    sheets = price_sheets_for_user(user=request.user).order_by(
        "organization__name", "-effective_from", "name"
    )
    return render(request, "prices/sheet_list.html", {"sheets": sheets, "can_create": _can_create(request)})


@login_required
def sheet_create(request: HttpRequest) -> HttpResponse:
    form = PriceSheetForm(request.POST or None, organizations=organizations_for_editor(user=request.user))
    return SHEET_PAGE.respond(request, form, None, lambda: price_sheet_create(**form.cleaned_data))


@login_required
def sheet_edit(request: HttpRequest, pk: int) -> HttpResponse:
    sheet = _editable_sheet(request, pk)
    form = PriceSheetForm(request.POST or None, instance=sheet)
    return SHEET_PAGE.respond(
        request, form, sheet, lambda: price_sheet_update(sheet=sheet, data=form.cleaned_data)
    )


def _sheet_page(
    request: HttpRequest,
    sheet: PriceSheet,
    *,
    import_form: ImportForm | None = None,
    entry_form: EntryForm | None = None,
    row_errors: list[RowError] | None = None,
    status: int = 200,
) -> HttpResponse:
    can_edit = organizations_for_editor(user=request.user).filter(pk=sheet.organization_id).exists()
    context = {
        "sheet": sheet,
        "entries": price_sheet_entries(sheet=sheet),
        "can_edit": can_edit,
        "import_form": import_form or ImportForm(),
        "entry_form": entry_form or EntryForm(),
        "row_errors": row_errors or [],
    }
    return render(request, "prices/sheet_detail.html", context, status=status)


@login_required
def sheet_detail(request: HttpRequest, pk: int) -> HttpResponse:
    sheet = get_object_or_404(price_sheets_for_user(user=request.user), pk=pk)
    return _sheet_page(request, sheet)


@login_required
@require_POST
def sheet_import(request: HttpRequest, pk: int) -> HttpResponse:
    sheet = _editable_sheet(request, pk)
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _sheet_page(request, sheet, import_form=form, status=400)
    upload = form.cleaned_data["file"]
    try:
        summary = price_sheet_entries_import(
            sheet=sheet,
            content=upload.read(),
            format="json" if form.format_value() == "json" else "csv",
        )
    except PriceSheetImportError as error:
        return _sheet_page(request, sheet, import_form=form, row_errors=error.errors, status=400)
    messages.success(
        request,
        f"Imported: {summary.created} new, {summary.updated} updated, {summary.deleted} removed entries.",
    )
    return redirect("prices:sheet_detail", pk=sheet.pk)


@login_required
def sheet_export(request: HttpRequest, pk: int, format: str) -> HttpResponse:
    sheet = get_object_or_404(price_sheets_for_user(user=request.user), pk=pk)
    kind: Format = "json" if format == "json" else "csv"
    body = price_sheet_entries_export(sheet=sheet, format=kind)
    content_type = "application/json" if kind == "json" else "text/csv; charset=utf-8"
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="price-sheet-{sheet.pk}.{kind}"'
    return response


@login_required
@require_POST
def sheet_entry_add(request: HttpRequest, pk: int) -> HttpResponse:
    sheet = _editable_sheet(request, pk)
    form = EntryForm(request.POST)
    entry = form_save(request, form, lambda: price_sheet_entry_add(sheet=sheet, row=form.row()))
    if entry is not None:
        messages.success(request, f"Added {entry.target_label}.")
        return redirect("prices:sheet_detail", pk=sheet.pk)
    return _sheet_page(request, sheet, entry_form=form, status=400)


@login_required
@require_POST
def sheet_entry_delete(request: HttpRequest, pk: int, entry_pk: int) -> HttpResponse:
    sheet = _editable_sheet(request, pk)
    entry = get_object_or_404(PriceSheetEntry.objects.filter(sheet=sheet), pk=entry_pk)
    flash_outcome(
        request, lambda: price_sheet_entry_delete(entry=entry), success=f"Removed {entry.target_label}."
    )
    return redirect("prices:sheet_detail", pk=sheet.pk)


# --- Self-hosted deployments -----------------------------------------------------------------


def _editable_deployment(request: HttpRequest, pk: int) -> SelfHostedDeployment:
    return get_object_or_404(
        SelfHostedDeployment.objects.filter(organization__in=organizations_for_editor(user=request.user)),
        pk=pk,
    )


def _deployment_fields(form: SelfHostedForm) -> dict[str, Any]:
    return {name: value for name, value in form.cleaned_data.items() if name != "organization"}


@login_required
def self_hosted_list(request: HttpRequest) -> HttpResponse:
    deployments = [
        (deployment, self_hosted_price(deployment=deployment))
        for deployment in self_hosted_for_user(user=request.user).order_by("organization__name", "name")
    ]
    context = {"deployments": deployments, "can_create": _can_create(request)}
    return render(request, "prices/self_hosted_list.html", context)


@login_required
def self_hosted_new(request: HttpRequest) -> HttpResponse:
    form = SelfHostedForm(request.POST or None, organizations=organizations_for_editor(user=request.user))
    return DEPLOYMENT_PAGE.respond(
        request,
        form,
        None,
        lambda: self_hosted_create(
            organization=form.cleaned_data["organization"], data=_deployment_fields(form)
        ),
    )


@login_required
def self_hosted_edit(request: HttpRequest, pk: int) -> HttpResponse:
    deployment = _editable_deployment(request, pk)
    form = SelfHostedForm(request.POST or None, instance=deployment)
    return DEPLOYMENT_PAGE.respond(
        request,
        form,
        deployment,
        lambda: self_hosted_update(deployment=deployment, data=_deployment_fields(form)),
    )


def _catalog_model(key: str) -> AIModel | None:
    provider, _, slug = key.strip().partition("/")
    return AIModel.objects.select_related("provider").filter(provider__slug=provider, slug=slug).first()


@login_required
def self_hosted_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A deployment's $/Mtok with its arithmetic, and its break-even against a chosen API model."""
    deployment = get_object_or_404(self_hosted_for_user(user=request.user), pk=pk)
    workloads: QuerySet[Workload] = Workload.objects.filter(
        product__organization_id=deployment.organization_id
    ).select_related("product")
    form = BreakEvenForm(request.GET or None, workloads=workloads)
    break_even = None
    if form.is_valid():
        model = _catalog_model(form.cleaned_data["model"])
        if model is None:
            form.add_error("model", "No such catalog model; write it as provider/model, e.g. openai/gpt-4o.")
        else:
            input_tokens, output_tokens = form.token_mix()
            try:
                break_even = self_hosted_break_even(
                    deployment=deployment,
                    model=model,
                    at=timezone.now(),
                    input_tokens=input_tokens,
                    output_tokens=output_tokens,
                )
            except ValidationError as error:
                form_errors_add(form, error)
    can_edit = organizations_for_editor(user=request.user).filter(pk=deployment.organization_id).exists()
    context = {
        "deployment": deployment,
        "cost": self_hosted_price(deployment=deployment),
        "form": form,
        "break_even": break_even,
        "can_edit": can_edit,
    }
    return render(request, "prices/self_hosted_detail.html", context)
