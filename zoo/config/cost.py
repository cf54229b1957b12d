"""What a setting will cost, checked before anything is allocated (no TensorFlow here).

A model or dataset spec may declare `cost(node, batch_size) -> {what: bytes}`: the memory of its
largest tensors or tables for the composed settings (an embedding table, one batch of
activations, an attention matrix). `zoo train` refuses a config whose single largest part would
need more than half this machine's memory, naming the figure, the limit and the setting.
"""

from __future__ import annotations

import os
from typing import Any

from zoo.core.errors import ZooError

FLOAT_BYTES = 4


def memory_limit() -> int:
    """Half the machine's physical memory (`ZOO_MEMORY_LIMIT_BYTES` overrides it)."""
    given = os.environ.get("ZOO_MEMORY_LIMIT_BYTES", "")
    if given.isdigit():
        return int(given)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def size_text(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1024 or unit == "PB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PB"


def check_cost(cfg: Any, registry: Any) -> None:
    """Refuse settings whose largest part would not fit, before the run folder or data exist."""
    limit = memory_limit()
    batch = int(cfg.trainer.batch_size)
    for kind, key in (("dataset", "source"), ("model", "name")):
        node = cfg.get(kind)
        spec = registry.get(kind, node[key])
        estimate = getattr(spec, "cost", None)
        if estimate is None:
            continue
        for what, need in (estimate(node, batch) or {}).items():
            if need > limit:
                raise ZooError(f"{kind} {node[key]!r}: {what} would need about {size_text(need)}, "
                               f"more than the {size_text(limit)} allowed (half this machine's "
                               f"memory): lower that setting")


def image_batch_bytes(image_size: Any, channels: int, batch: int) -> dict[str, float]:
    """One batch of float32 images of `image_size` (height, width), or nothing when unset."""
    if not image_size:
        return {}
    height, width = (int(v) for v in list(image_size)[:2])
    need = float(batch) * height * width * channels * FLOAT_BYTES
    return {f"a batch of {batch} images of {height}x{width}x{channels} (dataset.image_size)": need}
