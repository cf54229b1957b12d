"""`zoo list [models|datasets|losses|metrics|modes|plugins|experiments]` (no TensorFlow); `zoo list models
NAME` shows one model in detail (`zoo.cli.model_detail`)."""

from __future__ import annotations

from zoo.config.catalog import group_options
from zoo.core.errors import unknown_name
from zoo.core.registry import Registry, get_registry

KINDS = {"models": "model", "datasets": "dataset", "losses": "loss", "metrics": "metric",
         "modes": "training mode"}
WHAT = (*KINDS, "plugins", "experiments")


def table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    """Columns padded to their widest line; a cell of several lines continues below its row."""
    cells = [[str(c).splitlines() or [""] for c in row] for row in [header, *rows]]
    widths = [max(len(line) for cell in col for line in cell) for col in zip(*cells, strict=False)]
    lines = []
    for row in cells:
        for i in range(max(len(cell) for cell in row)):
            lines.append("  ".join((cell[i] if i < len(cell) else "").ljust(w)
                                   for cell, w in zip(row, widths, strict=False)).rstrip())
    return "\n".join(lines)


def kind_rows(registry: Registry, kind: str) -> list[tuple[str, ...]]:
    rows = []
    for name in registry.names(kind):
        entry = registry.entries[kind][name]
        owners = registry.conflicts.get((kind, name))
        plugin = f"CONFLICT: {', '.join(owners)}" if owners else entry.plugin
        rows.append((name, entry.spec.description, plugin))
    return rows


def plugin_rows(registry: Registry) -> list[tuple[str, ...]]:
    return [(p.name, p.version, "ok" if p.ok else f"FAILED: {p.error}", p.source)
            for p in registry.plugins]


def run_list(args: list[str]) -> int:
    """Print the requested tables; every table when no argument is given."""
    registry = get_registry()
    if len(args) > 1 and args[0] == "models":
        from zoo.cli.model_detail import run_model_detail

        return run_model_detail(registry, args[1:])
    wanted = args or list(WHAT)
    for what in wanted:
        if what not in WHAT:
            raise unknown_name("list", what, WHAT, "choose from " + ", ".join(WHAT))
    for i, what in enumerate(wanted):
        if len(wanted) > 1:
            print(("\n" if i else "") + f"{what}:")
        if what in KINDS:
            print(table(kind_rows(registry, KINDS[what]), ("name", "description", "plugin")))
        elif what == "plugins":
            print(table(plugin_rows(registry), ("plugin", "version", "status", "source")))
        else:
            options = group_options("experiment", registry)
            print(table([(o.name, o.description, o.source) for o in options],
                        ("experiment", "description", "from")))
    return 0
