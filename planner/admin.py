"""Where Django's admin autodiscovery looks for the ``planner`` app's admin: this module imports
each domain's ``admin`` module, which registers that domain's models (accounts, products,
simulation, alerts). Define admin classes in the domain's own ``admin.py``, never here.
"""

import planner.accounts.admin  # noqa: F401
import planner.alerts.admin  # noqa: F401
import planner.products.admin  # noqa: F401
import planner.simulation.admin  # noqa: F401
