"""The editor's preview of a usage distribution, computed as the user types (no simulation): its
p50/p90/p99 and mean and a density sketch, from the engine's own inverse CDFs (through the one
ORM -> engine adapter), so the preview is what the simulation draws.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from planner.engine.usage import intensity_from_normal, mean_intensity
from planner.products.models import UsageDistribution
from planner.simulation.adapter import usage_dist, usage_json

PREVIEW_POINTS = 41


def usage_preview(*, distribution: UsageDistribution) -> dict[str, Any]:
    """p50/p90/p99 and mean of a (validated, possibly unsaved) usage distribution, and a density
    sketch (log-spaced bins) from its quantile function at evenly spaced probabilities."""
    dist = usage_dist(usage_json(distribution, "Preview"))
    quantiles = {
        name: float(intensity_from_normal(dist, np.asarray([special.ndtri(q)]))[0])
        for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))
    }
    u = (np.arange(4000) + 0.5) / 4000
    values = intensity_from_normal(dist, special.ndtri(u))
    positive = values[values > 0]
    density: dict[str, list[float]] = {"x": [], "y": []}
    if positive.size:
        low, high = float(positive.min()), float(np.quantile(positive, 0.995))
        if high <= low:
            high = low * 1.01 + 1e-9
        edges = np.geomspace(max(low, 1e-6), high, PREVIEW_POINTS)
        counts, _ = np.histogram(np.clip(positive, edges[0], edges[-1]), bins=edges)
        density = {
            "x": [float(x) for x in np.sqrt(edges[:-1] * edges[1:])],
            "y": [float(c) / positive.size for c in counts],
        }
    return {**quantiles, "mean": mean_intensity(dist), "density": density}
