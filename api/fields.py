"""Serializer fields with strict JSON types and tenant-scoped relations.

DRF coerces loosely by default (``"12"`` for an integer, ``true`` for a float, ``12`` for a
string). The API refuses a value of the wrong JSON type instead, so what the schema says is what
the server accepts. Money is a Decimal *string* (``"20.00"``) both ways, never a float.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Model, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.tenancy import request_organization
from planner.accounts.models import Organization

#: Ids beyond a signed 64-bit integer exist nowhere; they are refused before reaching the database.
MAX_ID = 2**63 - 1


def is_number(data: object) -> bool:
    return isinstance(data, int | float) and not isinstance(data, bool)


def _check_id(field: serializers.PrimaryKeyRelatedField, data: Any) -> None:
    if not isinstance(data, int) or isinstance(data, bool):
        field.fail("incorrect_type", data_type=type(data).__name__)
    if not 1 <= data <= MAX_ID:
        field.fail("does_not_exist", pk_value=data)


class StringOnly(serializers.Field[Any, Any, Any, Any]):
    """Mixed in before a DRF field class: anything but a JSON string is ``invalid``, before the
    field parses it (no number is read as a string, no amount passes through a float)."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(StringOnly, serializers.CharField):
    """A JSON string whose ``max_length`` counts it as sent. DRF trims whitespace before its
    length check, so 201 characters starting with one that Python counts as whitespace (a
    space, U+001E) passed a limit of 200 that the schema's ``maxLength`` says they break."""

    default_error_messages = {"invalid": "Enter a string."}

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str) and self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data: Any) -> int:
        if not isinstance(data, int) or isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    """A finite JSON number (``NaN``, ``Infinity`` and overflowing literals are refused)."""

    def to_internal_value(self, data: Any) -> float:
        if not is_number(data):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(
    {"type": "number", "format": "double", "minimum": 0, "exclusiveMinimum": True, "maximum": 1}
)
class PositiveFractionField(StrictFloatField):
    """A fraction in (0, 1]: a share that cannot be empty, such as a segment's share of a tier's
    users (the database refuses 0; refusing it here keeps that a 400 on the field)."""

    # Bounds checked here, not with min_value/max_value: their validators would take the
    # schema's exclusiveMinimum away.
    default_error_messages = {
        "not_positive": "Ensure this value is greater than 0.",
        "max_value": "Ensure this value is less than or equal to 1.",
    }

    def to_internal_value(self, data: Any) -> float:
        value = super().to_internal_value(data)
        if value <= 0:
            self.fail("not_positive")
        if value > 1:
            self.fail("max_value")
        return value


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class MoneyField(StringOnly, serializers.DecimalField):
    """A Decimal amount sent and returned as a string (``"19.99"``); numbers are refused so no
    amount ever passes through a binary float."""

    default_error_messages = {"invalid": 'Enter the amount as a decimal string, such as "19.99".'}


class ResultMoneyField(serializers.DecimalField):
    """A money figure of the results: the engine's float, quantized at the API edge."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", None)
        kwargs.setdefault("decimal_places", 6)
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)


@extend_schema_field(OpenApiTypes.INT)
class OrganizationRelatedField(serializers.PrimaryKeyRelatedField):
    """An object of the caller's organisation, by id. An id of another organisation "does not
    exist", exactly like an id that does not exist anywhere."""

    def __init__(self, *, selector: Callable[..., QuerySet[Any]], **kwargs: Any) -> None:
        self.selector = selector
        super().__init__(**kwargs)

    def get_queryset(self) -> QuerySet[Any]:
        organization: Organization = request_organization(self.context["request"])
        return self.selector(organization=organization)

    def to_internal_value(self, data: Any) -> Model:
        _check_id(self, data)
        return super().to_internal_value(data)


@extend_schema_field(OpenApiTypes.INT)
class CatalogModelField(serializers.PrimaryKeyRelatedField):
    """A catalog model (``pricing.AIModel``) by id; the catalog is shared by every organisation."""

    def to_internal_value(self, data: Any) -> Model:
        _check_id(self, data)
        return super().to_internal_value(data)
