"""Signals of the pricing layer, for the layers above it (pricing imports nothing of theirs).

``prices_changed`` is sent once the transaction that changed catalog prices has committed,
with ``changes``: a mapping from each model id whose price history changed to the earliest
instant the change affects (``None``: from the beginning of its history). The planner
connects a receiver that reprices the usage records stamped from that instant on
(``planner.actuals.receivers``).
"""

from __future__ import annotations

from django.dispatch import Signal

prices_changed = Signal()
