"""The web UI's URLs: the dashboard, sign-in, and one namespace per page family (``prices:``,
``products:``, ``scenarios:``, ``runs:``, ``decisions:``, ``actuals:``, ``account:``,
``alerts:``, ``integrations:``) whose names the templates and tests reverse. Mounted at the site
root by ``planner.urls``.
"""

from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path, re_path

from planner.actuals.compat.vendors import Vendor
from planner.web.views import (
    account,
    actuals,
    alert_channels,
    alerts,
    dashboard,
    decisions,
    first_product,
    ingestion_errors,
    integrations,
    prices,
    products,
    replays,
    runs,
    scenarios,
    segments,
    workloads,
)

Patterns = list[URLPattern | URLResolver]

prices_urlpatterns: Patterns = [
    path("catalog/", prices.catalog, name="catalog"),
    path("catalog/models/<int:pk>/", prices.catalog_model, name="catalog_model"),
    path("sheets/", prices.sheet_list, name="sheet_list"),
    path("sheets/new/", prices.sheet_create, name="sheet_create"),
    path("sheets/<int:pk>/", prices.sheet_detail, name="sheet_detail"),
    path("sheets/<int:pk>/edit/", prices.sheet_edit, name="sheet_edit"),
    path("sheets/<int:pk>/import/", prices.sheet_import, name="sheet_import"),
    path("sheets/<int:pk>/export.<str:format>", prices.sheet_export, name="sheet_export"),
    path("sheets/<int:pk>/entries/", prices.sheet_entry_add, name="sheet_entry_add"),
    path(
        "sheets/<int:pk>/entries/<int:entry_pk>/delete/",
        prices.sheet_entry_delete,
        name="sheet_entry_delete",
    ),
    path("self-hosted/", prices.self_hosted_list, name="self_hosted_list"),
    path("self-hosted/new/", prices.self_hosted_new, name="self_hosted_create"),
    path("self-hosted/<int:pk>/", prices.self_hosted_detail, name="self_hosted_detail"),
    path("self-hosted/<int:pk>/edit/", prices.self_hosted_edit, name="self_hosted_edit"),
]

products_urlpatterns: Patterns = [
    path("<int:pk>/", products.product_detail, name="detail"),
    path("<int:pk>/scenarios/new/", products.scenario_new, name="scenario_new"),
    path("<int:pk>/tiers/new/", products.tier_edit, name="tier_new"),
    path("<int:pk>/tiers/<int:tier_pk>/", products.tier_edit, name="tier_edit"),
    path("<int:pk>/tiers/<int:tier_pk>/delete/", products.tier_remove, name="tier_delete"),
    path("<int:pk>/usage/<int:tier_pk>/<int:workload_pk>/", products.usage_edit, name="usage_edit"),
]

scenarios_urlpatterns: Patterns = [
    path("products/new/", scenarios.product_new, name="product_new"),
    path("products/new/template/", first_product.product_from_template, name="product_from_template"),
    path("products/new/guided/", first_product.guided_plan, name="guided_plan"),
    path("<int:pk>/guided/workloads/", first_product.guided_workloads, name="guided_workloads"),
    path("<int:pk>/guided/usage/", first_product.guided_usage, name="guided_usage"),
    path("<int:pk>/guided/run/", first_product.guided_run, name="guided_run"),
    path("estimate.json", scenarios.estimate_json, name="estimate"),
    path("usage-preview.json", scenarios.usage_preview_json, name="usage_preview"),
    path("catalog-models.json", scenarios.catalog_models_json, name="catalog_models"),
    path("<int:pk>/", scenarios.scenario_editor, name="editor"),
    path("<int:pk>/duplicate/", scenarios.scenario_duplicate_view, name="duplicate"),
    path("<int:pk>/delete/", scenarios.scenario_delete_view, name="delete"),
    path("<int:pk>/product/delete/", scenarios.product_delete_view, name="product_delete"),
    path("<int:pk>/run/", scenarios.scenario_run, name="run"),
    path("<int:pk>/optimize/", decisions.optimize_start_view, name="optimize"),
    path("<int:pk>/sensitivity/", decisions.sensitivity_start_view, name="sensitivity"),
    path("<int:pk>/tiers/new/", scenarios.tier_edit, name="tier_new"),
    path("<int:pk>/tiers/<int:tier_pk>/", scenarios.tier_edit, name="tier_edit"),
    path("<int:pk>/tiers/<int:tier_pk>/delete/", scenarios.tier_remove, name="tier_delete"),
    path("<int:pk>/workloads/new/", workloads.workload_edit, name="workload_new"),
    path("<int:pk>/workloads/<int:workload_pk>/", workloads.workload_edit, name="workload_edit"),
    path(
        "<int:pk>/workloads/<int:workload_pk>/delete/",
        workloads.workload_remove,
        name="workload_delete",
    ),
    path(
        "<int:pk>/workloads/<int:workload_pk>/override/",
        workloads.workload_override,
        name="workload_override",
    ),
    path("<int:pk>/usage/<int:tier_pk>/<int:workload_pk>/", scenarios.usage_edit, name="usage_edit"),
    path("<int:pk>/segments/", segments.segment_add, name="segment_add"),
    path("<int:pk>/segments/<int:segment_pk>/", segments.segment_edit, name="segment_edit"),
    path("<int:pk>/segments/<int:segment_pk>/delete/", segments.segment_remove, name="segment_delete"),
    path(
        "<int:pk>/segments/<int:segment_pk>/usage/<int:workload_pk>/",
        segments.segment_usage_edit,
        name="segment_usage_edit",
    ),
    path("<int:pk>/correlation/", scenarios.correlation_edit, name="correlation"),
    path("<int:pk>/model-costs/", scenarios.model_cost_add, name="model_cost_add"),
    path("<int:pk>/model-costs/<int:index>/delete/", scenarios.model_cost_remove, name="model_cost_delete"),
    path("<int:pk>/levers/", scenarios.lever_add, name="lever_add"),
    path("<int:pk>/levers/<str:key>/delete/", scenarios.lever_remove, name="lever_delete"),
]

decisions_urlpatterns: Patterns = [
    path("<int:pk>/", decisions.decision_detail, name="detail"),
    path("<int:pk>/progress.json", decisions.decision_progress_json, name="progress"),
    path("<int:pk>/cancel/", decisions.decision_cancel_view, name="cancel"),
    path("<int:pk>/apply/", decisions.decision_apply_view, name="apply"),
]

runs_urlpatterns: Patterns = [
    path("compare/", runs.compare, name="compare"),
    path("<int:pk>/", runs.run_detail, name="detail"),
    path("<int:pk>/progress.json", runs.run_progress_json, name="progress"),
    path("<int:pk>/cancel/", runs.run_cancel_view, name="cancel"),
    path("<int:pk>/results.<str:format>", runs.run_export, name="export"),
]

actuals_urlpatterns: Patterns = [
    path("", actuals.actuals, name="index"),
    path("upload/", actuals.actuals_upload, name="upload"),
    path("fits/use/", actuals.fit_use, name="fit_use"),
    path("segments/use/", actuals.segments_use, name="segments_use"),
    path("customers/", actuals.customer_list, name="customers"),
    path("customers/<int:pk>/", actuals.customer_detail, name="customer"),
    path("trend.json", actuals.actuals_trend, name="trend"),
    path("replays/", replays.replay_new, name="replay_new"),
    path("replays/<int:pk>/", replays.replay_detail, name="replay"),
    path("replays/<int:pk>/progress.json", replays.replay_progress_json, name="replay_progress"),
    path("replays/<int:pk>/cancel/", replays.replay_cancel_view, name="replay_cancel"),
    path("replays/<int:pk>/export.<str:extension>", replays.replay_export, name="replay_export"),
]

account_urlpatterns: Patterns = [
    path("signup/", account.signup, name="signup"),
    path("members/", account.members, name="members"),
    path("members/<int:pk>/", account.member_role, name="member_role"),
    path("api-keys/", account.api_keys, name="api_keys"),
    path("api-keys/<int:pk>/revoke/", account.api_key_revoke_view, name="api_key_revoke"),
]

alerts_urlpatterns: Patterns = [
    path("", alerts.rule_list, name="rule_list"),
    path("new/", alerts.rule_create, name="rule_create"),
    path("<int:pk>/", alerts.rule_history, name="rule_history"),
    path("<int:pk>/edit/", alerts.rule_edit, name="rule_edit"),
    path("<int:pk>/test/", alerts.rule_test, name="rule_test"),
    path("<int:pk>/delete/", alerts.rule_delete, name="rule_delete"),
    path("channels/", alert_channels.channel_list, name="channel_list"),
    path("channels/new/", alert_channels.channel_create, name="channel_create"),
    path("channels/<int:pk>/", alert_channels.channel_detail, name="channel_detail"),
    path("channels/<int:pk>/edit/", alert_channels.channel_edit, name="channel_edit"),
    path("channels/<int:pk>/test/", alert_channels.channel_test, name="channel_test"),
    path(
        "channels/<int:pk>/rotate-secret/", alert_channels.channel_rotate_secret, name="channel_rotate_secret"
    ),
    path("channels/<int:pk>/delete/", alert_channels.channel_delete, name="channel_delete"),
]

integrations_urlpatterns: Patterns = [
    path("", integrations.integrations, name="index"),
    re_path(rf"^(?P<vendor>{'|'.join(Vendor.values)})/$", integrations.mapping_save, name="mapping"),
]

urlpatterns: Patterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("prices/", include((prices_urlpatterns, "prices"))),
    path("products/", include((products_urlpatterns, "products"))),
    path("scenarios/", include((scenarios_urlpatterns, "scenarios"))),
    path("runs/", include((runs_urlpatterns, "runs"))),
    path("decisions/", include((decisions_urlpatterns, "decisions"))),
    path("actuals/", include((actuals_urlpatterns, "actuals"))),
    path("account/", include((account_urlpatterns, "account"))),
    path("alerts/", include((alerts_urlpatterns, "alerts"))),
    path("integrations/errors/", ingestion_errors.ingestion_error_list, name="ingestion_errors"),
    path("integrations/", include((integrations_urlpatterns, "integrations"))),
]
