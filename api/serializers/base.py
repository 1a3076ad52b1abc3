"""A ModelSerializer whose fields take strict JSON types (see ``api.fields``)."""

from __future__ import annotations

from typing import Any

from django.db import models
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
