"""Reading the user's text files with errors that name the file and the fix."""

from __future__ import annotations

from pathlib import Path

from zoo.core.errors import DataError


def read_utf8(path: str | Path) -> str:
    """The UTF-8 text of `path` (a byte-order mark is dropped); a DataError names a file in
    another encoding, with the offending byte and its offset."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataError(f"{path} is not UTF-8 text (byte {error.object[error.start]:#x} at offset "
                        f"{error.start}): re-save it as UTF-8") from None
