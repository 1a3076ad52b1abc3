"""Usage distributions per tier and workload, and correlations between workloads."""

from __future__ import annotations

import math

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from planner.core.models import (
    MAX_ALPHA,
    MAX_REQUESTS_PER_MONTH,
    PlannerModel,
    between_constraint,
    finite_number,
    float_field,
    raise_errors,
    unique_constraint,
)
from planner.products.models.products import Product
from planner.products.models.segments import Segment
from planner.products.models.tiers import Tier
from planner.products.models.workloads import Workload


def _usage_parameter(help_text: str, *, limit: float = MAX_REQUESTS_PER_MONTH) -> models.FloatField:
    return float_field(help_text, low=0.0, high=limit, null=True)


#: The numeric parameters of a usage distribution (each used by some kinds only).
USAGE_PARAMETERS = ("median", "p90", "mean", "shape", "scale", "alpha", "upper")


class UsageDistribution(PlannerModel):
    """Each user's *expected* requests per month (latent intensity) for a tier and workload.

    - lognormal: ``median`` and ``p90`` (0 < median <= p90);
    - gamma: ``mean`` and ``shape`` (both > 0);
    - pareto: ``scale`` (minimum, > 0) and ``alpha``; alpha > 2 unless truncated at ``upper``
      (> scale), so the mean and its simulation error stay finite;
    - empirical: ``values``, at least two finite non-negative observed intensities.

    ``overdispersion`` is the shape k of a monthly gamma shock with mean 1 (negative-binomial
    counts); null gives plain Poisson counts.

    ``segment`` null: the distribution of the whole tier; else of one of the tier's segments
    (one per tier, segment and workload).
    """

    class Kind(models.TextChoices):
        LOGNORMAL = "lognormal", "Lognormal (median, p90)"
        GAMMA = "gamma", "Gamma (mean, shape)"
        PARETO = "pareto", "Pareto (scale, alpha, optional upper bound)"
        EMPIRICAL = "empirical", "Empirical (observed values)"

    MAX_EMPIRICAL_VALUES = 100_000

    tier = models.ForeignKey(Tier, on_delete=models.CASCADE, related_name="usage")
    workload = models.ForeignKey(Workload, on_delete=models.CASCADE, related_name="usage")
    segment = models.ForeignKey(
        Segment,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="usage",
        help_text="The segment of the tier's users this is the usage of; empty = the whole tier.",
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.LOGNORMAL)
    median = _usage_parameter("Lognormal: median requests per month.")
    p90 = _usage_parameter("Lognormal: 90th percentile of requests per month.")
    mean = _usage_parameter("Gamma: mean requests per month.")
    shape = _usage_parameter("Gamma: shape (smaller = more spread).")
    scale = _usage_parameter("Pareto: scale, the minimum requests per month.")
    alpha = _usage_parameter("Pareto: tail index alpha (> 2 unless truncated).", limit=MAX_ALPHA)
    upper = _usage_parameter("Pareto: optional upper bound (truncation).")
    values = models.JSONField(default=list, blank=True)
    overdispersion = float_field(
        "Shape of a monthly gamma shock (smaller = burstier); empty = Poisson counts.",
        low=1e-6,
        high=1e6,
        null=True,
    )

    class Meta:
        ordering = ["tier", "workload"]
        constraints = [
            unique_constraint("usage", ["tier", "workload"], "pair", condition=Q(segment__isnull=True)),
            unique_constraint(
                "usage", ["segment", "workload"], "segment_pair", condition=Q(segment__isnull=False)
            ),
            *(
                between_constraint(
                    "usagedistribution", name, 0.0, MAX_ALPHA if name == "alpha" else MAX_REQUESTS_PER_MONTH
                )
                for name in USAGE_PARAMETERS
            ),
            between_constraint("usagedistribution", "overdispersion", 0.0, 1e6, low_exclusive=True),
            models.CheckConstraint(
                condition=Q(kind="lognormal", median__isnull=False, p90__isnull=False, median__gt=0)
                & Q(p90__gte=F("median"))
                | Q(kind="gamma", mean__isnull=False, shape__isnull=False, mean__gt=0, shape__gt=0)
                | Q(kind="pareto", scale__isnull=False, alpha__isnull=False, scale__gt=0)
                & (Q(alpha__gt=2) | Q(alpha__gt=0, upper__isnull=False, upper__gt=F("scale")))
                | Q(kind="empirical"),
                name="planner_usagedistribution_parameters_valid",
            ),
        ]

    #: The usage a new workload starts with in every plan: nobody uses it yet. Runnable (the
    #: workload costs nothing until its usage is set) and shown as "set usage" in the editor.
    PLACEHOLDER_VALUES = (0.0, 0.0)

    def __str__(self) -> str:
        return f"{self.tier} x {self.workload.name}: {self.kind}"

    @property
    def is_placeholder(self) -> bool:
        """Whether this is a new workload's zero usage, still to be set."""
        return self.kind == self.Kind.EMPIRICAL and tuple(self.values or ()) == self.PLACEHOLDER_VALUES

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.tier_id and self.workload_id and self.tier.product_id != self.workload.product_id:
            errors["workload"] = "The workload belongs to another product than the tier."
        if self.segment is not None and self.tier_id and self.segment.tier_id != self.tier_id:
            errors["segment"] = "The segment belongs to another tier."
        kind = self.kind
        if kind == self.Kind.LOGNORMAL:
            self._clean_lognormal(errors)
        elif kind == self.Kind.GAMMA:
            for name in ("mean", "shape"):
                value = finite_number(getattr(self, name))
                if value is None or value <= 0:
                    errors[name] = f"A gamma distribution needs a {name} above 0."
        elif kind == self.Kind.PARETO:
            self._clean_pareto(errors)
        elif kind == self.Kind.EMPIRICAL:
            self._clean_empirical(errors)
        raise_errors(errors)

    def _clean_lognormal(self, errors: dict[str, str]) -> None:
        median, p90 = finite_number(self.median), finite_number(self.p90)
        if median is None or median <= 0:
            errors["median"] = "A lognormal distribution needs a median above 0."
        if p90 is None:
            errors["p90"] = "A lognormal distribution needs a p90 (90th percentile)."
        elif median is not None and p90 < median:
            errors["p90"] = f"The p90 ({p90:g}) cannot be below the median ({median:g})."

    def _clean_pareto(self, errors: dict[str, str]) -> None:
        scale, alpha, upper = finite_number(self.scale), finite_number(self.alpha), finite_number(self.upper)
        if scale is None or scale <= 0:
            errors["scale"] = "A Pareto distribution needs a scale (minimum) above 0."
        if upper is not None and scale is not None and upper <= scale:
            errors["upper"] = "The upper bound must be above the scale (minimum)."
        if alpha is None or alpha <= 0:
            errors["alpha"] = "A Pareto distribution needs an alpha above 0."
        elif alpha <= 2 and upper is None:
            errors["alpha"] = (
                "With alpha <= 2 an untruncated Pareto has an infinite variance (and for alpha <= 1 an "
                "infinite mean); use alpha > 2 or set an upper bound."
            )

    def _clean_empirical(self, errors: dict[str, str]) -> None:
        values = self.values
        if not isinstance(values, list) or len(values) < 2:
            errors["values"] = "An empirical distribution needs a list of at least 2 observed values."
        elif len(values) > self.MAX_EMPIRICAL_VALUES:
            errors["values"] = f"At most {self.MAX_EMPIRICAL_VALUES:,} values; sample them down."
        elif not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
            for v in values
        ):
            errors["values"] = "Values must be finite numbers of at least 0."
        elif max(values) > MAX_REQUESTS_PER_MONTH:
            errors["values"] = (
                f"Values are requests per user and month: at most {MAX_REQUESTS_PER_MONTH:,.0f}, "
                "as for the other usage parameters."
            )


class WorkloadCorrelation(PlannerModel):
    """Usage correlation ``rho`` between two workloads of a product (Gaussian copula).

    Stored once per pair with ``workload_a`` the lower id (``clean()`` orders the pair). Pairs
    without a row use ``Product.default_correlation``; the whole matrix must be positive
    semi-definite (``planner.products.services.correlation_matrix``).
    """

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="correlations")
    workload_a = models.ForeignKey(Workload, on_delete=models.CASCADE, related_name="+")
    workload_b = models.ForeignKey(Workload, on_delete=models.CASCADE, related_name="+")
    rho = float_field(low=-1.0, high=1.0)

    class Meta:
        constraints = [
            unique_constraint("correlation", ["workload_a", "workload_b"], "pair"),
            models.CheckConstraint(
                condition=Q(workload_a__lt=F("workload_b")), name="planner_correlation_ordered_pair"
            ),
            between_constraint("workloadcorrelation", "rho", -1.0, 1.0),
        ]

    def __str__(self) -> str:
        return f"{self.workload_a.name} ~ {self.workload_b.name}: {self.rho:g}"

    def clean(self) -> None:
        if not (self.workload_a_id and self.workload_b_id):
            return
        if self.workload_a_id == self.workload_b_id:
            raise ValidationError({"workload_b": "A workload is always fully correlated with itself."})
        if self.workload_a_id > self.workload_b_id:
            self.workload_a, self.workload_b = self.workload_b, self.workload_a
        for name in ("workload_a", "workload_b"):
            if getattr(self, name).product_id != self.product_id:
                raise ValidationError({name: "The workload belongs to another product."})
