"""Where the prepared splits are cached between epochs: `dataset.cache=auto|memory|disk|off`.

`auto` caches in memory when the prepared data (examples x network inputs x 4 bytes, times the
cache's measured overhead) fits `dataset.cache_budget_mb`, else not at all (every epoch streams
from the source again); `disk` writes tf.data cache files into the run folder's `data-cache/`
(or `dataset.cache_path`). The choice is stated in the log.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.core.errors import DataError
from zoo.data.configs import CACHE_MODES

log = logging.getLogger("zoo.data")
MODES = CACHE_MODES[:4]  # the last two are aliases
ALIASES = {"true": "memory", "false": "off", "none": "off"}
PREFIX = "zoo-cache-"
# A tf.data memory cache of single rows takes about this many times their bytes (measured: 10 M
# rows of 21 floats, 840 MB of numbers, raised the peak RSS by 2.7 GB).
CACHE_OVERHEAD = 3


@dataclass
class CacheChoice:
    """The chosen mode and, for `disk`, the folder of the cache files."""

    mode: str
    folder: Path | None = None

    def of(self, split: str) -> bool | str:
        """What `train_stream`/`eval_stream` take: True (memory), a file prefix (disk) or False."""
        if self.mode == "memory":
            return True
        if self.mode == "disk":
            return str(self.folder / f"{PREFIX}{split}")
        return False


def prepared_megabytes(info: Any) -> float:
    """The memory every split takes once prepared and cached: float32 network inputs and label,
    times the cache's own overhead."""
    rows = sum(int(n) for n in (info.num_examples or {}).values())
    return rows * (math.prod(int(d) for d in info.input_shape) + 1) * 4 * CACHE_OVERHEAD / 2**20


def choose_cache(dataset_cfg: Any, info: Any, run_path: Path, epochs: int) -> CacheChoice:
    """The cache of this run (checked, logged); a disk cache's old files are removed first.
    `epochs`: how many this run trains; with one, each split is read once, so `auto` caches
    nothing (filling a cache no epoch reads back cost 10% of a 1 M-row run)."""
    mode = str(getattr(dataset_cfg, "cache", "auto")).strip().lower()
    mode = ALIASES.get(mode, mode)
    if mode not in MODES:
        raise DataError(f"dataset.cache={mode!r} is not one of {', '.join(MODES)}")
    size = prepared_megabytes(info)
    budget = float(getattr(dataset_cfg, "cache_budget_mb", 1024))
    if mode == "auto" and epochs <= 1:
        mode = "off"
        log.info("data cache: off (dataset.cache=auto: one epoch reads each row once; prepared data "
                 "about %.0f MB)", size)
    elif mode == "auto":
        mode = "memory" if size <= budget else "off"
        log.info("data cache: %s (dataset.cache=auto: prepared data about %.0f MB, budget "
                 "dataset.cache_budget_mb=%.0f)", mode, size, budget)
    else:
        log.info("data cache: %s (dataset.cache=%s; prepared data about %.0f MB)", mode, mode, size)
    if mode != "disk":
        return CacheChoice(mode)
    folder = Path(getattr(dataset_cfg, "cache_path", None) or Path(run_path) / "data-cache").expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{PREFIX}*"):  # this run's earlier cache files: the data may have changed
        old.unlink()
    log.info("data cache files: %s", folder)
    return CacheChoice(mode, folder)
