"""The compatibility endpoints, mounted at ``/compat/`` by ``planner.urls``: one prefix per vendor,
each vendor module exporting its ``urlpatterns`` (docs/INTEGRATIONS.md)."""

from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = [
    path("openmeter/", include("api.compat.openmeter")),
    path("lago/", include("api.compat.lago")),
    path("stripe/", include("api.compat.stripe")),
    path("metronome/", include("api.compat.metronome")),
    path("orb/", include("api.compat.orb")),
]
