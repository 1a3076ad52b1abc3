"""Products and what they are made of: tiers, workloads (token profiles, model mix, calls),
user segments of a tier, usage distributions per tier (or segment) and workload, and workload correlations.

One module per family (Django's "models in a package"); import them from here.
"""

from planner.products.models.products import Product, ProductPart
from planner.products.models.segments import Segment, segment_shares_problem
from planner.products.models.tiers import Tier
from planner.products.models.usage import USAGE_PARAMETERS, UsageDistribution, WorkloadCorrelation
from planner.products.models.workloads import Workload, WorkloadModel

__all__ = [
    "USAGE_PARAMETERS",
    "Product",
    "ProductPart",
    "Segment",
    "Tier",
    "UsageDistribution",
    "Workload",
    "WorkloadCorrelation",
    "WorkloadModel",
    "segment_shares_problem",
]
