"""Which share of the data this process reads: worker `index` of `count` under multi-worker training.

The trainer sets it around the dataset's `load` (`reading_share`); a streaming reader asks for it
(`current_share`) and keeps file j when `j % count == index` if there are at least `count` files,
else record batch k (counted over all files) when `k % count == index`. Outside multi-worker training
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

    def owns(self, k: int, file: int = 0, files: int = 1) -> bool:
        """Whether record batch `k` (counted over all files in order) of file `file` (of `files`)
        is this worker's: whole files when there are at least as many files as workers."""
        return owner(self.count, k, file, files) == self.index


def owner(count: int, k: int, file: int, files: int) -> int:
    """The worker (of `count`) that reads record batch `k` of file `file` (of `files`): file j goes
    to worker j mod N when there are at least N files, else batch k to worker k mod N."""
    return (file if files >= count else k) % count


def unit(count: int, files: int) -> str:
    """What the workers share: "files" or "record batches"."""
    return "files" if files >= count else "record batches"


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
