"""REST API v1, mounted at ``/api/v1/`` by ``planner.urls``: resources, runs, the OpenAPI
schema and interactive docs. Unknown paths answer a JSON 404 in the API's error shape."""

from django.urls import URLPattern, URLResolver, include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny
from rest_framework.routers import DefaultRouter, SimpleRouter

from api.exceptions import not_found
from api.views import (
    actuals,
    alerts,
    decisions,
    ingestion_errors,
    integrations,
    prices,
    products,
    replays,
    simulation,
)

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.include_format_suffixes = False
router.register("products", products.ProductViewSet, basename="product")
router.register("tiers", products.TierViewSet, basename="tier")
router.register("segments", products.SegmentViewSet, basename="segment")
router.register("workloads", products.WorkloadViewSet, basename="workload")
router.register("usage-distributions", products.UsageDistributionViewSet, basename="usage-distribution")
router.register("scenarios", simulation.ScenarioViewSet, basename="scenario")
router.register("runs", simulation.RunViewSet, basename="run")
router.register("optimizations", decisions.OptimizationViewSet, basename="optimization")
router.register("replays", replays.ReplayViewSet, basename="replay")
router.register("alert-rules", alerts.AlertRuleViewSet, basename="alert-rule")
router.register("alert-channels", alerts.AlertChannelViewSet, basename="alert-channel")
router.register("prices", prices.CatalogModelViewSet, basename="catalog-model")
router.register("price-sheets", prices.PriceSheetViewSet, basename="price-sheet")
router.register(
    "self-hosted-deployments", prices.SelfHostedDeploymentViewSet, basename="self-hosted-deployment"
)
router.register("billing-mappings", integrations.BillingMappingViewSet, basename="billing-mapping")

# Usage ingestion, customers, margins and fitted usage distributions: plain regexes, as the router
# writes them (the route-enumerating tenant test reads them), included after the resource router,
# whose ids are digits only, so ``usage-distributions/fitted/`` does not collide with a usage
# distribution's detail route.
actuals_router = SimpleRouter(trailing_slash=True)
actuals_router.register("customers", actuals.CustomerViewSet, basename="customer")
actuals_urlpatterns: list[URLPattern | URLResolver] = [
    re_path(r"^usage-records/$", actuals.UsageRecordListCreateView.as_view(), name="usage-record-list"),
    re_path(r"^margins/$", actuals.MarginListView.as_view(), name="margin-list"),
    re_path(
        r"^ingestion-errors/$", ingestion_errors.IngestionErrorListView.as_view(), name="ingestion-error-list"
    ),
    re_path(r"^margins/tiers/$", actuals.TierMarginView.as_view(), name="margin-tiers"),
    re_path(
        r"^usage-distributions/fitted/$",
        actuals.FittedUsageView.as_view(),
        name="usage-distribution-fitted",
    ),
    re_path(
        r"^usage-distributions/segments-proposed/$",
        actuals.ProposedSegmentsView.as_view(),
        name="usage-distribution-segments-proposed",
    ),
    *actuals_router.urls,
]

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
    path("", include(actuals_urlpatterns)),
    # Any character, newlines too: ``/api/v1/nope%0Ax`` is an unknown path (``.`` stops at one).
    re_path(r"^[\s\S]*$", not_found, name="api-not-found"),
]
