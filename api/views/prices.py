"""Prices: the shared price catalog (``/api/v1/prices/``, read-only), the organisation's price
sheets (``/api/v1/price-sheets/``: CRUD, entries, CSV/JSON import and export) and self-hosted
deployments (``/api/v1/self-hosted-deployments/``, with the derived $/Mtok and its arithmetic).

The catalog is the same for every organisation; sheets and deployments are scoped to the
request's organisation (``api.views.OrganizationViewSetMixin``: another tenant's id is a 404).
An organisation's private models are entries of its price sheets; they are not in the catalog
list (they have no catalog id, price history or variants).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

from django.db.models import QuerySet
from django.http import HttpResponse
from django.utils.text import slugify
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from api.parsers import read_body
from api.serializers.prices import (
    PRICE_SHEET_IMPORT_JSON,
    CatalogModelDetailSerializer,
    CatalogModelSerializer,
    CatalogQuerySerializer,
    ExportQuerySerializer,
    PriceSheetEntrySerializer,
    PriceSheetFileSerializer,
    PriceSheetImportResultSerializer,
    PriceSheetSerializer,
    SelfHostedDeploymentSerializer,
)
from api.views.base import ID_PATTERN, OrganizationViewSetMixin
from planner.prices import self_hosted as self_hosted_services
from planner.prices import sheets as sheet_services
from planner.prices.models import PriceSheet, SelfHostedDeployment
from planner.prices.selectors import price_sheets_for_organization, self_hosted_for_organization
from pricing.models import AIModel
from pricing.selectors import catalog_search

#: ``catalog_search`` needs a limit; the list is paginated, so it only guards against a runaway.
CATALOG_SEARCH_LIMIT = 100_000


# --- Catalog ---------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Search the price catalog", parameters=[CatalogQuerySerializer], filters=False
    ),
    retrieve=extend_schema(summary="A catalog model with its price history, by variant", filters=False),
)
class CatalogModelViewSet(viewsets.ReadOnlyModelViewSet[AIModel]):
    """The price catalog shipped with the product (every provider and model of genai-prices),
    shared by every organisation and read-only. The list holds current models; a model's page
    (current or retired) gives every price row of every variant."""

    lookup_value_regex = ID_PATTERN
    filter_backends: Sequence[Any] = []  # search and ordering go through catalog_search

    def get_queryset(self) -> QuerySet[AIModel]:
        if self.action != "list" or getattr(self, "swagger_fake_view", False):
            return AIModel.objects.select_related("provider").order_by("provider__slug", "slug")
        query = CatalogQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return catalog_search(
            query=query.validated_data.get("q", ""),
            limit=CATALOG_SEARCH_LIMIT,
            sort=query.validated_data["ordering"],
        )

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        return CatalogModelDetailSerializer if self.action == "retrieve" else CatalogModelSerializer


# --- Price sheets ----------------------------------------------------------------------------


class _RawParser(BaseParser):
    """An import file as sent, unparsed: ``{"format": "csv" | "json", "content": bytes}`` (the
    service reads JSON numbers as exact Decimals and reports errors by line)."""

    file_format: sheet_services.Format = "csv"

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        return {"format": self.file_format, "content": read_body(stream)}


class RawCSVParser(_RawParser):
    media_type = "text/csv"
    file_format = "csv"


class RawJSONParser(_RawParser):
    media_type = "application/json"
    file_format = "json"


class _FirstRenderer(DefaultContentNegotiation):
    """``export/`` answers a file (``?format=`` picks it) and errors as JSON: DRF must not read
    ``?format=`` as a renderer name, nor refuse ``Accept: text/csv``."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        first = next(iter(renderers))
        return first, str(first.media_type)


def _row_errors(errors: Sequence[sheet_services.RowError]) -> dict[str, list[dict[str, Any]]]:
    """Row errors in the API's error shape, with the ``line`` they are on."""
    return {
        "errors": [
            {"field": error.field, "code": "invalid_row", "message": error.reason, "line": error.line}
            for error in errors
        ]
    }


class PriceSheetViewSet(OrganizationViewSetMixin, viewsets.ModelViewSet[PriceSheet]):
    """The organisation's price sheets: negotiated discounts and private models over a period.
    Sheets whose dates overlap may not price the same provider, model or private slug."""

    model = PriceSheet
    selector = staticmethod(price_sheets_for_organization)
    serializer_class = PriceSheetSerializer
    ordering_fields = ["name", "effective_from", "created_at", "id"]
    ordering = ["-effective_from", "name", "id"]

    def perform_destroy(self, instance: PriceSheet) -> None:
        sheet_services.price_sheet_delete(sheet=instance)

    def _sheet_response(self, sheet: PriceSheet, *, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=sheet.pk)
        return Response(PriceSheetSerializer(fresh, context=self.get_serializer_context()).data, status=code)

    @extend_schema(
        summary="Add an entry to the sheet",
        request=PriceSheetEntrySerializer,
        responses={201: PriceSheetSerializer},
        filters=False,
    )
    @action(detail=True, methods=["post"], url_path="entries", pagination_class=None, filter_backends=[])
    def entries(self, request: Request, pk: str | None = None) -> Response:
        sheet = self.get_object()
        entry = PriceSheetEntrySerializer(data=request.data, context={"sheet": sheet})
        entry.is_valid(raise_exception=True)
        entry.save()
        return self._sheet_response(sheet, code=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Remove an entry from the sheet (refused while a workload uses the private model)",
        parameters=[OpenApiParameter("entry_id", OpenApiTypes.INT, OpenApiParameter.PATH)],
        responses={204: None},
        filters=False,
    )
    @action(
        detail=True,
        methods=["delete"],
        url_path=rf"entries/(?P<entry_id>{ID_PATTERN})",
        url_name="entry",
        pagination_class=None,
        filter_backends=[],
    )
    def remove_entry(self, request: Request, pk: str | None = None, entry_id: str | None = None) -> Response:
        sheet = self.get_object()
        entry = next((e for e in sheet.entries.all() if str(e.pk) == entry_id), None)
        if entry is None:
            raise exceptions.NotFound("No such entry in this sheet.")
        sheet_services.price_sheet_entry_delete(entry=entry)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Replace the sheet's entries with a CSV or JSON file",
        description="The file is the sheet: rows are matched to entries by provider/model or private "
        "slug and updated in place, new rows added, entries missing from the file removed. Every row "
        "is checked first; any problem answers 400 with one error per problem (`line`, `field`, "
        "`message`; CSV lines count from the header, JSON lines are positions in `entries` from 1, "
        "line 0 is the file as a whole) and nothing is written.",
        request={"text/csv": OpenApiTypes.STR, "application/json": PRICE_SHEET_IMPORT_JSON},
        responses={200: PriceSheetImportResultSerializer},
        filters=False,
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="import",
        url_name="import",
        parser_classes=[RawJSONParser, RawCSVParser],
        pagination_class=None,
        filter_backends=[],
    )
    def import_entries(self, request: Request, pk: str | None = None) -> Response:
        sheet = self.get_object()
        data = request.data  # the raw parsers' dict; {} when the body is empty
        body: Mapping[str, Any] = data if isinstance(data, dict) else {}
        csv_type = request.content_type.startswith("text/csv")
        file_format: sheet_services.Format = body.get("format") or ("csv" if csv_type else "json")
        try:
            summary = sheet_services.price_sheet_entries_import(
                sheet=sheet, content=body.get("content") or b"", format=file_format
            )
        except sheet_services.PriceSheetImportError as error:
            return Response(_row_errors(error.errors), status=status.HTTP_400_BAD_REQUEST)
        fresh = self.get_queryset().get(pk=sheet.pk)
        result = {
            "created": summary.created,
            "updated": summary.updated,
            "deleted": summary.deleted,
            "sheet": fresh,
        }
        return Response(PriceSheetImportResultSerializer(result, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="Download the sheet's entries as CSV or JSON",
        description="Export, import and export again gives the same bytes.",
        parameters=[ExportQuerySerializer],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="Header and one line per entry."
            ),
            (200, "application/json"): OpenApiResponse(PriceSheetFileSerializer),
        },
        filters=False,
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="export",
        content_negotiation_class=_FirstRenderer,
        pagination_class=None,
        filter_backends=[],
    )
    def export(self, request: Request, pk: str | None = None) -> HttpResponse:
        sheet = self.get_object()
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        file_format: sheet_services.Format = query.validated_data["format"]
        content = sheet_services.price_sheet_entries_export(sheet=sheet, format=file_format)
        media_type = "text/csv" if file_format == "csv" else "application/json"
        response = HttpResponse(content, content_type=f"{media_type}; charset=utf-8")
        filename = f"{slugify(sheet.name) or 'price-sheet'}.{file_format}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


# --- Self-hosted deployments -----------------------------------------------------------------


class SelfHostedDeploymentViewSet(OrganizationViewSetMixin, viewsets.ModelViewSet[SelfHostedDeployment]):
    """Models the organisation serves on its own GPUs; reading one gives its effective $/Mtok and
    every step of the arithmetic (``price``)."""

    model = SelfHostedDeployment
    selector = staticmethod(self_hosted_for_organization)
    serializer_class = SelfHostedDeploymentSerializer
    ordering_fields = ["name", "gpu_hourly_cost", "created_at", "id"]
    ordering = ["name", "id"]

    def perform_destroy(self, instance: SelfHostedDeployment) -> None:
        self_hosted_services.self_hosted_delete(deployment=instance)
