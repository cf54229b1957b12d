"""`zoo compare RUN_DIR ... | DIR [output=FILE.png]`: a table of finished runs and a plot (no TensorFlow)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from zoo.cli.options import parse_options
from zoo.config.commands import CompareOptions


def run_compare(args: Sequence[str]) -> int:
    """Print the comparison table, best validation metric first, and write the plot."""
    from zoo.cli.listing import table
    from zoo.core.errors import ZooError
    from zoo.sweeps.compare import compare_runs, plot_comparison, table_rows

    paths = [a for a in args if "=" not in a]
    opts = parse_options("compare", CompareOptions, [a for a in args if "=" in a])
    if not paths:
        raise ZooError("zoo compare: give run folders (or a folder that holds them), e.g. "
                       "zoo compare outputs/")
    one_folder = len(paths) == 1 and not (Path(paths[0]) / "metrics.json").exists()
    output = Path(opts.output) if opts.output else (
        Path(paths[0]) / "compare.png" if one_folder else Path("compare.png"))
    if output.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ZooError(f"zoo compare: output={output}: expected a .png, .svg or .pdf file")
    rows, keys, notes = compare_runs(paths)
    header, cells = table_rows(rows, keys, Path(paths[0]) if one_folder else None)
    print(table(cells, tuple(header)))
    mixed = len({(r.model, r.dataset) for r in rows}) > 1
    plot_comparison(output, rows, [f"{c[0]} ({c[1]}, {c[2]})" if mixed else c[0] for c in cells])
    print(f"ranked by {', '.join(sorted({r.validation_name for r in rows}))}; plot: {output}")
    for note in notes:
        print(f"zoo: note: left out {note}", file=sys.stderr)
    return 0
