"""Receivers of other layers' signals, connected in ``PlannerConfig.ready``.

``usage_reprice_on_price_change``: a catalog import that changed a model's price history
(``pricing.signals.prices_changed``) queues ``planner.usage_reprice`` for each model with usage
records stamped from the changed instant on, so stored costs and customer-month rollups follow
a backdated price change without anyone running ``manage.py reprice_usage``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from planner.actuals.selectors import models_to_reprice
from planner.core.enqueue import USAGE_REPRICE, enqueue

logger = logging.getLogger(__name__)


def usage_reprice_on_price_change(
    sender: Any, *, changes: Mapping[int, datetime | None], **kwargs: Any
) -> None:
    """Queue a reprice for every changed model that has usage from its changed instant on."""
    due = models_to_reprice(changes=changes)
    for model_id, since in due.items():
        enqueue(USAGE_REPRICE, model_id, None if since is None else since.isoformat())
    if due:
        logger.info("usage repricing queued models=%d (of %d with changed prices)", len(due), len(changes))
