"""Workloads (token profiles, calls per request, caches) and their model mix."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from planner.core.models import (
    MAX_CALLS_PER_REQUEST,
    MAX_CREDITS,
    MAX_TOKENS_PER_CALL,
    PlannerModel,
    between_constraint,
    both_or_neither_constraint,
    finite_number,
    float_field,
    fraction_field,
    p90_check,
    p90_constraint,
    raise_errors,
    tokens_field,
    unique_constraint,
)
from planner.prices.models import PriceSheetEntry, SelfHostedDeployment
from planner.products.models.products import Product, ProductPart
from pricing.models import AIModel


class Workload(ProductPart):
    """A feature of the product that spends tokens (chat, document Q&A, an agent task...).

    Token distributions are per model call, each given as median and p90 (a lognormal); a
    request makes ``calls_per_request`` calls (null = exactly one). Fractions: prompt-cache
    read and write shares of input tokens, response-cache hit rate (cached answers use quota
    but cost nothing), batch share of requests, distillation (share of input tokens removed).
    """

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="workloads")
    name = models.CharField(max_length=100)
    position = models.PositiveSmallIntegerField(default=0)
    credits_per_request = float_field(
        "Quota credits one request consumes (cached or not).", low=0.0, high=MAX_CREDITS, default=1.0
    )
    input_tokens_median = tokens_field("Input tokens per call, median.")
    input_tokens_p90 = tokens_field("Input tokens per call, 90th percentile.")
    output_tokens_median = tokens_field("Output tokens per call, median.")
    output_tokens_p90 = tokens_field("Output tokens per call, 90th percentile.")
    reasoning_tokens_median = tokens_field("Reasoning tokens per call, median (reasoning models).", null=True)
    reasoning_tokens_p90 = tokens_field("Reasoning tokens per call, 90th percentile.", null=True)
    calls_per_request_median = float_field(
        "Model calls per request (agent loops), median; empty = one call.",
        low=1.0,
        high=MAX_CALLS_PER_REQUEST,
        null=True,
    )
    calls_per_request_p90 = float_field(
        "Model calls per request, 90th percentile.", low=1.0, high=MAX_CALLS_PER_REQUEST, null=True
    )
    prompt_cache_share = fraction_field("Share of input tokens read from the prompt cache.")
    prompt_cache_write_share = fraction_field("Share of input tokens written to the prompt cache.")
    response_cache_hit_rate = fraction_field("Share of requests answered from a response cache.")
    batch_share = fraction_field("Share of requests sent through the batch API.")
    distillation = fraction_field("Share of input tokens removed by prompt distillation.")

    class Meta(ProductPart.Meta):
        constraints = [
            *ProductPart.Meta.constraints,
            between_constraint("workload", "credits_per_request", 0.0, MAX_CREDITS),
            *(
                between_constraint("workload", f"{prefix}_{stat}", 0.0, MAX_TOKENS_PER_CALL)
                for prefix in ("input_tokens", "output_tokens", "reasoning_tokens")
                for stat in ("median", "p90")
            ),
            between_constraint("workload", "calls_per_request_median", 1.0, MAX_CALLS_PER_REQUEST),
            between_constraint("workload", "calls_per_request_p90", 1.0, MAX_CALLS_PER_REQUEST),
            p90_constraint("workload", "input_tokens"),
            p90_constraint("workload", "output_tokens"),
            p90_constraint("workload", "reasoning_tokens"),
            p90_constraint("workload", "calls_per_request"),
            both_or_neither_constraint("workload", "reasoning_tokens_median", "reasoning_tokens_p90"),
            both_or_neither_constraint("workload", "calls_per_request_median", "calls_per_request_p90"),
            *(
                between_constraint("workload", name, 0.0, 1.0)
                for name in (
                    "prompt_cache_share",
                    "prompt_cache_write_share",
                    "response_cache_hit_rate",
                    "batch_share",
                    "distillation",
                )
            ),
            models.CheckConstraint(
                condition=Q(prompt_cache_share__lte=1.0 - F("prompt_cache_write_share")),
                name="planner_workload_prompt_cache_total_lte_1",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product} / {self.name}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        p90_check(errors, self, "input_tokens", "input tokens")
        p90_check(errors, self, "output_tokens", "output tokens")
        p90_check(errors, self, "reasoning_tokens", "reasoning tokens")
        p90_check(errors, self, "calls_per_request", "calls per request")
        for prefix in ("reasoning_tokens", "calls_per_request"):
            median, p90 = getattr(self, f"{prefix}_median"), getattr(self, f"{prefix}_p90")
            if (median is None) != (p90 is None):
                field = f"{prefix}_p90" if p90 is None else f"{prefix}_median"
                errors[field] = "Give both the median and the p90, or neither."
        read, write = finite_number(self.prompt_cache_share), finite_number(self.prompt_cache_write_share)
        if read is not None and write is not None and read + write > 1:
            errors["prompt_cache_write_share"] = (
                "Prompt-cache read and write shares together cannot exceed 1 of the input tokens."
            )
        raise_errors(errors)


class WorkloadModel(PlannerModel):
    """One model in a workload's model mix: ``share`` of the workload's requests go to it.

    The shares of a workload sum to 1 (checked for the workload as a whole by
    ``planner.products.services`` and the admin formset). ``variant`` names a price variant of
    the model (for example a service tier; "" = the standard price). ``uses_reasoning`` says
    whether the workload's reasoning-token distribution applies to this model.

    Exactly one price source is set: a catalog ``model`` (the organisation's negotiated discounts
    in force on the price date apply to it automatically), a ``price_sheet_entry`` naming a
    private model, or a ``self_hosted`` deployment. Only catalog models have price variants.
    """

    workload = models.ForeignKey(Workload, on_delete=models.CASCADE, related_name="model_mix")
    model = models.ForeignKey(AIModel, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    price_sheet_entry = models.ForeignKey(
        "planner.PriceSheetEntry",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="A private model of one of the organisation's price sheets.",
    )
    self_hosted = models.ForeignKey(
        "planner.SelfHostedDeployment", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    share = float_field(low=0.0, high=1.0)
    variant = models.CharField(max_length=100, blank=True, default="")
    uses_reasoning = models.BooleanField(default=False)

    class Meta:
        ordering = ["workload", "-share", "id"]
        constraints = [
            unique_constraint("workloadmodel", ["workload", "model", "variant"]),
            unique_constraint(
                "workloadmodel",
                ["workload", "price_sheet_entry"],
                "private",
                condition=Q(price_sheet_entry__isnull=False),
            ),
            unique_constraint(
                "workloadmodel",
                ["workload", "self_hosted"],
                "self_hosted",
                condition=Q(self_hosted__isnull=False),
            ),
            between_constraint("workloadmodel", "share", 0.0, 1.0, low_exclusive=True),
            models.CheckConstraint(
                condition=Q(model__isnull=False, price_sheet_entry__isnull=True, self_hosted__isnull=True)
                | Q(model__isnull=True, price_sheet_entry__isnull=False, self_hosted__isnull=True, variant="")
                | Q(
                    model__isnull=True, price_sheet_entry__isnull=True, self_hosted__isnull=False, variant=""
                ),
                name="planner_workloadmodel_exactly_one_source",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.workload}: {self.source} ({self.share:.0%})"

    @property
    def source(self) -> AIModel | PriceSheetEntry | SelfHostedDeployment | None:
        """The price source: the catalog model, the private model's sheet entry or the deployment."""
        return self.model or self.price_sheet_entry or self.self_hosted

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.share is not None and self.share == 0:
            errors["share"] = "A model in the mix needs a share above 0; remove it instead."
        sources = [
            name
            for name in ("model", "price_sheet_entry", "self_hosted")
            if getattr(self, f"{name}_id") is not None
        ]
        if len(sources) != 1:
            errors["model"] = (
                "Choose exactly one of a catalog model, a private model or a self-hosted deployment."
            )
        elif sources != ["model"] and self.variant:
            errors["variant"] = "Only catalog models have price variants."
        organization_id = self._workload_organization_id()
        entry = self.price_sheet_entry if self.price_sheet_entry_id else None
        if entry is not None:
            if entry.kind != PriceSheetEntry.Kind.PRIVATE:
                errors["price_sheet_entry"] = (
                    "Choose a private model; discounts apply to catalog models by themselves."
                )
            elif organization_id is not None and entry.sheet.organization_id != organization_id:
                errors["price_sheet_entry"] = "This private model belongs to another organisation."
        deployment = self.self_hosted if self.self_hosted_id else None
        if (
            deployment is not None
            and organization_id is not None
            and deployment.organization_id != organization_id
        ):
            errors["self_hosted"] = "This deployment belongs to another organisation."
        raise_errors(errors)

    def _workload_organization_id(self) -> int | None:
        # The workload may be unsaved (workload_create validates the mix before saving it).
        workload = self.workload if self.workload_id or "workload" in self._state.fields_cache else None
        return workload.product.organization_id if workload is not None and workload.product_id else None
