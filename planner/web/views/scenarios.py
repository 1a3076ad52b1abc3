"""Web pages of the scenario editor: the product's tiers, workloads (model mix with a live
$/request estimate), usage distributions (with a preview of their shape), correlation, levers,
the scenario's horizon and trends; duplicate; and the small JSON endpoints the editor calls.

Thin views: a form parses, one planner service validates and writes, its field errors go back
next to the field. Reads are scoped to the user's organisations; writes need owner or editor.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms as forms_module
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from planner.accounts.models import Membership
from planner.accounts.selectors import organizations_for_user
from planner.core.formatting import percent_to_fraction
from planner.core.validators import LEVER_FRACTION_FIELDS, LEVER_PLAN_FIELDS
from planner.products.correlations import correlations_set
from planner.products.estimates import cost_per_request_estimate, mix_source_for_key, mix_source_key
from planner.products.models import (
    Segment,
    Tier,
    UsageDistribution,
    Workload,
    WorkloadCorrelation,
    WorkloadModel,
    segment_shares_problem,
)
from planner.products.services import (
    product_create,
    product_delete,
    tier_create,
    tier_delete,
    tier_update,
    usage_distribution_set,
)
from planner.simulation.adapter import SimulationInputError
from planner.simulation.levers import scenario_lever_add, scenario_lever_remove
from planner.simulation.model_costs import scenario_model_cost_add, scenario_model_cost_remove
from planner.simulation.models import Scenario
from planner.simulation.plans import scenario_tiers
from planner.simulation.preview import usage_preview
from planner.simulation.runs import run_start
from planner.simulation.scenarios import scenario_create, scenario_delete, scenario_duplicate, scenario_update
from planner.simulation.selectors import DeletionSummary, product_deletion_summary, scenario_deletion_summary
from planner.simulation.summaries import plan_words
from planner.simulation.templates_catalog import product_templates
from planner.web.forms.lever_errors import lever_errors_add
from planner.web.forms.scenarios import (
    CorrelationForm,
    LeverForm,
    ModelCostForm,
    ProductScenarioForm,
    ScenarioForm,
    TierForm,
    UsageForm,
)
from planner.web.forms.segments import SegmentForm
from planner.web.views.common import (
    current_membership,
    form_errors_add,
    form_save,
    membership_in,
    require_writer,
)
from pricing.models import AIModel
from pricing.selectors import catalog_search

CATALOG_SUGGESTIONS = 25


def editor_scenario(request: HttpRequest, pk: int, *, write: bool = False) -> tuple[Scenario, Membership]:
    """The scenario ``pk`` of one of the user's organisations (else 404) and the user's
    membership there; ``write`` requires owner or editor."""
    scenario = get_object_or_404(
        Scenario.objects.select_related("product__organization").filter(
            organization__in=organizations_for_user(user=request.user)
        ),
        pk=pk,
    )
    membership = membership_in(request, scenario.organization_id)
    if write:
        require_writer(membership)
    return scenario, membership


def _editor_context(scenario: Scenario, membership: Membership) -> dict[str, Any]:
    product = scenario.product
    currency = product.organization.currency
    mix = WorkloadModel.objects.select_related("model__provider", "price_sheet_entry", "self_hosted")
    workloads = list(
        product.workloads.order_by("position", "id").prefetch_related(Prefetch("model_mix", queryset=mix))
    )
    tiers = list(scenario_tiers(scenario).select_related("live_tier"))
    usage: dict[tuple[int, int], UsageDistribution] = {}
    segment_usage: dict[tuple[int, int], UsageDistribution] = {}
    for d in UsageDistribution.objects.filter(tier__scenario=scenario):
        if d.segment_id is None:
            usage[(d.tier_id, d.workload_id)] = d
        else:
            segment_usage[(d.segment_id, d.workload_id)] = d
    segments: dict[int, list[Segment]] = {tier.pk: [] for tier in tiers}
    for segment in Segment.objects.filter(tier__scenario=scenario).order_by("position", "id"):
        segments[segment.tier_id].append(segment)
    rhos = {
        (c.workload_a_id, c.workload_b_id): c.rho for c in WorkloadCorrelation.objects.filter(product=product)
    }
    ordered_pairs = [
        (a, b) if a.pk < b.pk else (b, a) for i, a in enumerate(workloads) for b in workloads[i + 1 :]
    ]
    pairs = [(a, b, rhos.get((a.pk, b.pk))) for a, b in ordered_pairs]
    names = {w.pk: w.name for w in workloads}
    tier_names = {t.pk: t.name for t in tiers}
    model_ids = [lever.get("routing_model") for lever in scenario.levers if lever.get("routing_model")]
    models = {m.pk: m for m in AIModel.objects.select_related("provider").filter(pk__in=model_ids)}
    levers = [
        {
            **lever,
            "workload_names": [names.get(w, f"#{w}") for w in lever.get("workloads", [])]
            or ["all workloads"],
            "tier_names": [tier_names.get(t, f"#{t}") for t in lever.get("tiers", [])] or ["every tier"],
            "changes_costs": any(lever.get(name) is not None for name in LEVER_FRACTION_FIELDS),
            "plan_words": plan_words(
                {name: lever[name] for name in LEVER_PLAN_FIELDS if lever.get(name) is not None}, currency
            ),
            "routing_key": mix_source_key(models[lever["routing_model"]])
            if lever.get("routing_model") in models
            else None,
        }
        for lever in scenario.levers
    ]
    return {
        "scenario": scenario,
        "product": product,
        "organization": product.organization,
        "can_edit": membership.role in ("owner", "editor"),
        "tiers": tiers,
        "workloads": workloads,
        "usage_rows": [
            (
                t,
                [(w, usage.get((t.pk, w.pk))) for w in workloads],
                _segment_cells(segments[t.pk], workloads, segment_usage),
            )
            for t in tiers
        ],
        "segments": [
            (t, segments[t.pk], segment_shares_problem([x.share for x in segments[t.pk]])) for t in tiers
        ],
        "segment_form": SegmentForm(tiers=tiers),
        "levers": levers,
        "overridden": set(scenario.workload_overrides.values_list("workload_id", flat=True)),
        "scenario_form": ScenarioForm(instance=scenario, currency=currency),
        "lever_form": LeverForm(workloads=product.workloads.all(), tiers=tiers, currency=currency),
        "model_cost_form": ModelCostForm(currency=currency),
        "correlation_form": CorrelationForm(
            initial={"default_correlation": product.default_correlation}, pairs=pairs
        ),
        "siblings": product.scenarios.exclude(pk=scenario.pk).order_by("name"),
        "latest_run": scenario.runs.simulations()
        .defer("snapshot", "results")
        .order_by("-created_at", "-id")
        .first(),
    }


def _segment_cells(
    segments: list[Segment], workloads: list[Workload], usage: dict[tuple[int, int], UsageDistribution]
) -> list[tuple[Segment, list[tuple[Workload, UsageDistribution | None]]]]:
    """Each segment's cells of the usage grid: its own distribution per workload, or None (it
    uses the tier's)."""
    return [(segment, [(w, usage.get((segment.pk, w.pk))) for w in workloads]) for segment in segments]


def _editor_refused(
    request: HttpRequest, scenario: Scenario, membership: Membership, **forms: forms_module.Form
) -> HttpResponse:
    """The editor again (400) with the refused ``forms`` in place of the blank ones, their
    errors next to their fields."""
    return render(request, "scenarios/editor.html", _editor_context(scenario, membership) | forms, status=400)


@login_required
def scenario_editor(request: HttpRequest, pk: int) -> HttpResponse:
    """The editor: scenario settings (POST saves them) and every input of its product."""
    scenario, membership = editor_scenario(request, pk, write=request.method == "POST")
    context = _editor_context(scenario, membership)
    if request.method == "POST":
        form = ScenarioForm(request.POST, instance=scenario, currency=scenario.product.organization.currency)
        saved = form_save(request, form, lambda: scenario_update(scenario=scenario, data=form.cleaned_data))
        if saved is not None:
            messages.success(request, "Scenario saved.")
            return redirect("scenarios:editor", pk=scenario.pk)
        context["scenario_form"] = form
        return render(request, "scenarios/editor.html", context, status=400)
    return render(request, "scenarios/editor.html", context)


@login_required
def product_new(request: HttpRequest) -> HttpResponse:
    """A new product: from a template (``first_product.product_from_template``), guided
    (``first_product.guided_plan``), or blank with its first (empty) scenario, then the editor."""
    membership = current_membership(request)
    require_writer(membership)
    form = ProductScenarioForm(request.POST or None)

    def create() -> Scenario:
        product = product_create(organization=membership.organization, name=form.cleaned_data["product"])
        return scenario_create(product=product, name=form.cleaned_data["scenario"])

    scenario = form_save(request, form, create)
    if scenario is not None:
        messages.success(request, "Product created. Add its tiers and workloads below.")
        return redirect("scenarios:editor", pk=scenario.pk)
    context = {"form": form, "templates": product_templates()}
    return render(request, "scenarios/product_new.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def scenario_duplicate_view(request: HttpRequest, pk: int) -> HttpResponse:
    scenario, _ = editor_scenario(request, pk, write=True)
    copy = scenario_duplicate(scenario=scenario)
    messages.success(request, f"Duplicated as “{copy.name}”. Change what you want to try.")
    return redirect("scenarios:editor", pk=copy.pk)


@login_required
@require_POST
def scenario_run(request: HttpRequest, pk: int) -> HttpResponse:
    scenario, _ = editor_scenario(request, pk, write=True)
    try:
        run = run_start(scenario=scenario)
    except SimulationInputError as error:
        messages.error(request, str(error))
        return redirect("scenarios:editor", pk=scenario.pk)
    return redirect("runs:detail", pk=run.pk)


def _delete_page(
    request: HttpRequest, scenario: Scenario, *, subject: str, summary: DeletionSummary, status: int = 200
) -> HttpResponse:
    """What deleting ``subject`` takes with it, and the button that POSTs back to this page."""
    context = {"scenario": scenario, "subject": subject, "summary": summary, "action": request.path}
    return render(request, "scenarios/delete.html", context, status=status)


@login_required
def scenario_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: what deleting the scenario takes with it; POST: delete it."""
    scenario, _ = editor_scenario(request, pk, write=True)
    if request.method == "POST":
        scenario_delete(scenario=scenario)
        messages.success(request, f"Scenario “{scenario.name}” and its runs deleted.")
        return redirect("dashboard")
    summary = scenario_deletion_summary(scenario=scenario)
    return _delete_page(request, scenario, subject=f"scenario “{scenario.name}”", summary=summary)


@login_required
def product_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: what deleting the scenario's product takes with it; POST: delete it (refused while
    customers' tier history points at its tiers)."""
    scenario, _ = editor_scenario(request, pk, write=True)
    product = scenario.product
    summary = product_deletion_summary(product=product)
    if request.method == "POST" and not summary.blocked_by_customers:
        product_delete(product=product)
        messages.success(request, f"Product “{product.name}” deleted with its scenarios and runs.")
        return redirect("dashboard")
    status = 409 if request.method == "POST" else 200
    return _delete_page(
        request, scenario, subject=f"product “{product.name}”", summary=summary, status=status
    )


# --- Tiers -----------------------------------------------------------------------------------


@login_required
def tier_edit(request: HttpRequest, pk: int, tier_pk: int | None = None) -> HttpResponse:
    scenario, _ = editor_scenario(request, pk, write=True)
    tier = get_object_or_404(Tier, pk=tier_pk, scenario=scenario) if tier_pk else None
    form = TierForm(request.POST or None, instance=tier, currency=scenario.product.organization.currency)

    def save() -> Tier:
        if tier is None:
            return tier_create(product=scenario.product, scenario=scenario, **form.cleaned_data)
        return tier_update(tier=tier, data=form.cleaned_data)

    saved = form_save(request, form, save)
    if saved is not None:
        messages.success(request, f"Tier “{form.cleaned_data['name']}” saved.")
        return redirect(f"{scenario_url(scenario)}#tiers")
    return form_page(request, "scenarios/tier_form.html", {"scenario": scenario, "tier": tier, "form": form})


@login_required
@require_POST
def tier_remove(request: HttpRequest, pk: int, tier_pk: int) -> HttpResponse:
    scenario, _ = editor_scenario(request, pk, write=True)
    tier = get_object_or_404(Tier, pk=tier_pk, scenario=scenario)
    try:
        tier_delete(tier=tier)
    except Exception as error:  # ProtectedError: customers' tier periods point at it
        messages.error(request, f"The tier cannot be deleted: {error.args[0] if error.args else error}")
    else:
        messages.success(request, f"Tier “{tier.name}” deleted.")
    return redirect(f"{scenario_url(scenario)}#tiers")


def scenario_url(scenario: Scenario) -> str:
    return reverse("scenarios:editor", kwargs={"pk": scenario.pk})


def form_page(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    """A form page of the editor; 400 when it shows a POST that was not saved."""
    return render(request, template, context, status=400 if request.method == "POST" else 200)


# --- Usage, correlation, levers ----------------------------------------------------------------


@login_required
def usage_edit(request: HttpRequest, pk: int, tier_pk: int, workload_pk: int) -> HttpResponse:
    scenario, _ = editor_scenario(request, pk, write=True)
    tier = get_object_or_404(Tier, pk=tier_pk, scenario=scenario)
    workload = get_object_or_404(Workload, pk=workload_pk, product=scenario.product)
    distribution = UsageDistribution.objects.filter(
        tier=tier, workload=workload, segment__isnull=True
    ).first()
    form = UsageForm(request.POST or None, instance=distribution)
    saved = form_save(
        request, form, lambda: usage_distribution_set(tier=tier, workload=workload, **form.parameters())
    )
    if saved is not None:
        messages.success(request, f"Usage of {tier.name} × {workload.name} saved.")
        return redirect(f"{scenario_url(scenario)}#usage")
    context = {"scenario": scenario, "tier": tier, "workload": workload, "form": form}
    return form_page(request, "scenarios/usage_form.html", context)


@login_required
@require_POST
def correlation_edit(request: HttpRequest, pk: int) -> HttpResponse:
    scenario, membership = editor_scenario(request, pk, write=True)
    context = _editor_context(scenario, membership)
    form = CorrelationForm(request.POST, pairs=context["correlation_form"].pairs)
    if form.is_valid():
        try:
            correlations_set(
                product=scenario.product,
                default_correlation=form.cleaned_data["default_correlation"],
                pairs={(a, b): form.cleaned_data.get(f"rho_{a.pk}_{b.pk}") for a, b, _ in form.pairs},
            )
        except ValidationError as error:
            form_errors_add(form, error)
        else:
            messages.success(request, "Correlations saved.")
            return redirect(f"{scenario_url(scenario)}#correlation")
    context["correlation_form"] = form
    return render(request, "scenarios/editor.html", context, status=400)


@login_required
@require_POST
def lever_add(request: HttpRequest, pk: int) -> HttpResponse:
    scenario, membership = editor_scenario(request, pk, write=True)
    form = LeverForm(
        request.POST,
        workloads=scenario.product.workloads.all(),
        tiers=scenario_tiers(scenario),
        currency=scenario.product.organization.currency,
    )
    if form.is_valid():
        data = form.cleaned_data
        routing_model = None
        if data["routing_model"]:
            model = mix_source_for_key(
                organization=scenario.product.organization, key=data["routing_model"], on=scenario.price_date
            )
            if not isinstance(model, AIModel):
                form.add_error("routing_model", "Routing needs a catalog model, written provider/model.")
            else:
                routing_model = model.pk
                if data.get("routing_share") is None:
                    form.add_error("routing_share", "Say which share of requests goes to the routed model.")
        if not form.errors:
            before = {str(old.get("key")): str(old.get("label")) for old in scenario.levers}
            try:
                lever = scenario_lever_add(
                    scenario=scenario,
                    label=data["label"],
                    workloads=[w.pk for w in data["workloads"]],
                    tiers=data["tiers"],
                    routing_model=routing_model,
                    changes={name: data.get(name) for name in (*LeverForm.FRACTIONS, *LeverForm.PLAN)},
                )
            except ValidationError as error:
                lever_errors_add(form, error, labels=before)
            else:
                messages.success(request, f"Lever “{lever['label']}” added.")
                return redirect(f"{scenario_url(scenario)}#levers")
    return _editor_refused(request, scenario, membership, lever_form=form)


@login_required
@require_POST
def model_cost_add(request: HttpRequest, pk: int) -> HttpResponse:
    """Add a model cost (training, fine-tuning, a retrain) to the scenario."""
    scenario, membership = editor_scenario(request, pk, write=True)
    form = ModelCostForm(request.POST, currency=scenario.product.organization.currency)
    saved = form_save(request, form, lambda: scenario_model_cost_add(scenario=scenario, **form.cleaned_data))
    if saved is not None:
        messages.success(request, f"Model cost “{saved['label']}” added.")
        return redirect(f"{scenario_url(scenario)}#lifetime")
    return _editor_refused(request, scenario, membership, model_cost_form=form)


@login_required
@require_POST
def model_cost_remove(request: HttpRequest, pk: int, index: int) -> HttpResponse:
    scenario, _ = editor_scenario(request, pk, write=True)
    scenario_model_cost_remove(scenario=scenario, index=index)
    messages.success(request, "Model cost removed.")
    return redirect(f"{scenario_url(scenario)}#lifetime")


@login_required
@require_POST
def lever_remove(request: HttpRequest, pk: int, key: str) -> HttpResponse:
    scenario, _ = editor_scenario(request, pk, write=True)
    scenario_lever_remove(scenario=scenario, key=key)
    messages.success(request, "Lever removed.")
    return redirect(f"{scenario_url(scenario)}#levers")


# --- JSON endpoints for the editor ---------------------------------------------------------------


def _float(request: HttpRequest, name: str, default: float = 0.0) -> float:
    raw = request.GET.get(name, "")
    if raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValidationError({name: "Enter a number."}) from exc


def _percent(raw: str) -> float:
    """A share typed in percent on the workload form (``"50"``), as the fraction (``0.5``)."""
    try:
        return float(percent_to_fraction(Decimal(raw.strip() or "0")) or 0)
    except ArithmeticError as exc:  # decimal.InvalidOperation
        raise ValidationError("Enter shares as numbers (percent).") from exc


@login_required
@require_GET
def estimate_json(request: HttpRequest) -> JsonResponse:
    """Expected $/request of a workload at its token medians: ``model``/``share``/``variant``/
    ``reasoning`` repeated per mix row, token medians as numbers; the shares and cache rates in
    percent, as the workload form shows them (``share=50`` is half the requests)."""
    organization = current_membership(request).organization
    try:
        price_date = dt.date.fromisoformat(request.GET.get("price_date") or dt.date.today().isoformat())
        keys = request.GET.getlist("model")
        shares = request.GET.getlist("share")
        variants = request.GET.getlist("variant")
        reasoning = request.GET.getlist("reasoning")
        mix = [
            (
                key,
                _percent(share),
                variants[i] if i < len(variants) else "",
                (reasoning[i] if i < len(reasoning) else "") in ("1", "true", "on"),
            )
            for i, (key, share) in enumerate(zip(keys, shares, strict=False))
            if key.strip()
        ]
        estimate = cost_per_request_estimate(
            organization=organization,
            price_date=price_date,
            mix=mix,
            input_tokens=_float(request, "input_tokens_median"),
            output_tokens=_float(request, "output_tokens_median"),
            reasoning_tokens=_float(request, "reasoning_tokens_median"),
            calls_per_request=_float(request, "calls_per_request_median", 1.0),
            prompt_cache_share=_percent(request.GET.get("prompt_cache_share", "")),
            prompt_cache_write_share=_percent(request.GET.get("prompt_cache_write_share", "")),
            response_cache_hit_rate=_percent(request.GET.get("response_cache_hit_rate", "")),
            distillation=_percent(request.GET.get("distillation", "")),
        )
    except (ValidationError, ValueError) as error:
        messages_ = error.messages if isinstance(error, ValidationError) else [str(error)]
        return JsonResponse({"errors": messages_}, status=400)
    return JsonResponse(
        {
            "currency": organization.currency,
            "cost_per_request": estimate.cost_per_request,
            "calls_per_request": estimate.calls_per_request,
            "models": [
                {"key": m.key, "share": m.share, "cost_per_request": m.cost_per_request, "error": m.error}
                for m in estimate.models
            ],
        }
    )


@login_required
@require_GET
def usage_preview_json(request: HttpRequest) -> JsonResponse:
    """p50/p90/p99, mean and a density sketch of the usage distribution in the query string."""
    distribution = UsageDistribution(kind=request.GET.get("kind", "lognormal"))
    try:
        for name in ("median", "p90", "mean", "shape", "scale", "alpha", "upper", "overdispersion"):
            raw = request.GET.get(name, "").strip()
            setattr(distribution, name, float(raw) if raw else None)
        raw_values = request.GET.get("values", "").replace(",", " ").split()
        distribution.values = [float(v) for v in raw_values]
        distribution.full_clean(
            exclude=["tier", "workload"], validate_unique=False, validate_constraints=False
        )
    except ValueError:
        return JsonResponse({"errors": {"__all__": ["Enter numbers only."]}}, status=400)
    except ValidationError as error:
        return JsonResponse({"errors": error.message_dict}, status=400)

    return JsonResponse(usage_preview(distribution=distribution))


@login_required
@require_GET
def catalog_models_json(request: HttpRequest) -> JsonResponse:
    """Catalog models matching ``q`` as ``provider/model`` keys with current prices per Mtok."""
    query = request.GET.get("q", "").replace("/", " ")
    models: list[Any] = list(catalog_search(query=query, limit=CATALOG_SUGGESTIONS))  # annotated prices
    return JsonResponse(
        {
            "models": [
                {
                    "key": f"{m.provider.slug}/{m.slug}",
                    "name": m.name or m.slug,
                    "input_mtok": None if m.current_input_mtok is None else float(m.current_input_mtok),
                    "output_mtok": None if m.current_output_mtok is None else float(m.current_output_mtok),
                }
                for m in models
            ]
        }
    )
