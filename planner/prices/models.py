"""An organisation's custom prices: price sheets (discounts, private models) and self-hosted deployments."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from planner.accounts.models import Organization
from planner.core.models import (
    MAX_FEE,
    PlannerModel,
    TimestampedModel,
    between_constraint,
    decimal_field,
    exact_fraction_field,
    money_field,
    one_of_constraint,
    raise_errors,
    unique_constraint,
)
from planner.core.validators import finite_decimal
from pricing.custom import private_model_structure
from pricing.models import AIModel
from pricing.selfhosted import MAX_MTOK, SelfHostedPriceOutOfRange, self_hosted_cost

MAX_MTOK_PRICE = MAX_MTOK  # max_digits=20, decimal_places=10, as the catalog
MAX_TOKENS_PER_SECOND = 1e9
MAX_GPUS_PER_REPLICA = 4096
MAX_THROUGHPUT_MULTIPLIER = 100.0
#: Floors checked by ``SelfHostedDeployment.clean`` (the database only asks for > 0): a replica
#: slower than a token every 100 seconds, serving under 1 % of its paid hours or at under a
#: hundredth of its measured throughput is a typo (``1e-300`` made a price no column holds).
MIN_TOKENS_PER_SECOND = 0.01
MIN_TARGET_UTILIZATION = 0.01
MIN_THROUGHPUT_MULTIPLIER = 1 / MAX_THROUGHPUT_MULTIPLIER
#: A private model's prices per million tokens (``PriceSheetEntry``); discounts leave them empty.
PRIVATE_PRICE_FIELDS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok", "reasoning_mtok")


def _above_zero(value: object) -> None:
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool) and value <= 0:
        raise ValidationError("Enter a number above 0.", code="not_positive")


def _mtok_field(help_text: str) -> models.DecimalField:
    return decimal_field(help_text, max_digits=20, decimal_places=10, high=MAX_MTOK_PRICE, null=True)


class PriceSheet(TimestampedModel):
    """An organisation's custom prices over a period: negotiated discounts and private models.

    The sheet applies from ``effective_from`` through ``effective_to`` (both inclusive, whole
    days; an empty ``effective_to`` is open-ended). Two sheets of one organisation may overlap in
    time, but never for the same provider/model or private model (checked by
    ``planner.prices.sheets``), so the price of a model on a date is never ambiguous.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="price_sheets")
    name = models.CharField(max_length=200)
    effective_from = models.DateField(help_text="First day the sheet applies.")
    effective_to = models.DateField(
        null=True, blank=True, help_text="Last day the sheet applies (inclusive); empty = open-ended."
    )
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["organization", "-effective_from", "name"]
        constraints = [
            unique_constraint("pricesheet", ["organization", "name"], "name"),
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_to__gte=F("effective_from")),
                name="planner_pricesheet_period_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.effective_from and self.effective_to and self.effective_to < self.effective_from:
            raise ValidationError(
                {"effective_to": "The last day cannot be before the first day (effective from)."}
            )


class PriceSheetEntry(PlannerModel):
    """One line of a price sheet.

    - ``discount``: a negotiated discount (a fraction: 0.2 is 20 % off) on every price key of the
      catalog price of ``provider`` (all its models) or of one ``model`` of it. A model's own entry
      wins over its provider's.
    - ``private``: a model only this organisation can buy, known by ``slug``, priced per million
      tokens (input and output required; cache reads/writes default to the input rate and
      reasoning to the output rate, as in genai-prices). ``structure`` is its genai-prices price.
    """

    class Kind(models.TextChoices):
        DISCOUNT = "discount", "Negotiated discount on a catalog provider or model"
        PRIVATE = "private", "Private model"

    sheet = models.ForeignKey(PriceSheet, on_delete=models.CASCADE, related_name="entries")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    provider = models.ForeignKey(
        "pricing.Provider", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    model = models.ForeignKey(AIModel, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    discount = exact_fraction_field(
        "Fraction off every list price (0.2 = 20 % off).",
        high_message="Enter the discount as a fraction: 0.2 for 20 %%.",
        null=True,
    )
    slug = models.SlugField(max_length=100, blank=True, help_text="Private model id, unique per sheet.")
    name = models.CharField(max_length=200, blank=True)
    input_mtok = _mtok_field("Private model: price per million input tokens.")
    output_mtok = _mtok_field("Private model: price per million output tokens.")
    cache_read_mtok = _mtok_field("Private model: per million cached input tokens; empty = input price.")
    cache_write_mtok = _mtok_field("Private model: per million cache-write tokens; empty = input price.")
    reasoning_mtok = _mtok_field("Private model: per million reasoning tokens; empty = output price.")

    class Meta:
        ordering = ["sheet", "kind", "slug", "id"]
        verbose_name_plural = "price sheet entries"
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    kind="discount",
                    provider__isnull=False,
                    discount__isnull=False,
                    slug="",
                    **{f"{name}__isnull": True for name in PRIVATE_PRICE_FIELDS},
                )
                | Q(
                    kind="private",
                    provider__isnull=True,
                    model__isnull=True,
                    discount__isnull=True,
                    input_mtok__isnull=False,
                    output_mtok__isnull=False,
                )
                & ~Q(slug=""),
                name="planner_pricesheetentry_kind_fields",
            ),
            between_constraint("pricesheetentry", "discount", 0, 1),
            *(
                between_constraint("pricesheetentry", name, 0, MAX_MTOK_PRICE)
                for name in PRIVATE_PRICE_FIELDS
            ),
            unique_constraint(
                "pricesheetentry",
                ["sheet", "provider"],
                "provider",
                condition=Q(kind="discount", model__isnull=True),
            ),
            unique_constraint(
                "pricesheetentry", ["sheet", "model"], "model", condition=Q(model__isnull=False)
            ),
            unique_constraint("pricesheetentry", ["sheet", "slug"], "slug", condition=Q(kind="private")),
        ]

    def __str__(self) -> str:
        return f"{self.sheet}: {self.target_label}"

    @property
    def target_label(self) -> str:
        """What the entry prices: ``provider``, ``provider/model`` or ``private/slug``."""
        if self.kind == self.Kind.PRIVATE:
            return f"private/{self.slug}"
        if self.model_id is not None:
            return str(self.model)
        provider = self.provider if self.provider_id else None
        return f"{provider.slug if provider is not None else '?'} (all models)"

    @property
    def structure(self) -> dict[str, str]:
        """A private model's genai-prices price structure (``PriceSchedule.from_structure`` reads it)."""
        if self.kind != self.Kind.PRIVATE or self.input_mtok is None or self.output_mtok is None:
            raise ValueError(f"{self} is not a private model with input and output prices.")
        return private_model_structure(
            input_mtok=self.input_mtok,
            output_mtok=self.output_mtok,
            cache_read_mtok=self.cache_read_mtok,
            cache_write_mtok=self.cache_write_mtok,
            reasoning_mtok=self.reasoning_mtok,
        )

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.kind == self.Kind.DISCOUNT:
            if not self.provider_id:
                errors["provider"] = "A discount needs the catalog provider it applies to."
            if self.discount is None:
                errors["discount"] = "Enter the discount as a fraction between 0 and 1 (0.2 = 20 % off)."
            model = self.model if self.model_id else None
            provider = self.provider if self.provider_id else None
            if model is not None and provider is not None and model.provider_id != provider.pk:
                errors["model"] = f"{model} is not a model of provider {provider.slug}."
            for name in ("slug", *PRIVATE_PRICE_FIELDS):
                if getattr(self, name) not in (None, ""):
                    errors[name] = "Only private models have this field; leave it empty for a discount."
        elif self.kind == self.Kind.PRIVATE:
            if not self.slug:
                errors["slug"] = "A private model needs a slug (its id, e.g. acme-llm-large)."
            for name in ("input_mtok", "output_mtok"):
                if getattr(self, name) is None:
                    errors[name] = "A private model needs input and output prices per million tokens."
            for name in ("provider", "model", "discount"):
                if getattr(self, f"{name}_id" if name != "discount" else name) is not None:
                    errors[name] = "Only discounts have this field; leave it empty for a private model."
        raise_errors(errors)


class SelfHostedDeployment(TimestampedModel):
    """A model the organisation serves on its own GPUs; priced per million tokens by
    ``pricing.selfhosted`` from the cost of a replica and its throughput at the target utilisation.

    ``quantization`` is informational; ``throughput_multiplier`` scales the throughputs (for
    example when they were measured at another quantization; 1 = use them as measured).
    """

    class Quantization(models.TextChoices):
        FP32 = "fp32", "FP32"
        BF16 = "bf16", "BF16"
        FP16 = "fp16", "FP16"
        FP8 = "fp8", "FP8"
        INT8 = "int8", "INT8"
        INT4 = "int4", "INT4"
        OTHER = "other", "Other"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="self_hosted_deployments"
    )
    name = models.CharField(max_length=200)
    base_model = models.CharField(max_length=200, blank=True, help_text="e.g. Llama 3.1 70B Instruct.")
    gpu_type = models.CharField(max_length=100, blank=True, help_text="e.g. H100 80GB.")
    gpu_hourly_cost = money_field("Cost of one GPU per hour.")
    gpus_per_replica = models.PositiveIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(MAX_GPUS_PER_REPLICA)]
    )
    input_tokens_per_second = models.FloatField(
        validators=[finite_decimal, _above_zero, MaxValueValidator(MAX_TOKENS_PER_SECOND)],
        help_text="Input (prefill) tokens per second one replica processes at full load.",
    )
    output_tokens_per_second = models.FloatField(
        validators=[finite_decimal, _above_zero, MaxValueValidator(MAX_TOKENS_PER_SECOND)],
        help_text="Output (decode) tokens per second one replica generates at full load.",
    )
    target_utilization = models.FloatField(
        default=0.6,
        validators=[finite_decimal, _above_zero, MaxValueValidator(1.0)],
        help_text="Share of paid GPU hours that serve traffic, in (0, 1].",
    )
    quantization = models.CharField(max_length=10, choices=Quantization.choices, default=Quantization.FP16)
    throughput_multiplier = models.FloatField(
        default=1.0,
        validators=[finite_decimal, _above_zero, MaxValueValidator(MAX_THROUGHPUT_MULTIPLIER)],
        help_text="Multiplies both throughputs (1 = as measured).",
    )
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["organization", "name"]
        constraints = [
            unique_constraint("selfhosteddeployment", ["organization", "name"], "name"),
            between_constraint("selfhosteddeployment", "gpu_hourly_cost", 0, MAX_FEE),
            between_constraint("selfhosteddeployment", "gpus_per_replica", 1, MAX_GPUS_PER_REPLICA),
            between_constraint(
                "selfhosteddeployment",
                "input_tokens_per_second",
                0.0,
                MAX_TOKENS_PER_SECOND,
                low_exclusive=True,
            ),
            between_constraint(
                "selfhosteddeployment",
                "output_tokens_per_second",
                0.0,
                MAX_TOKENS_PER_SECOND,
                low_exclusive=True,
            ),
            between_constraint("selfhosteddeployment", "target_utilization", 0.0, 1.0, low_exclusive=True),
            between_constraint(
                "selfhosteddeployment",
                "throughput_multiplier",
                0.0,
                MAX_THROUGHPUT_MULTIPLIER,
                low_exclusive=True,
            ),
            one_of_constraint(
                "selfhosteddeployment",
                "quantization",
                ["fp32", "bf16", "fp16", "fp8", "int8", "int4", "other"],
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """The floors above, then the derived $/Mtok: within the catalog's price columns
        (``pricing.selfhosted.MAX_MTOK``), reported on the throughput of the kind at fault."""
        errors: dict[str, str] = {}
        floors = (
            ("input_tokens_per_second", MIN_TOKENS_PER_SECOND, "tokens per second"),
            ("output_tokens_per_second", MIN_TOKENS_PER_SECOND, "tokens per second"),
            ("target_utilization", MIN_TARGET_UTILIZATION, "1 % of paid hours serving traffic; 0.6 is 60 %"),
            ("throughput_multiplier", MIN_THROUGHPUT_MULTIPLIER, "a hundredth of the measured throughput"),
        )
        for name, floor, meaning in floors:
            value = getattr(self, name)
            if isinstance(value, float | int) and 0 < value < floor:
                errors[name] = f"Enter at least {floor:g} ({meaning})."
        raise_errors(errors)
        # Imported here: ``terms`` imports this module. It is the one ORM -> spec conversion.
        from planner.prices.terms import self_hosted_spec

        try:
            spec = self_hosted_spec(self)
        except (ArithmeticError, TypeError, ValueError):
            return  # a field is missing or invalid: its own validators say which and why
        try:
            self_hosted_cost(spec)
        except SelfHostedPriceOutOfRange as error:
            raise ValidationError({error.field: str(error)}) from error

    @property
    def mix_key(self) -> str:
        """The model key in snapshots and results."""
        return f"self-hosted/{self.name}"
