"""Every model of the ``planner`` app, where Django looks for them.

The models live in their domain packages (``planner.accounts.models``, ``planner.products.models``
...); this module imports them so that the app label stays ``planner`` and no migration is needed
for the move. Import models from their domain package, not from here.
"""

from planner.accounts.models import ApiKey, Membership, Organization
from planner.actuals.models import Customer, CustomerMonth, CustomerTierPeriod, UsageRecord
from planner.alerts.models import AlertOutbox, AlertRule
from planner.prices.models import PriceSheet, PriceSheetEntry, SelfHostedDeployment
from planner.products.models import (
    Product,
    Tier,
    UsageDistribution,
    Workload,
    WorkloadCorrelation,
    WorkloadModel,
)
from planner.simulation.models import RunBlock, Scenario, SimulationRun

__all__ = [
    "AlertOutbox",
    "AlertRule",
    "ApiKey",
    "Customer",
    "CustomerMonth",
    "CustomerTierPeriod",
    "Membership",
    "Organization",
    "PriceSheet",
    "PriceSheetEntry",
    "Product",
    "RunBlock",
    "Scenario",
    "SelfHostedDeployment",
    "SimulationRun",
    "Tier",
    "UsageDistribution",
    "UsageRecord",
    "Workload",
    "WorkloadCorrelation",
    "WorkloadModel",
]
