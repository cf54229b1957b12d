"""Which share of the data this process reads: worker `index` of `count` under multi-worker training.

The trainer sets it around the dataset's `load` (`reading_share`), with `gather`: a function that
sends this worker's partial results (a JSON-able value) to every worker and returns all workers'
values in worker order (the strategy's collectives; `zoo.training.distributed.gather_function`).
Outside multi-worker training the share is (0, 1): everything, and `gather` returns `[value]`.

A streamed table is cut into `dataset.shares` data shares (the worker count by default), a
function of the files and that number only; worker w of N holds the shares `w*S/N .. (w+1)*S/N - 1`
(`owned`). A TFRecord reader keeps file j when `j % count == index` if there are at least `count`
files, else record batch k when `k % count == index`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import NamedTuple


class Share(NamedTuple):
    index: int
    count: int
    gather: Callable[[bytes], list[bytes]] | None = None  # None: a single process

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


def owned(share: Share, shares: int) -> list[int]:
    """The data shares (of `shares`) worker `share.index` of `share.count` holds: a contiguous run,
    so the workers' local batches side by side are the shares' batches in share order."""
    per = shares // share.count
    return list(range(share.index * per, (share.index + 1) * per))


def gather_all(share: Share, value: object) -> list:
    """Every worker's `value` (JSON-able), in worker order: `[value]` in a single process."""
    if share.gather is None or share.count == 1:
        return [value]
    return [json.loads(blob) for blob in share.gather(json.dumps(value).encode())]


@contextlib.contextmanager
def reading_share(index: int, count: int,
                  gather: Callable[[bytes], list[bytes]] | None = None) -> Iterator[Share]:
    """Within the block, streaming readers read only share `index` of `count`; `gather` exchanges
    partial results between the workers (see the module's docstring)."""
    token = _share.set(Share(int(index), int(count), gather))
    try:
        yield _share.get()
    finally:
        _share.reset(token)
