"""Root URL configuration: the web UI (``planner.web.urls``), the admin, and the REST API under
``/api/v1/`` and the billing vendors' compatibility endpoints under ``/compat/``."""

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("planner.web.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    # Drop-in endpoints for billing vendors' SDKs (docs/INTEGRATIONS.md).
    path("compat/", include("api.compat.urls")),
]
