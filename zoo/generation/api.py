"""`generate(prompts, run_dir=... | bundle=...)`: completions from a run (through its family's
`ExportModule.generate`) or from an exported bundle (the TF-free ONNX loop)."""

from __future__ import annotations

from pathlib import Path

from zoo.core.errors import ZooError
from zoo.runtime.generation_options import GenerationOptions


def generate(prompts: list[str], run_dir: str | Path | None = None, bundle: str | Path | None = None,
             checkpoint: str = "final", options: GenerationOptions | None = None) -> list[str]:
    """One completion per prompt; `bundle` never imports TensorFlow."""
    options = options or GenerationOptions()
    if bool(run_dir) == bool(bundle):
        raise ZooError("give run_dir=RUN (a trained run) or bundle=DIR (an exported one), "
                       "not both or neither")
    if not prompts:
        raise ZooError("no prompts: give prompt=TEXT or input=FILE (one prompt a line)")
    if bundle:
        from zoo.runtime.generate import BundleGenerator

        return BundleGenerator.open(bundle).complete(prompts, options)
    return generate_from_run(run_dir, prompts, options, checkpoint)


def generate_from_run(run_dir: str | Path, prompts: list[str], options: GenerationOptions,
                      checkpoint: str) -> list[str]:
    from zoo.core.registry import get_registry
    from zoo.run.rundir import open_finished
    from zoo.tasks.select import build_part

    run, cfg = open_finished(run_dir)
    return build_part("export", cfg, run, get_registry()).generate(list(prompts), options, checkpoint)
