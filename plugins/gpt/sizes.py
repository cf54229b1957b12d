"""GPT-2 sizes to train from scratch, and where a checkpoint (`model.preset`) lives."""

from __future__ import annotations

from pathlib import Path

from zoo.sdk import ZooError, close_matches

# GPT-2 small is Radford et al. 2019's 124M model; the smaller ones keep its 4x MLP ratio.
SIZES = {
    "tiny": {"num_layers": 2, "num_heads": 2, "hidden_dim": 128, "intermediate_dim": 512},
    "mini": {"num_layers": 4, "num_heads": 4, "hidden_dim": 256, "intermediate_dim": 1024},
    "small": {"num_layers": 12, "num_heads": 12, "hidden_dim": 768, "intermediate_dim": 3072},
}
PRESET_FOLDER = "preset"


def is_size(preset: str) -> bool:
    return preset in SIZES


def architecture(cfg: object) -> dict[str, int]:
    """The size's layer counts and widths, with any explicit `model.*` override."""
    sizes = dict(SIZES[cfg.preset])
    for key in sizes:
        value = getattr(cfg, key, None)
        if value:
            sizes[key] = int(value)
    if sizes["hidden_dim"] % sizes["num_heads"]:
        raise ZooError(f"model.hidden_dim={sizes['hidden_dim']} is not a multiple of model.num_heads="
                       f"{sizes['num_heads']}: pick widths that divide")
    return sizes


def checkpoint(preset: str) -> Path:
    """The local directory to load for `model.preset=preset` (a `gpt` run means its saved preset).

    A keras-hub preset (config.json, tokenizer.json, model.weights.h5) or a Hugging Face GPT-2
    folder (config.json, model.safetensors, vocab.json, merges.txt) both load.
    """
    path = Path(preset).expanduser()
    if not path.is_dir():
        matches = close_matches(preset, SIZES)
        hint = f"did you mean {matches[0]!r}? " if matches else ""
        raise ZooError(f"model.preset={preset!r} is not a size ({', '.join(SIZES)}) or a directory: {hint}"
                       "give a size, a keras-hub preset, a Hugging Face GPT-2 folder or a finished gpt run")
    if (path / "config.yaml").exists() and not (path / "config.json").exists():
        if (path / PRESET_FOLDER / "config.json").exists():
            return path / PRESET_FOLDER
        raise ZooError(f"model.preset={preset!r} is a run folder without RUN/{PRESET_FOLDER} (only "
                       "finished gpt runs write one): give a finished gpt run or a checkpoint")
    if not (path / "config.json").exists():
        raise ZooError(f"model.preset={preset!r} holds no config.json: give a keras-hub preset or a "
                       "Hugging Face GPT-2 folder")
    return path
