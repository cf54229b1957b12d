"""Which share of the data this process reads: worker `index` of `count` under multi-worker training.

The trainer sets it around the dataset's `load` (`reading_share`); a streaming reader asks for it
(`current_share`) and keeps record batch k when `k % count == index`. Outside multi-worker training
the share is (0, 1): everything.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import NamedTuple


class Share(NamedTuple):
    index: int
    count: int

    def owns(self, k: int) -> bool:
        """Whether record batch `k` (counted over all files in order) is this worker's."""
        return k % self.count == self.index


WHOLE = Share(0, 1)
_share: ContextVar[Share] = ContextVar("zoo_data_share", default=WHOLE)


def current_share() -> Share:
    return _share.get()


@contextlib.contextmanager
def reading_share(index: int, count: int) -> Iterator[Share]:
    """Within the block, streaming readers read only share `index` of `count`."""
    token = _share.set(Share(int(index), int(count)))
    try:
        yield _share.get()
    finally:
        _share.reset(token)
