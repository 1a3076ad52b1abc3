"""Products and what they are made of: tiers, workloads (token profiles, model mix, calls),
usage distributions per tier and workload, and workload correlations.

One module per family (Django's "models in a package"); import them from here.
"""

from planner.products.models.products import Product, ProductPart
from planner.products.models.tiers import Tier
from planner.products.models.usage import USAGE_PARAMETERS, UsageDistribution, WorkloadCorrelation
from planner.products.models.workloads import Workload, WorkloadModel

__all__ = [
    "USAGE_PARAMETERS",
    "Product",
    "ProductPart",
    "Tier",
    "UsageDistribution",
    "Workload",
    "WorkloadCorrelation",
    "WorkloadModel",
]
