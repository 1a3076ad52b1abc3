"""A ModelSerializer whose fields take strict JSON types (see ``api.fields``) and integer bounds
that do not depend on the database."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.backends.base.operations import BaseDatabaseOperations
from rest_framework import serializers

from api.fields import MoneyField, StrictBooleanField, StrictCharField, StrictFloatField, StrictIntegerField

_INTEGERS = (
    models.IntegerField,
    models.BigIntegerField,
    models.SmallIntegerField,
    models.PositiveIntegerField,
    models.PositiveSmallIntegerField,
    models.PositiveBigIntegerField,
)


class StrictModelSerializer(serializers.ModelSerializer[Any]):
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.FloatField: StrictFloatField,
        models.DecimalField: MoneyField,
        models.BooleanField: StrictBooleanField,
        **dict.fromkeys(_INTEGERS, StrictIntegerField),
    }

    def build_standard_field(
        self, field_name: str, model_field: models.Field[Any, Any]
    ) -> tuple[type, dict[str, Any]]:
        """An integer column's range as PostgreSQL holds it (``PositiveIntegerField``: 0 to
        2**31 - 1), whatever the database. Django takes the bounds from the connection, and
        SQLite's are 64 bits: on the embedded default a tier's ``subscribers`` of 2**31 passed
        validation and broke the column's range constraint (a 500), and the schema changed with
        the database."""
        field_class, kwargs = super().build_standard_field(field_name, model_field)
        portable = BaseDatabaseOperations.integer_field_ranges.get(model_field.get_internal_type())
        if isinstance(model_field, _INTEGERS) and portable is not None and not kwargs.get("read_only"):
            low, high = portable
            kwargs["min_value"] = max(kwargs.get("min_value", low), low)
            kwargs["max_value"] = min(kwargs.get("max_value", high), high)
        return field_class, kwargs


def fixed_on_update(instance: Any, validated_data: dict[str, Any], *names: str) -> None:
    """Refuse to move an object to another parent (``product``, ``tier``...) on update; the
    same value (as a PUT repeats it) is accepted and dropped."""
    errors = {
        name: "This cannot be changed; create a new object instead."
        for name in names
        if name in validated_data and validated_data.pop(name) != getattr(instance, name)
    }
    if errors:
        raise serializers.ValidationError(errors)
