"""The split of a row by a seeded rule on its index: no global shuffle, same on any worker.

Row `i` (counted from 0 over the data's files in sorted order) draws `u = splitmix64(seed, i) / 2**64`,
uniform in [0, 1): `u < test_fraction` is test, the next `val_fraction` of the rest is validation,
the remainder training. Any reader of any share of the rows, and a resumed run, assigns every row
the same split without seeing the others; split sizes are the fractions up to sampling noise.
"""

from __future__ import annotations

import numpy as np

TRAIN, VALIDATION, TEST = 0, 1, 2
NAMES = ("train", "validation", "test")
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def splitmix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64's output function on uint64 values (a fast, well-mixed integer hash)."""
    with np.errstate(over="ignore"):
        z = values + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def uniform(rows: np.ndarray, seed: int) -> np.ndarray:
    """A float64 in [0, 1) per row index, a function of (seed, index) only."""
    with np.errstate(over="ignore"):
        key = splitmix64(np.asarray(rows, dtype=np.uint64) ^ splitmix64(np.array([seed], np.uint64)))
    return (key >> np.uint64(11)).astype(np.float64) / float(2**53)


def split_of(rows: np.ndarray, seed: int, test_fraction: float, val_fraction: float) -> np.ndarray:
    """TRAIN / VALIDATION / TEST (int8) of each row index; `test_fraction=0` when the test rows
    come from other files."""
    u = uniform(rows, seed)
    val_end = test_fraction + val_fraction * (1.0 - test_fraction)
    out = np.full(len(u), TRAIN, dtype=np.int8)
    out[u < val_end] = VALIDATION
    out[u < test_fraction] = TEST
    return out
