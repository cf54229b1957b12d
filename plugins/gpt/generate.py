"""Generation from a trained run with keras-hub's samplers (the run's Keras model, cached decoding)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from zoo.sdk import DatasetInfo, GenerationOptions, RunDirError, TextCodec, cut_at_stop, get_registry

BUCKET = 32  # generation widths are rounded up to this, so few shapes get traced


def keras_sampler(options: GenerationOptions) -> Any:
    """The keras-hub sampler of `options.sampler` (seeded, at the temperature)."""
    import keras_hub

    t, seed = options.temperature, options.seed
    if options.sampler == "greedy":
        return keras_hub.samplers.GreedySampler()
    if options.sampler == "top_k":
        return keras_hub.samplers.TopKSampler(k=options.top_k, seed=seed, temperature=t)
    if options.sampler == "top_p":
        return keras_hub.samplers.TopPSampler(p=options.top_p, seed=seed, temperature=t)
    return keras_hub.samplers.RandomSampler(seed=seed, temperature=t)


def load_model(run: Any, cfg: Any, info: DatasetInfo, checkpoint: str) -> Any:
    """The run's GPT2CausalLM rebuilt through the plugin, with the chosen weights."""
    path = {"final": run.model, "best": run.best_weights, "last": run.last_weights}.get(checkpoint)
    if path is None:
        raise RunDirError(f"checkpoint={checkpoint!r}: expected final, best or last")
    if not path.exists():
        raise RunDirError(f"{path} is missing: the run did not finish; use checkpoint=last or best")
    model = get_registry().model(cfg.model.name).build(cfg.model, info)
    with warnings.catch_warnings():  # model.keras also holds the optimizer, which generation needs not
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model.load_weights(path)
    return model


def generate_ids(model: Any, prompts: list[list[int]], room: list[int], end_id: int) -> list[list[int]]:
    """New token ids for each prompt (at most `room[i]`, ending before `<|endoftext|>`), in one batch."""
    lengths = [len(p) for p in prompts]
    width = max(n + r for n, r in zip(lengths, room, strict=True))
    context = int(model.backbone.max_sequence_length)
    width = min(context, -(-width // BUCKET) * BUCKET)
    # keras-hub stops when every row holds a stop token outside its prompt: the not yet generated
    # positions must not hold <|endoftext|> (id 0 of a fitted BPE), so they are filled with another id
    token_ids = np.full((len(prompts), width), 1 if end_id == 0 else 0, np.int32)
    mask = np.zeros((len(prompts), width), bool)
    for i, ids in enumerate(prompts):
        token_ids[i, :len(ids)], mask[i, :len(ids)] = ids, True
    out = model.generate({"token_ids": token_ids, "padding_mask": mask}, stop_token_ids=(end_id,))
    result = []
    for i, (n, r) in enumerate(zip(lengths, room, strict=True)):
        new = [int(t) for t in np.asarray(out["token_ids"][i])[n:n + r]]
        result.append(new[:new.index(end_id)] if end_id in new else new)
    return result


def generate_from_run(run: Any, cfg: Any, prompts: list[str], options: GenerationOptions,
                      checkpoint: str = "final") -> list[str]:
    """Completions of `prompts` (the prompt itself not repeated)."""
    info = DatasetInfo.load(run.dataset_info)
    model = load_model(run, cfg, info, checkpoint)
    model.compile(sampler=keras_sampler(options))
    codec = TextCodec(Path(run.path) / info.text.tokenizer, int(info.input_shape[0]))
    encoded = [codec.encode(p, options.max_new_tokens) for p in prompts]
    ids = generate_ids(model, [e[0] for e in encoded], [e[1] for e in encoded], codec.end_id)
    return [cut_at_stop(codec.decode(new), options.stop)[0] for new in ids]
