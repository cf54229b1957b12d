"""Training throughput of `zoo.train` against a plain Keras script, measured in one process.

Both sides train the same model (the composed `model` config, built with `zoo.build_model`) on
the same scikit-learn digits training split (test 20 %, then validation 10 %, stratified, seed 42)
with the same normalisation (training-split mean/std), batch 32, steps per epoch, epochs, Adam
with cosine decay from 2e-3, seed, validation after every epoch and TF op determinism (zoo's
default `trainer.deterministic=true`; the plain side calls `enable_op_determinism()` too). The plain
side is `from_tensor_slices(...).shuffle(...).batch(32).prefetch(...)` and `model.fit`.

Variants: `plain`, `zoo` (defaults: TensorBoard and plots on) and `zoo-lean`
(`trainer.tensorboard=false trainer.plots=false`). Per run, in examples per second:
  fit     training examples / whole `fit` seconds (zoo: `metrics.json` `train_seconds`), warm-up in;
  steady  epochs 2..N only, first-epoch tracing excluded (an epoch timer callback is appended last,
          for zoo by wrapping `keras.Model.fit` during `zoo.train`, so it times every zoo callback);
  steady per CPU-second: the same epochs over this process's CPU time, which other jobs on the
          machine disturb much less than wall time (the `load` column is the 1-minute load average);
and `call`: seconds of the whole `zoo.train` call (plain: data, build, fit and test evaluation).
An untimed 1-epoch run of each variant warms the process up first; runs alternate
plain, zoo, zoo-lean, plain, ... and the table shows medians.

    python scripts/benchmark_training.py [--model cnn|mlp] [--epochs 10] [--repeats 3] \
        [--output benchmark_training.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import zoo

SEED, BATCH, LR = 42, 32, 2e-3
VARIANTS = ("plain", "zoo", "zoo-lean")


def overrides(model: str, epochs: int, lean: bool) -> list[str]:
    base = ["experiment=mlp_digits"] if model == "mlp" else ["experiment=cnn_digits"]
    base += [f"trainer.epochs={epochs}", f"trainer.batch_size={BATCH}", f"trainer.learning_rate={LR}",
             "trainer.lr_schedule=cosine", "trainer.deterministic=true", f"trainer.seed={SEED}"]
    return base + (["trainer.tensorboard=false", "trainer.plots=false"] if lean else [])


def digits(flat: bool) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The same seeded, stratified splits and normalisation as zoo's `digits` dataset."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x, y = x.astype(np.float32), y.astype(np.int32)
    x = x if flat else x.reshape(-1, 8, 8, 1)
    rest, test = train_test_split(np.arange(len(y)), test_size=0.2, random_state=SEED, stratify=y)
    train, val = train_test_split(rest, test_size=0.1, random_state=SEED, stratify=y[rest])
    features = x[train].reshape(-1, x.shape[-1]).astype(np.float64)
    mean, std = features.mean(0), features.std(0)
    std[std < 1e-7] = 1.0
    norm = lambda i: ((x[i] - mean.astype(np.float32)) / std.astype(np.float32), y[i])  # noqa: E731
    return {"train": norm(train), "validation": norm(val), "test": norm(test)}


def epoch_timer():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        """(wall, process CPU) clock readings at the start of training and after every epoch."""

        def on_train_begin(self, logs=None):
            self.ends = [(time.perf_counter(), time.process_time())]

        def on_epoch_end(self, epoch, logs=None):
            self.ends.append((time.perf_counter(), time.process_time()))

    return EpochTimer()


def run_plain(model_name: str, epochs: int, cfg) -> dict:
    import keras
    import tensorflow as tf

    started = time.perf_counter()
    keras.backend.clear_session()
    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    data = digits(flat=model_name == "mlp")
    (x, y), n = data["train"], len(data["train"][1])
    train = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(n, seed=SEED).batch(BATCH)
    train = train.prefetch(tf.data.AUTOTUNE)
    val, test = (tf.data.Dataset.from_tensor_slices(data[s]).batch(BATCH).cache().prefetch(tf.data.AUTOTUNE)
                 for s in ("validation", "test"))
    params = {k: v for k, v in dict(cfg.model).items() if k != "name"}
    model = zoo.build_model(cfg.model.name, input_shape=x.shape[1:], num_classes=10, **params)
    steps = math.ceil(n / BATCH)
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(LR, epochs * steps)),
                  loss=keras.losses.SparseCategoricalCrossentropy(),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")], jit_compile=False)
    timer = epoch_timer()
    fit_started = time.perf_counter()
    model.fit(train, epochs=epochs, validation_data=val, callbacks=[timer], verbose=0, shuffle=False)
    fit_seconds = time.perf_counter() - fit_started
    accuracy = model.evaluate(test, verbose=0, return_dict=True)["accuracy"]
    return result(n, epochs, fit_seconds, timer.ends, time.perf_counter() - started, accuracy,
                  model.count_params())


def timed_zoo_train(args: list[str]) -> tuple[object, int, list[tuple[float, float]], float]:
    """`zoo.train` of `args` in a temporary folder, with an epoch timer on `fit`.

    Returns the result, the number of training examples, the timer's readings and the call's seconds.
    """
    import keras

    keras.backend.clear_session()
    timer, original = epoch_timer(), keras.Model.fit
    keras.Model.fit = lambda self, *a, callbacks=None, **kwargs: original(
        self, *a, callbacks=[*(callbacks or []), timer], **kwargs)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            res = zoo.train(zoo.compose(args), run_dir=Path(tmp) / "run")
            seconds = time.perf_counter() - started
            n = json.loads((res.run_dir / "dataset.json").read_text())["num_examples"]["train"]
    finally:
        keras.Model.fit = original
    return res, n, timer.ends, seconds


def run_zoo(model_name: str, epochs: int, lean: bool) -> dict:
    res, n, ends, seconds = timed_zoo_train(overrides(model_name, epochs, lean))
    m = res.metrics
    return result(n, epochs, m["train_seconds"], ends, seconds, m["test"]["accuracy"],
                  res.model.count_params())


def result(n: int, epochs: int, fit_seconds: float, ends: list[tuple[float, float]],
           call_seconds: float, accuracy: float, params: int) -> dict:
    steady, cpu = (ends[-1][i] - ends[1][i] if len(ends) > 2 else math.nan for i in (0, 1))
    return {"train_examples": n, "params": params, "fit_seconds": fit_seconds,
            "fit_eps": n * epochs / fit_seconds, "first_epoch_seconds": ends[1][0] - ends[0][0],
            "steady_seconds": steady, "steady_eps": n * (len(ends) - 2) / steady,
            "steady_cpu_seconds": cpu, "steady_eps_cpu": n * (len(ends) - 2) / cpu,
            "call_seconds": call_seconds, "test_accuracy": accuracy, "loadavg": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=("cnn", "mlp"), default="cnn")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=Path("benchmark_training.json"))
    args = parser.parse_args()
    cfg = zoo.compose(overrides(args.model, args.epochs, lean=False))
    run = {"plain": lambda e: run_plain(args.model, e, cfg),
           "zoo": lambda e: run_zoo(args.model, e, lean=False),
           "zoo-lean": lambda e: run_zoo(args.model, e, lean=True)}
    for name in VARIANTS:  # warm-up: TF start, kernels, first graph builds (not timed)
        run[name](1)
    runs: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    for i in range(args.repeats):
        for name in VARIANTS:
            runs[name].append(run[name](args.epochs))
            r = runs[name][-1]
            print(f"  repeat {i + 1} {name:9s} fit {r['fit_eps']:7.0f} ex/s  "
                  f"steady {r['steady_eps']:7.0f} ex/s  call {r['call_seconds']:6.2f} s", flush=True)
    keys = ("fit_eps", "steady_eps", "steady_eps_cpu", "fit_seconds", "first_epoch_seconds",
            "call_seconds", "test_accuracy", "loadavg")
    med = {name: {k: statistics.median(r[k] for r in runs[name]) for k in keys} for name in VARIANTS}
    ratios = {name: {k: med[name][k] / med["plain"][k] for k in ("fit_eps", "steady_eps", "steady_eps_cpu")}
              for name in VARIANTS[1:]}
    n = runs["plain"][0]["train_examples"]
    print(f"\nmodel={args.model} epochs={args.epochs} batch={BATCH} train examples={n} "
          f"steps/epoch={math.ceil(n / BATCH)} params={runs['plain'][0]['params']:,} "
          f"medians of {args.repeats} runs\nTF op determinism ON on both sides (trainer.deterministic=true); "
          f"Adam, cosine decay from {LR}; validation every epoch on both sides")
    print(f"{'variant':9s} {'fit ex/s':>8s} {'steady ex/s':>11s} {'steady ex/CPU-s':>15s} {'fit s':>6s} "
          f"{'epoch1 s':>8s} {'call s':>6s} {'test acc':>8s} {'load':>5s}")
    for name in VARIANTS:
        m = med[name]
        print(f"{name:9s} {m['fit_eps']:8.0f} {m['steady_eps']:11.0f} {m['steady_eps_cpu']:15.0f} "
              f"{m['fit_seconds']:6.2f} {m['first_epoch_seconds']:8.2f} {m['call_seconds']:6.2f} "
              f"{m['test_accuracy']:8.4f} {m['loadavg']:5.2f}")
    for name, r in ratios.items():
        print(f"ratio {name}/plain throughput: fit {r['fit_eps']:.2f}  steady {r['steady_eps']:.2f}  "
              f"steady per CPU-second {r['steady_eps_cpu']:.2f}")
    args.output.write_text(json.dumps({
        "model": args.model, "epochs": args.epochs, "batch_size": BATCH, "repeats": args.repeats,
        "deterministic": True, "learning_rate": LR, "lr_schedule": "cosine",
        "zoo_overrides": overrides(args.model, args.epochs, lean=False),
        "medians": med, "ratios": ratios, "runs": runs}, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
