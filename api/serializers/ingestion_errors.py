"""Ingestion errors (``/api/v1/ingestion-errors/``): vendor events accepted on the wire and then
rejected (Stripe v2's stream, Orb's ``validation_failed``), read-only."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from planner.actuals.compat.models import IngestionError


class IngestionErrorSerializer(serializers.ModelSerializer[IngestionError]):
    payload = serializers.JSONField(
        read_only=True, help_text="The event as received (key, name, customer, properties...), trimmed."
    )

    class Meta:
        model = IngestionError
        fields = ["id", "vendor", "received_at", "event_key", "customer", "field", "reason", "payload"]
        read_only_fields = fields
        extra_kwargs: dict[str, Any] = {
            "event_key": {
                "help_text": "The vendor's key of the event (Stripe identifier, Orb idempotency_key)"
            },
            "field": {"help_text": "The vendor's field at fault (payload[model], properties.model...)."},
        }
