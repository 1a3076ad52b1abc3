"""Web pages for the segments of a scenario's tiers: add one from the editor, rename it or move
its share, remove it, and set its own usage of a workload (or go back to the tier's).

Thin views: a form parses, a ``planner.products.segments`` service validates and writes.
Segments are reached through the scenario's own tiers only, so another plan's segment is a 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from planner.products.models import Segment, UsageDistribution, Workload
from planner.products.segments import segment_create, segment_delete, segment_update
from planner.products.services import usage_distribution_delete, usage_distribution_set
from planner.simulation.models import Scenario
from planner.simulation.plans import scenario_tiers
from planner.web.forms.scenarios import UsageForm
from planner.web.forms.segments import SegmentForm
from planner.web.views.common import form_save
from planner.web.views.scenarios import editor_scenario, form_page, scenario_url


def _segment(scenario_pk: int, segment_pk: int, request: HttpRequest) -> tuple[Scenario, Segment]:
    """The scenario (owner or editor) and one segment of its own plan's tiers (else 404)."""
    scenario, _ = editor_scenario(request, scenario_pk, write=True)
    segment = get_object_or_404(
        Segment.objects.select_related("tier"), pk=segment_pk, tier__scenario=scenario
    )
    return scenario, segment


@login_required
@require_POST
def segment_add(request: HttpRequest, pk: int) -> HttpResponse:
    """Add a segment to one of the scenario's tiers (the editor's "Add a segment" form)."""
    scenario, _ = editor_scenario(request, pk, write=True)
    tiers = {tier.pk: tier for tier in scenario_tiers(scenario)}
    form = SegmentForm(request.POST, tiers=tiers.values())
    saved = form_save(
        request,
        form,
        lambda: segment_create(
            tier=tiers[form.cleaned_data["tier"]],
            name=form.cleaned_data["name"],
            share=form.cleaned_data["share"],
        ),
    )
    if saved is None:
        context = {"scenario": scenario, "form": form, "segment": None}
        return form_page(request, "scenarios/segment_form.html", context)
    messages.success(request, f"Segment “{saved.name}” added to {saved.tier.name}.")
    return redirect(f"{scenario_url(scenario)}#segments")


@login_required
def segment_edit(request: HttpRequest, pk: int, segment_pk: int) -> HttpResponse:
    """Rename a segment or change its share."""
    scenario, segment = _segment(pk, segment_pk, request)
    form = SegmentForm(request.POST or None, instance=segment)
    saved = form_save(request, form, lambda: segment_update(segment=segment, data=form.cleaned_data))
    if saved is not None:
        messages.success(request, f"Segment “{saved.name}” saved.")
        return redirect(f"{scenario_url(scenario)}#segments")
    return form_page(
        request, "scenarios/segment_form.html", {"scenario": scenario, "form": form, "segment": segment}
    )


@login_required
@require_POST
def segment_remove(request: HttpRequest, pk: int, segment_pk: int) -> HttpResponse:
    """Remove a segment with its own usage."""
    scenario, segment = _segment(pk, segment_pk, request)
    segment_delete(segment=segment)
    messages.success(request, f"Segment “{segment.name}” removed from {segment.tier.name}.")
    return redirect(f"{scenario_url(scenario)}#segments")


@login_required
def segment_usage_edit(request: HttpRequest, pk: int, segment_pk: int, workload_pk: int) -> HttpResponse:
    """The segment's own usage of a workload; POST ``use_tier`` removes it, so the segment uses
    the tier's again."""
    scenario, segment = _segment(pk, segment_pk, request)
    workload = get_object_or_404(Workload, pk=workload_pk, product_id=segment.tier.product_id)
    distribution = UsageDistribution.objects.filter(segment=segment, workload=workload).first()
    label = f"{segment.tier.name} · {segment.name} × {workload.name}"
    if request.method == "POST" and "use_tier" in request.POST:
        if distribution is not None:
            usage_distribution_delete(distribution=distribution)
        messages.success(request, f"{label} now uses the tier's usage.")
        return redirect(f"{scenario_url(scenario)}#usage")
    initial = None
    if distribution is None:  # the segment uses the tier's usage: the form starts from it
        tier_usage = UsageDistribution.objects.filter(
            tier=segment.tier, workload=workload, segment__isnull=True
        ).first()
        initial = UsageForm.initial_from(tier_usage) if tier_usage is not None else None
    form = UsageForm(request.POST or None, instance=distribution, initial=initial)
    saved = form_save(
        request,
        form,
        lambda: usage_distribution_set(
            tier=segment.tier, workload=workload, segment=segment, **form.parameters()
        ),
    )
    if saved is not None:
        messages.success(request, f"Usage of {label} saved.")
        return redirect(f"{scenario_url(scenario)}#usage")
    context = {
        "scenario": scenario,
        "tier": segment.tier,
        "segment": segment,
        "workload": workload,
        "form": form,
        "own": distribution is not None,
    }
    return form_page(request, "scenarios/usage_form.html", context)
