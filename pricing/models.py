"""The price catalog: providers, their models and each model's price history.

Rows are written by ``pricing.catalog.catalog_import`` from the data bundled in the pinned
``genai-prices`` package and are never deleted: a price that disappears from the package is
closed (``effective_to``) and marked ``retired_at``, because run snapshots and usage reports
may refer to it. Custom per-organisation sheets will come later; nothing here belongs to an
organisation yet.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


def _price_field() -> models.DecimalField:
    """A nullable price column: money per million tokens (or per thousand requests)."""
    return models.DecimalField(max_digits=20, decimal_places=10, null=True, blank=True)


#: ModelPrice's summary columns, named after the genai-prices price keys whose base rate they repeat.
PRICE_COLUMNS = (
    "input_mtok",
    "output_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "cache_write_1h_mtok",
    "output_reasoning_mtok",
    "requests_kcount",
)


class Provider(models.Model):
    """An inference provider as genai-prices describes it (``slug`` is its provider id)."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    api_pattern = models.CharField(max_length=500, blank=True)
    pricing_urls = models.JSONField(default=list, blank=True)
    description = models.TextField(blank=True)
    price_comments = models.TextField(blank=True)
    retired_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when the installed genai-prices no longer lists this provider."
    )

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class AIModel(models.Model):
    """A model sold by a provider (``slug`` is the genai-prices model id, unique per provider)."""

    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="models")
    slug = models.CharField(max_length=200)
    name = models.CharField(max_length=300, blank=True)
    description = models.TextField(blank=True)
    context_window = models.PositiveBigIntegerField(null=True, blank=True)
    deprecated = models.BooleanField(default=False)
    match = models.JSONField(
        default=dict, blank=True, help_text="genai-prices match clause, e.g. {'starts_with': 'gpt-4o'}."
    )
    price_comments = models.TextField(blank=True)
    retired_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when the installed genai-prices no longer lists this model."
    )

    class Meta:
        ordering = ["provider__slug", "slug"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "slug"], name="pricing_aimodel_unique_provider_slug"),
        ]
        verbose_name = "AI model"

    def __str__(self) -> str:
        return f"{self.provider.slug}/{self.slug}"


class ModelPrice(models.Model):
    """The complete price of one model, for one variant, over one period.

    - ``variant`` is ``""`` for the standard price, else a stable key built from the genai-prices
      ``PriceVariant.when`` dict (``"processing=batch"``, ``"service_tier=priority"``); ``when`` holds
      that dict, i.e. the ``price_context`` that selects the variant.
    - ``structure`` is the genai-prices ``ModelPrice`` in force for this row, already resolved
      (a variant row holds the standard price with the variant's keys overriding it, exactly as
      ``ModelInfo.get_prices`` resolves them), every price key kept, Decimals as strings, tiers as
      ``{"base": "3", "tiers": [{"start": 200000, "price": "6"}]}``. It is the source of truth.
    - The price applies from ``effective_from`` (``None``: since forever) until ``effective_to``
      (exclusive; ``None``: open). With ``start_time``/``end_time`` (UTC, end exclusive, may wrap
      past midnight) it applies only during that daily window and beats the all-day row.
    - The ``*_mtok`` columns (money per million tokens; ``requests_kcount`` per thousand requests)
      repeat the base rate of the common keys for sorting and display only; they are quantized to
      10 decimal places, so compute from ``structure``. ``has_tiers`` says a context-length tier
      applies to some key.
    - ``retired_at`` is set when a catalog import no longer produced this row; it was closed then.
    """

    model = models.ForeignKey(AIModel, on_delete=models.PROTECT, related_name="prices")
    variant = models.CharField(max_length=200, blank=True, default="")
    when = models.JSONField(default=dict, blank=True)
    effective_from = models.DateTimeField(null=True, blank=True)
    effective_to = models.DateTimeField(null=True, blank=True)
    start_time = models.TimeField(null=True, blank=True)
    end_time = models.TimeField(null=True, blank=True)
    input_mtok = _price_field()
    output_mtok = _price_field()
    cache_read_mtok = _price_field()
    cache_write_mtok = _price_field()
    cache_write_1h_mtok = _price_field()
    output_reasoning_mtok = _price_field()
    requests_kcount = _price_field()
    has_tiers = models.BooleanField(default=False)
    structure = models.JSONField()
    source = models.CharField(max_length=100)
    source_hash = models.CharField(max_length=64)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["model", "variant", "effective_from", "start_time"]
        indexes = [models.Index(fields=["model", "variant"], name="pricing_price_model_variant")]
        constraints = [
            models.UniqueConstraint(
                fields=["model", "variant", "source_hash"], name="pricing_modelprice_unique_content"
            ),
            models.CheckConstraint(
                condition=Q(effective_from__isnull=True)
                | Q(effective_to__isnull=True)
                | Q(effective_to__gte=models.F("effective_from")),
                name="pricing_modelprice_period_ordered",
            ),
            models.CheckConstraint(
                condition=Q(start_time__isnull=True, end_time__isnull=True)
                | Q(start_time__isnull=False, end_time__isnull=False),
                name="pricing_modelprice_window_complete",
            ),
            *(
                models.CheckConstraint(
                    condition=Q(**{f"{column}__isnull": True}) | Q(**{f"{column}__gte": 0}),
                    name=f"pricing_modelprice_{column}_non_negative",
                )
                for column in PRICE_COLUMNS
            ),
        ]

    def __str__(self) -> str:
        variant = f" [{self.variant}]" if self.variant else ""
        since = self.effective_from.date().isoformat() if self.effective_from else "always"
        return f"{self.model}{variant} from {since}"
