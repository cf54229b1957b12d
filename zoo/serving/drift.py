"""Input drift: live inputs binned like the training profile, compared by the population stability index.

PSI = sum over bins of (live - expected) * ln(live / expected), fractions floored at 1e-4. The usual
reading: below 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a significant one. Live counts
cover roughly the latest `window` examples: when they reach it, all counts are halved.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from zoo.runtime.profile import bin_counts, feature_values

FLOOR = 1e-4
MODERATE, SIGNIFICANT = 0.1, 0.25


def psi(expected: np.ndarray, live: np.ndarray) -> float:
    """Population stability index of two histograms (fractions or counts)."""
    e = np.maximum(expected / max(expected.sum(), 1e-12), FLOOR)
    a = np.maximum(live / max(live.sum(), 1e-12), FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def reading(value: float) -> str:
    return "stable" if value < MODERATE else "moderate" if value < SIGNIFICANT else "significant"


class DriftMonitor:
    """Live histograms of one model version's inputs against its training profile."""

    def __init__(self, profile: dict[str, Any], specs: list[dict[str, Any]], window: int = 10_000):
        self.features: dict[str, Any] = profile["features"]
        self.specs, self.window = specs, window
        self.expected = {n: np.asarray(f["expected"], np.float64) for n, f in self.features.items()}
        self.counts = {n: np.zeros_like(e) for n, e in self.expected.items()}
        self.examples, self.seen = 0, 0
        self.lock = threading.Lock()

    def observe(self, inputs: list[np.ndarray]) -> None:
        """Add a batch of raw inputs (signature order) to the live histograms."""
        values = feature_values(inputs, self.specs)
        binned = {n: bin_counts(self.features[n], v) for n, v in values.items() if n in self.features}
        with self.lock:
            if self.examples >= self.window:
                self.counts = {n: c / 2 for n, c in self.counts.items()}
                self.examples //= 2
            for name, counts in binned.items():
                self.counts[name] = self.counts[name] + counts
            self.examples += len(inputs[0])
            self.seen += len(inputs[0])

    def report(self) -> dict[str, Any]:
        """PSI per feature, the largest, and its reading (`no data` before any input)."""
        with self.lock:
            counts = {n: c.copy() for n, c in self.counts.items()}
            examples, seen = self.examples, self.seen
        values = {n: psi(self.expected[n], c) for n, c in counts.items() if c.sum() > 0}
        worst = max(values.values(), default=0.0)
        return {"examples_in_window": int(examples), "examples_seen": int(seen), "max_psi": worst,
                "status": reading(worst) if examples else "no data",
                "thresholds": {"moderate": MODERATE, "significant": SIGNIFICANT},
                "features": {n: {"psi": v, "status": reading(v)} for n, v in values.items()}}
