"""The REST API (DRF layer only: serializers, views, permissions, auth, urls). No models."""
