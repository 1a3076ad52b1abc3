"""Root URL configuration: web UI, admin, and the REST API under ``/api/v1/``."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path

from planner import views, views_prices

prices_urlpatterns: list[URLPattern | URLResolver] = [
    path("catalog/", views_prices.catalog, name="catalog"),
    path("catalog/models/<int:pk>/", views_prices.catalog_model, name="catalog_model"),
    path("sheets/", views_prices.sheet_list, name="sheet_list"),
    path("sheets/new/", views_prices.sheet_create, name="sheet_create"),
    path("sheets/<int:pk>/", views_prices.sheet_detail, name="sheet_detail"),
    path("sheets/<int:pk>/edit/", views_prices.sheet_edit, name="sheet_edit"),
    path("sheets/<int:pk>/import/", views_prices.sheet_import, name="sheet_import"),
    path("sheets/<int:pk>/export.<str:format>", views_prices.sheet_export, name="sheet_export"),
    path("sheets/<int:pk>/entries/", views_prices.sheet_entry_add, name="sheet_entry_add"),
    path(
        "sheets/<int:pk>/entries/<int:entry_pk>/delete/",
        views_prices.sheet_entry_delete,
        name="sheet_entry_delete",
    ),
    path("self-hosted/", views_prices.self_hosted_list, name="self_hosted_list"),
    path("self-hosted/new/", views_prices.self_hosted_new, name="self_hosted_create"),
    path("self-hosted/<int:pk>/", views_prices.self_hosted_detail, name="self_hosted_detail"),
    path("self-hosted/<int:pk>/edit/", views_prices.self_hosted_edit, name="self_hosted_edit"),
]

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.dashboard, name="dashboard"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("prices/", include((prices_urlpatterns, "prices"))),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
]
