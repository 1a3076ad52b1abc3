"""Where Django looks for the ``planner`` app's models: this module imports every domain's
``models`` module, which registers its models under the one app label ``planner`` (so moving
them into domain packages needed no migration).

Import a model from its domain package (``from planner.products.models import Tier``), never
from here: this module re-exports nothing.
"""

import planner.accounts.models  # noqa: F401
import planner.actuals.compat.models  # noqa: F401
import planner.actuals.models  # noqa: F401
import planner.alerts.models  # noqa: F401
import planner.prices.models  # noqa: F401
import planner.products.models  # noqa: F401
import planner.simulation.models  # noqa: F401
