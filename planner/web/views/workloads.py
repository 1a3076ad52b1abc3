"""Web pages of a product workload from the scenario editor: edit it (shared by every scenario
of the product), delete it (confirming what it changes in the scenarios), and the scenario's
own override of its token profile, calls per request and model mix.

Thin views, as in ``planner.web.views.scenarios``, whose scenario lookup they use.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from planner.prices.models import PriceSheetEntry, SelfHostedDeployment
from planner.products.estimates import mix_source_for_key, mix_source_key
from planner.products.models import Workload
from planner.products.services import (
    ModelShare,
    workload_create,
    workload_delete,
    workload_dependents,
    workload_update,
)
from planner.simulation.models import Scenario, WorkloadOverride
from planner.simulation.overrides import OVERRIDE_FIELDS, workload_override_set
from planner.web.forms.scenarios import (
    MIX_ROWS,
    WorkloadForm,
    WorkloadOverrideForm,
)
from planner.web.views.common import (
    flash_outcome,
    form_errors_add,
)
from planner.web.views.scenarios import editor_scenario, form_page, scenario_url
from pricing.models import AIModel


def _mix_initial(workload: Workload) -> dict[str, Any]:
    initial: dict[str, Any] = {}
    rows = workload.model_mix.select_related("model__provider", "price_sheet_entry", "self_hosted")
    for i, row in enumerate(list(rows)[:MIX_ROWS]):
        source = row.source
        assert source is not None
        initial[f"mix_{i}_model"] = mix_source_key(source)
        initial[f"mix_{i}_share"] = row.share
        initial[f"mix_{i}_variant"] = row.variant
        initial[f"mix_{i}_reasoning"] = row.uses_reasoning
    return initial


def _mix_shares(form: WorkloadForm, scenario: Scenario) -> list[ModelShare]:
    shares = []
    organization = scenario.product.organization
    for i, (key, share, variant, reasoning) in enumerate(form.mix_rows()):
        source = mix_source_for_key(organization=organization, key=key, on=scenario.price_date)
        if source is None:
            form.add_error(
                f"mix_{i}_model",
                f"“{key}” is not a catalog model (provider/model), a private model (private/slug) "
                "or a self-hosted deployment (self-hosted/name).",
            )
            continue
        shares.append(ModelShare(source, share, variant, reasoning))
    return shares


@login_required
def workload_edit(request: HttpRequest, pk: int, workload_pk: int | None = None) -> HttpResponse:
    scenario, _ = editor_scenario(request, pk, write=True)
    workload = get_object_or_404(Workload, pk=workload_pk, product=scenario.product) if workload_pk else None
    form = WorkloadForm(
        request.POST or None, instance=workload, initial=_mix_initial(workload) if workload else None
    )
    if request.method == "POST" and form.is_valid():
        shares = _mix_shares(form, scenario)
        if not form.errors:
            data = {name: form.cleaned_data[name] for name in WorkloadForm.Meta.fields}
            try:
                if workload is None:
                    workload_create(product=scenario.product, models=shares, **data)
                else:
                    workload_update(workload=workload, data=data, models=shares)
            except ValidationError as error:
                if hasattr(error, "error_dict") and "models" in error.error_dict:
                    models_error = error.error_dict.pop("models")
                    form.add_error("mix_0_model", [m for e in models_error for m in e.messages])
                form_errors_add(form, error)
            else:
                messages.success(request, f"Workload “{data['name']}” saved.")
                return redirect(f"{scenario_url(scenario)}#workloads")
    context = {
        "scenario": scenario,
        "workload": workload,
        "form": form,
        "private_models": PriceSheetEntry.objects.filter(
            sheet__organization=scenario.product.organization, kind=PriceSheetEntry.Kind.PRIVATE
        ),
        "deployments": SelfHostedDeployment.objects.filter(organization=scenario.product.organization),
    }
    return form_page(request, "scenarios/workload_form.html", context)


@login_required
@require_POST
def workload_remove(request: HttpRequest, pk: int, workload_pk: int) -> HttpResponse:
    scenario, _ = editor_scenario(request, pk, write=True)
    workload = get_object_or_404(Workload, pk=workload_pk, product=scenario.product)
    dependents = workload_dependents(workload=workload)
    if dependents and request.POST.get("confirm") != "1":
        context = {"scenario": scenario, "workload": workload, "dependents": dependents}
        return render(request, "scenarios/workload_delete.html", context)
    flash_outcome(
        request,
        lambda: workload_delete(workload=workload, confirm=True),
        success=f"Workload “{workload.name}” deleted.",
    )
    return redirect(f"{scenario_url(scenario)}#workloads")


def _override_initial(override: WorkloadOverride | None) -> dict[str, Any]:
    if override is None:
        return {}
    initial: dict[str, Any] = {name: getattr(override, name) for name in OVERRIDE_FIELDS}
    keys = dict(
        (m.pk, mix_source_key(m))
        for m in AIModel.objects.filter(pk__in=[e["model"] for e in override.model_mix or []]).select_related(
            "provider"
        )
    )
    for i, entry in enumerate((override.model_mix or [])[:MIX_ROWS]):
        initial |= {
            f"mix_{i}_model": keys.get(entry["model"], ""),
            f"mix_{i}_share": entry["share"],
            f"mix_{i}_variant": entry["variant"],
            f"mix_{i}_reasoning": entry["uses_reasoning"],
        }
    return initial


def _override_mix(form: WorkloadOverrideForm, scenario: Scenario) -> list[dict[str, Any]] | None:
    """The form's model mix as override entries (catalog models by id); None without models."""
    rows = form.mix_rows()
    if not rows:
        return None
    mix = []
    for i, (key, share, variant, reasoning) in enumerate(rows):
        model = mix_source_for_key(
            organization=scenario.product.organization, key=key, on=scenario.price_date
        )
        if not isinstance(model, AIModel):
            form.add_error(f"mix_{i}_model", f"“{key}” is not a catalog model (provider/model).")
            continue
        mix.append({"model": model.pk, "share": share, "variant": variant, "uses_reasoning": reasoning})
    return mix


@login_required
def workload_override(request: HttpRequest, pk: int, workload_pk: int) -> HttpResponse:
    """This scenario's own token profile, calls per request and model mix of a product workload
    (empty = the product's); POST ``follow=1`` drops the override."""
    scenario, _ = editor_scenario(request, pk, write=True)
    workload = get_object_or_404(Workload, pk=workload_pk, product=scenario.product)
    override = WorkloadOverride.objects.filter(scenario=scenario, workload=workload).first()
    form = WorkloadOverrideForm(request.POST or None, initial=_override_initial(override))
    if request.method == "POST" and request.POST.get("follow") == "1":
        workload_override_set(scenario=scenario, workload=workload, data={})
        messages.success(request, f"{workload.name} follows the product again in this scenario.")
        return redirect(f"{scenario_url(scenario)}#workloads")
    if request.method == "POST" and form.is_valid():
        mix = _override_mix(form, scenario)
        if not form.errors:
            data = {name: form.cleaned_data[name] for name in OVERRIDE_FIELDS} | {"model_mix": mix}
            try:
                saved = workload_override_set(scenario=scenario, workload=workload, data=data)
            except ValidationError as error:
                if hasattr(error, "error_dict") and "model_mix" in error.error_dict:
                    form.add_error(
                        "mix_0_model", [m for e in error.error_dict.pop("model_mix") for m in e.messages]
                    )
                form_errors_add(form, error)
            else:
                what = (
                    "overridden in this scenario" if saved else "following the product (nothing overridden)"
                )
                messages.success(request, f"{workload.name}: {what}.")
                return redirect(f"{scenario_url(scenario)}#workloads")
    context = {"scenario": scenario, "workload": workload, "override": override, "form": form}
    return form_page(request, "scenarios/workload_override.html", context)
