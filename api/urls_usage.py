"""Routes for usage ingestion, customers, margins and fitted usage distributions (included by
``api.urls`` after the resource router, whose ids are digits only, so ``usage-distributions/fitted/``
does not collide with a usage distribution's detail route)."""

from django.urls import URLPattern, URLResolver, re_path
from rest_framework.routers import SimpleRouter

from api import views_usage

# Plain regexes, as the router writes them (the route-enumerating tenant test reads them).
router = SimpleRouter(trailing_slash=True)
router.register("customers", views_usage.CustomerViewSet, basename="customer")

urlpatterns: list[URLPattern | URLResolver] = [
    re_path(r"^usage-records/$", views_usage.UsageRecordListCreateView.as_view(), name="usage-record-list"),
    re_path(r"^margins/$", views_usage.MarginListView.as_view(), name="margin-list"),
    re_path(r"^margins/tiers/$", views_usage.TierMarginView.as_view(), name="margin-tiers"),
    re_path(
        r"^usage-distributions/fitted/$",
        views_usage.FittedUsageView.as_view(),
        name="usage-distribution-fitted",
    ),
    *router.urls,
]
