"""REST API v1, mounted at ``/api/v1/`` by ``planner.urls``: resources, runs, the OpenAPI
schema and interactive docs. Unknown paths answer a JSON 404 in the API's error shape."""

from django.urls import URLPattern, URLResolver, include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny
from rest_framework.routers import DefaultRouter

from api import views, views_alerts, views_prices
from api.exceptions import not_found

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.include_format_suffixes = False
router.register("products", views.ProductViewSet, basename="product")
router.register("tiers", views.TierViewSet, basename="tier")
router.register("workloads", views.WorkloadViewSet, basename="workload")
router.register("usage-distributions", views.UsageDistributionViewSet, basename="usage-distribution")
router.register("scenarios", views.ScenarioViewSet, basename="scenario")
router.register("runs", views.RunViewSet, basename="run")
router.register("alert-rules", views_alerts.AlertRuleViewSet, basename="alert-rule")
router.register("prices", views_prices.CatalogModelViewSet, basename="catalog-model")
router.register("price-sheets", views_prices.PriceSheetViewSet, basename="price-sheet")
router.register(
    "self-hosted-deployments", views_prices.SelfHostedDeploymentViewSet, basename="self-hosted-deployment"
)

urlpatterns: list[URLPattern | URLResolver] = [
    # The schema and its docs are public: they describe the API, not any organisation's data.
    path("schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny]), name="api-schema"),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="api-schema", permission_classes=[AllowAny]),
        name="api-docs",
    ),
    path("", include(router.urls)),
    # Usage ingestion, customers and margins.
    path("", include("api.urls_usage")),
    re_path(r"^.*$", not_found, name="api-not-found"),
]
