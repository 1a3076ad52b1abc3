"""Request-body parsers of the compatibility endpoints: JSON under the media types vendors'
SDKs send (CloudEvents' structured and batch modes among them), bounded like the API's."""

from __future__ import annotations

from api.parsers import BoundedJSONParser


class CloudEventJSONParser(BoundedJSONParser):
    """One CloudEvent in structured mode."""

    media_type = "application/cloudevents+json"


class CloudEventBatchJSONParser(BoundedJSONParser):
    """A JSON array of CloudEvents (batched mode)."""

    media_type = "application/cloudevents-batch+json"


#: Every JSON media type a vendor SDK sends (plain JSON first).
JSON_PARSERS = [BoundedJSONParser, CloudEventJSONParser, CloudEventBatchJSONParser]
