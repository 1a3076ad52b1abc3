"""Root URL configuration: web UI, admin, and the REST API under ``/api/v1/``."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path

from planner.web.views import account as views_account
from planner.web.views import actuals as views_actuals
from planner.web.views import alerts as views_alerts
from planner.web.views import dashboard as views
from planner.web.views import prices as views_prices
from planner.web.views import runs as views_runs
from planner.web.views import scenarios as views_scenarios

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

scenario_urlpatterns: list[URLPattern | URLResolver] = [
    path("products/new/", views_scenarios.product_new, name="product_new"),
    path("estimate.json", views_scenarios.estimate_json, name="estimate"),
    path("usage-preview.json", views_scenarios.usage_preview_json, name="usage_preview"),
    path("catalog-models.json", views_scenarios.catalog_models_json, name="catalog_models"),
    path("<int:pk>/", views_scenarios.scenario_editor, name="editor"),
    path("<int:pk>/duplicate/", views_scenarios.scenario_duplicate_view, name="duplicate"),
    path("<int:pk>/delete/", views_scenarios.scenario_delete_view, name="delete"),
    path("<int:pk>/product/delete/", views_scenarios.product_delete_view, name="product_delete"),
    path("<int:pk>/run/", views_scenarios.scenario_run, name="run"),
    path("<int:pk>/tiers/new/", views_scenarios.tier_edit, name="tier_new"),
    path("<int:pk>/tiers/<int:tier_pk>/", views_scenarios.tier_edit, name="tier_edit"),
    path("<int:pk>/tiers/<int:tier_pk>/delete/", views_scenarios.tier_remove, name="tier_delete"),
    path("<int:pk>/workloads/new/", views_scenarios.workload_edit, name="workload_new"),
    path("<int:pk>/workloads/<int:workload_pk>/", views_scenarios.workload_edit, name="workload_edit"),
    path(
        "<int:pk>/workloads/<int:workload_pk>/delete/",
        views_scenarios.workload_remove,
        name="workload_delete",
    ),
    path("<int:pk>/usage/<int:tier_pk>/<int:workload_pk>/", views_scenarios.usage_edit, name="usage_edit"),
    path("<int:pk>/correlation/", views_scenarios.correlation_edit, name="correlation"),
    path("<int:pk>/levers/", views_scenarios.lever_add, name="lever_add"),
    path("<int:pk>/levers/<str:key>/delete/", views_scenarios.lever_remove, name="lever_delete"),
]

run_urlpatterns: list[URLPattern | URLResolver] = [
    path("compare/", views_runs.compare, name="compare"),
    path("<int:pk>/", views_runs.run_detail, name="detail"),
    path("<int:pk>/progress.json", views_runs.run_progress_json, name="progress"),
    path("<int:pk>/cancel/", views_runs.run_cancel_view, name="cancel"),
    path("<int:pk>/results.<str:format>", views_runs.run_export, name="export"),
]

actuals_urlpatterns: list[URLPattern | URLResolver] = [
    path("", views_actuals.actuals, name="index"),
    path("upload/", views_actuals.actuals_upload, name="upload"),
    path("fits/use/", views_actuals.fit_use, name="fit_use"),
]

account_urlpatterns: list[URLPattern | URLResolver] = [
    path("signup/", views_account.signup, name="signup"),
    path("members/", views_account.members, name="members"),
    path("members/<int:pk>/", views_account.member_role, name="member_role"),
    path("api-keys/", views_account.api_keys, name="api_keys"),
    path("api-keys/<int:pk>/revoke/", views_account.api_key_revoke_view, name="api_key_revoke"),
]

alerts_urlpatterns: list[URLPattern | URLResolver] = [
    path("", views_alerts.rule_list, name="rule_list"),
    path("new/", views_alerts.rule_create, name="rule_create"),
    path("<int:pk>/", views_alerts.rule_history, name="rule_history"),
    path("<int:pk>/edit/", views_alerts.rule_edit, name="rule_edit"),
    path("<int:pk>/test/", views_alerts.rule_test, name="rule_test"),
    path("<int:pk>/delete/", views_alerts.rule_delete, name="rule_delete"),
]

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.dashboard, name="dashboard"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("prices/", include((prices_urlpatterns, "prices"))),
    path("scenarios/", include((scenario_urlpatterns, "scenarios"))),
    path("runs/", include((run_urlpatterns, "runs"))),
    path("actuals/", include((actuals_urlpatterns, "actuals"))),
    path("account/", include((account_urlpatterns, "account"))),
    path("alerts/", include((alerts_urlpatterns, "alerts"))),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
]
