"""Hostile-input cases of the alert channel endpoints, swept by ``test_hostile_sweep.py``."""

from __future__ import annotations

from tests.api.hostile import BODILESS, Endpoint, by_id, resource, set_field, vary

CHANNEL = "/alert-channels/{id}/"

ALERT_CHANNEL_ENDPOINTS: list[Endpoint] = [
    *resource(
        "alert-channels",
        "alert_channel",
        lambda w: {"name": "Hostile", "kind": "webhook", "url": "https://hooks.example.com/hostile"},
        (
            *vary("name", "text"),
            *vary("url", "text", 4),
            set_field("url", "https://hooks.example.com/" + "x" * 2000),
            set_field("url", "javascript:alert(1)"),
            set_field("url", "ftp://hooks.example.com/x"),
            set_field("url", "https://user:pass@hooks.example.com/x"),
            set_field("url", "https://hooks.example.com/a\nb"),
            set_field("kind", "teams"),
            set_field("kind", "webhook\x00"),
            set_field("enabled", "yes"),
        ),
        (
            *vary("name", "text", 3),
            *vary("url", "text", 3),
            set_field("kind", "slack"),
            set_field("enabled", 1),
        ),
        lambda w: {"name": "Hostile", "kind": "webhook"},
    ),
    Endpoint("POST", CHANNEL + "rotate-secret/", by_id("alert_channel"), None, BODILESS, CHANNEL),
    Endpoint("POST", CHANNEL + "test/", by_id("alert_channel"), None, BODILESS, CHANNEL),
]
