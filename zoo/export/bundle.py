"""What a bundle holds besides the artifact: metadata, preprocessing, labels, assets, model card."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from zoo.runtime.bundle import CONFIG_YAML

NORMALISATION = "(x - mean) / std with the training split's constants (export.json preprocessing)"
ASSET_PATTERNS = ("vocab*", "tokenizer*", "*.vocab", "labels*.txt")


def copy_assets(run_path: Path, out: Path, extra: list[Path]) -> list[str]:
    """Copy what inference needs from the run folder (vocabulary, tokenizer files) into the bundle."""
    found = {p for pattern in ASSET_PATTERNS for p in run_path.glob(pattern)} | set(extra)
    names = []
    for path in sorted(found):
        target = out / path.name
        if path.is_dir():
            shutil.copytree(path, target, dirs_exist_ok=True)
        else:
            shutil.copy2(path, target)
        names.append(path.name)
    return names


def _metrics_lines(run_path: Path) -> list[str]:
    metrics_file = run_path / "metrics.json"
    if not metrics_file.exists():
        return ["- (the run wrote no metrics.json)"]
    try:
        test = json.loads(metrics_file.read_text(encoding="utf-8")).get("test", {})
        return [f"- test {k}: {v:.4f}" for k, v in test.items() if isinstance(v, int | float)]
    except (ValueError, AttributeError):  # a corrupt metrics.json: the card says so, the export goes on
        return ["- (the run's metrics.json is not readable)"]


def _inputs_text(inputs: list[dict[str, Any]]) -> str:
    return ", ".join(f"{i['name']} {i['dtype']}{i['shape']}" for i in inputs)


def model_card(meta: dict[str, Any], info: dict[str, Any], run_path: Path, description: str) -> str:
    """A short Markdown model card: data, metrics, configuration, the export check."""
    check = meta["verification"]
    classes = info.get("class_names") or []
    part = meta.get("part", "model")
    if meta["preprocessing"].get("normalize"):
        scaling = NORMALISATION + ", applied by `zoo predict`/`zoo serve`"
    else:
        scaling = "inside the exported model (data-range units in and out)" if info.get("scaling") else "none"
    examples = "latent draws" if meta.get("input_kind") == "latent" else "held-out examples"
    lines = [
        f"# {meta['name']}", "",
        f"{description or 'A Keras Zoo model'}: model `{meta['model']}` trained on dataset "
        f"`{info['name']}` ({info['task']}, {info['modality']} inputs of shape {info['input_shape']}).", "",
        *([f"This bundle is the `{part}`: {meta.get('description') or part}.", ""]
          if part != "model" else []),
        "## Data",
        f"- examples per split: {info.get('num_examples')}",
        f"- classes: {', '.join(map(str, classes)) if classes else 'n/a (regression)'}",
        f"- scaling: {scaling}",
        "", "## Metrics of the trained run", *_metrics_lines(run_path), "",
        "## Export",
        f"- format: {meta['format']} ({meta['model_file']}), quantize: {meta['quantize']}",
        f"- inputs: {_inputs_text(meta['inputs'])}",
        f"- checked on {check['examples']} {examples}: max |keras - exported| = "
        f"{check['max_abs_diff']:.3g}"
        + (f", {check['metric']} {check['keras']:.4f} -> {check['exported']:.4f}"
           if "metric" in check else "") + (f" ({check['note']})" if "note" in check else ""),
        "", "## Configuration",
        f"The full training config is `{CONFIG_YAML}`; source run: `{meta['run_dir']}`.", "",
    ]
    return "\n".join(lines)
