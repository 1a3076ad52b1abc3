"""Prices: the shared catalog (read-only), the organisation's price sheets with their entries and
its self-hosted deployments. Writes call ``planner.prices.sheets`` and
``planner.prices.self_hosted``, which hold every domain rule and raise field errors.

Prices are decimal strings both ways (``"2.5"``), like money; catalog and sheet prices are
written without trailing zeros."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.fields import MoneyField, StrictCharField
from api.serializers.base import StrictModelSerializer
from api.tenancy import request_organization
from planner.prices import self_hosted as self_hosted_services
from planner.prices import sheets as sheet_services
from planner.prices.models import PriceSheet, PriceSheetEntry, SelfHostedDeployment
from pricing.models import PRICE_COLUMNS, AIModel, ModelPrice
from pricing.selectors import CATALOG_SORTS, model_price_history


def _price(**kwargs: Any) -> serializers.DecimalField:
    """A price per million tokens (10 decimals, like the catalog columns), as a plain string."""
    kwargs.setdefault("read_only", True)
    kwargs.setdefault("allow_null", True)
    return serializers.DecimalField(max_digits=20, decimal_places=10, normalize_output=True, **kwargs)


def _price_input(**kwargs: Any) -> MoneyField:
    return MoneyField(
        max_digits=20, decimal_places=10, normalize_output=True, required=False, allow_null=True, **kwargs
    )


class QueryChoiceField(serializers.ChoiceField):
    """A query parameter with choices: ``?name=`` (empty) is refused, not read as absent."""

    def get_value(self, dictionary: Any) -> Any:
        if dictionary.get(self.field_name) == "":
            return ""
        return super().get_value(dictionary)


# --- Catalog ---------------------------------------------------------------------------------


class CatalogQuerySerializer(serializers.Serializer[Any]):
    """Query parameters of the catalog list."""

    q = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="Words that must all appear in the provider or model (slug or name).",
    )
    ordering = QueryChoiceField(
        choices=list(CATALOG_SORTS),
        required=False,
        default="relevance",
        help_text="relevance (exact, then prefix matches on the model slug), or the current "
        "standard input/output price, cheapest first (`-` for dearest first); models without "
        "such a price come last.",
    )


class _CatalogModelKeySerializer(serializers.Serializer[AIModel]):
    """What names a catalog model: its id, provider and slug, with their display names."""

    id = serializers.IntegerField(read_only=True)
    provider = serializers.CharField(source="provider.slug", read_only=True)
    provider_name = serializers.CharField(source="provider.name", read_only=True)
    slug = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)


class CatalogModelSerializer(_CatalogModelKeySerializer):
    """A current catalog model with its current standard all-day price."""

    context_window = serializers.IntegerField(read_only=True, allow_null=True)
    deprecated = serializers.BooleanField(read_only=True)
    current_input_mtok = _price(help_text="Per million input tokens now (standard variant).")
    current_output_mtok = _price(help_text="Per million output tokens now (standard variant).")


class ModelPriceSerializer(serializers.ModelSerializer[ModelPrice]):
    """One price row: a complete price for one variant over one period (docs/PRICING.md)."""

    variant = serializers.CharField(read_only=True, help_text='"" = standard.')
    when = serializers.DictField(
        child=serializers.JSONField(), read_only=True, help_text="The price context of the variant."
    )
    effective_to = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="Exclusive; null = open."
    )
    start_time = serializers.TimeField(read_only=True, allow_null=True, help_text="Daily UTC window.")
    requests_kcount = _price(help_text="Per thousand requests.")
    structure = serializers.DictField(
        child=serializers.JSONField(),
        read_only=True,
        help_text="The genai-prices price, lossless (the source of truth; the *_mtok are a summary).",
    )

    class Meta:
        model = ModelPrice
        fields = [
            "id",
            "variant",
            "when",
            "effective_from",
            "effective_to",
            "start_time",
            "end_time",
            *PRICE_COLUMNS,
            "has_tiers",
            "structure",
            "retired_at",
        ]
        read_only_fields = fields
        #: Written like every catalog price (``_price``): a plain string without trailing zeros.
        extra_kwargs = {column: {"normalize_output": True} for column in PRICE_COLUMNS}


class PriceVariantSerializer(serializers.Serializer[Any]):
    variant = serializers.CharField(read_only=True, help_text='"" = standard.')
    prices = ModelPriceSerializer(many=True, read_only=True)


class CatalogModelDetailSerializer(_CatalogModelKeySerializer):
    """A catalog model (current or retired) with its whole price history, by variant."""

    description = serializers.CharField(read_only=True)
    context_window = serializers.IntegerField(read_only=True, allow_null=True)
    deprecated = serializers.BooleanField(read_only=True)
    price_comments = serializers.CharField(read_only=True)
    retired_at = serializers.DateTimeField(read_only=True, allow_null=True)
    variants = serializers.SerializerMethodField()

    @extend_schema_field(PriceVariantSerializer(many=True))
    def get_variants(self, model: AIModel) -> list[dict[str, Any]]:
        grouped: dict[str, list[ModelPrice]] = {}
        for row in model_price_history(model_id=model.pk):
            grouped.setdefault(row.variant, []).append(row)
        return [
            {"variant": variant, "prices": ModelPriceSerializer(rows, many=True).data}
            for variant, rows in grouped.items()
        ]


# --- Price sheets ----------------------------------------------------------------------------


class PriceSheetEntrySerializer(serializers.Serializer[PriceSheetEntry]):
    """One entry: a ``discount`` on a catalog ``provider`` (or one ``model`` of it), or a
    ``private`` model (``slug``, ``name`` and its prices per million tokens)."""

    id = serializers.IntegerField(read_only=True)
    kind = serializers.ChoiceField(choices=PriceSheetEntry.Kind.choices)
    provider = StrictCharField(
        required=False, allow_blank=True, allow_null=True, help_text="Catalog provider slug (discount)."
    )
    model = StrictCharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="Catalog model slug of the provider (discount on one model; empty = all models).",
    )
    discount = MoneyField(
        max_digits=7,
        decimal_places=6,
        normalize_output=True,
        required=False,
        allow_null=True,
        help_text='Fraction off every list price, as a decimal string ("0.2" = 20 % off).',
    )
    slug = StrictCharField(required=False, allow_blank=True, help_text="Private model id.")
    name = StrictCharField(required=False, allow_blank=True)
    input_mtok = _price_input()
    output_mtok = _price_input()
    cache_read_mtok = _price_input(help_text="Empty = the input price.")
    cache_write_mtok = _price_input(help_text="Empty = the input price.")
    reasoning_mtok = _price_input(help_text="Empty = the output price.")
    target = serializers.CharField(
        source="target_label",
        read_only=True,
        help_text="What the entry prices: `provider (all models)`, `provider/model` or `private/slug`.",
    )

    def to_representation(self, instance: PriceSheetEntry) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["provider"] = instance.provider.slug if instance.provider is not None else None
        data["model"] = instance.model.slug if instance.model is not None else None
        return data

    def create(self, validated_data: dict[str, Any]) -> PriceSheetEntry:
        row = {
            column: "" if value is None else format(value, "f") if isinstance(value, Decimal) else value
            for column, value in validated_data.items()
        }
        return sheet_services.price_sheet_entry_add(sheet=self.context["sheet"], row=row)


class PriceSheetSerializer(StrictModelSerializer):
    """A price sheet with its entries (read-only here: add and remove them with ``entries/``, or
    replace them all with ``import/``)."""

    entries = PriceSheetEntrySerializer(many=True, read_only=True)

    class Meta:
        model = PriceSheet
        fields = ["id", *sheet_services.SHEET_FIELDS, "entries", "created_at", "updated_at"]

    def create(self, validated_data: dict[str, Any]) -> PriceSheet:
        return sheet_services.price_sheet_create(
            organization=request_organization(self.context["request"]), **validated_data
        )

    def update(self, instance: PriceSheet, validated_data: dict[str, Any]) -> PriceSheet:
        return sheet_services.price_sheet_update(sheet=instance, data=validated_data)


_CELL: dict[str, Any] = {
    "oneOf": [{"type": "string"}, {"type": "number"}],
    "nullable": True,
    "description": "Text, or a number for the price columns (read as an exact decimal).",
}
_FILE_ENTRY: dict[str, Any] = {
    "type": "object",
    "properties": {column: _CELL for column in sheet_services.ENTRY_COLUMNS},
    "additionalProperties": False,
}
#: The JSON body of ``import/``: ``{"entries": [...]}`` (the export's shape) or the bare list.
PRICE_SHEET_IMPORT_JSON: dict[str, Any] = {
    "oneOf": [
        {
            "type": "object",
            "properties": {"entries": {"type": "array", "items": _FILE_ENTRY}},
            "required": ["entries"],
        },
        {"type": "array", "items": _FILE_ENTRY},
    ]
}


class ExportQuerySerializer(serializers.Serializer[Any]):
    format = QueryChoiceField(choices=["csv", "json"], required=False, default="csv")


class PriceSheetFileSheetSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    effective_from = serializers.DateField()
    effective_to = serializers.DateField(allow_null=True)


def _file_cell(column: str) -> serializers.Field[Any, Any, Any, Any]:
    """An entry's column as the export writes it: text, null when empty (decimal columns as
    decimal strings); ``kind`` is always set."""
    if column == "kind":
        return serializers.ChoiceField(choices=PriceSheetEntry.Kind.choices)
    if column in sheet_services.DECIMAL_COLUMNS:
        return serializers.CharField(allow_null=True, help_text="Decimal string.")
    return serializers.CharField(allow_null=True)


class PriceSheetFileEntrySerializer(serializers.Serializer[Any]):
    """One row of an exported sheet: every column, null when empty."""

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        """The export's own columns (``ENTRY_COLUMNS``, in order): the schema follows the export."""
        return {column: _file_cell(column) for column in sheet_services.ENTRY_COLUMNS}


class PriceSheetFileSerializer(serializers.Serializer[Any]):
    """The JSON export of a sheet (``export/?format=json``); ``import/`` reads it back."""

    sheet = PriceSheetFileSheetSerializer()
    entries = PriceSheetFileEntrySerializer(many=True)


class PriceSheetImportResultSerializer(serializers.Serializer[Any]):
    created = serializers.IntegerField(help_text="Entries added.")
    updated = serializers.IntegerField(help_text="Entries matched by key and updated in place (ids kept).")
    deleted = serializers.IntegerField(help_text="Entries missing from the file, removed.")
    sheet = PriceSheetSerializer()


# --- Self-hosted deployments -----------------------------------------------------------------


def _derived(help_text: str) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=None, decimal_places=None, read_only=True, normalize_output=True, help_text=help_text
    )


class SelfHostedCostSerializer(serializers.Serializer[Any]):
    """The effective price of a deployment and the arithmetic that derives it."""

    replica_hourly_cost = _derived("GPU $/hour x GPUs per replica.")
    input_tokens_per_hour = _derived("Input throughput x multiplier x utilisation x 3600.")
    output_tokens_per_hour = _derived("Output throughput x multiplier x utilisation x 3600.")
    input_mtok = _derived("Per million input tokens (10 decimals).")
    output_mtok = _derived("Per million output tokens (10 decimals).")
    monthly_fixed_cost = _derived("One replica for 730 hours.")
    steps = serializers.ListField(child=serializers.CharField(), read_only=True)


class SelfHostedDeploymentSerializer(StrictModelSerializer):
    price = serializers.SerializerMethodField()

    class Meta:
        model = SelfHostedDeployment
        fields = ["id", *self_hosted_services.DEPLOYMENT_FIELDS, "price", "created_at", "updated_at"]

    @extend_schema_field(SelfHostedCostSerializer(allow_null=True))
    def get_price(self, deployment: SelfHostedDeployment) -> dict[str, Any] | None:
        """``null`` for a row the model's validation would refuse now (stored before its bounds,
        or by raw SQL): the list still answers, and saving the row again names the field."""
        cost = self_hosted_services.self_hosted_price(deployment=deployment)
        return None if cost is None else dict(SelfHostedCostSerializer(cost).data)

    def create(self, validated_data: dict[str, Any]) -> SelfHostedDeployment:
        return self_hosted_services.self_hosted_create(
            organization=request_organization(self.context["request"]), data=validated_data
        )

    def update(self, instance: SelfHostedDeployment, validated_data: dict[str, Any]) -> SelfHostedDeployment:
        return self_hosted_services.self_hosted_update(deployment=instance, data=validated_data)
