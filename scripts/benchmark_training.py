"""Training throughput of `zoo.train` against plain Keras scripts, every model in one process.

Models (`--models`, default all four), each trained the same way on both sides:
  cnn, mlp  the composed `experiment=cnn_digits` / `mlp_digits` model (built with `zoo.build_model`)
            on the same scikit-learn digits training split (test 20 %, then validation 10 %,
            stratified, seed 42) with the same normalisation, batch 32, Adam with cosine decay from
            2e-3, `--epochs` epochs. The plain side is `from_tensor_slices(...).shuffle(...).batch(32)
            .prefetch(...)` and `model.fit`.
  lstm      `experiment=lstm_text_csv` (bidirectional LSTM, 100 token ids) on `--text-csv`
            (`scripts/make_docstring_corpus.py`, made when missing) with `--lstm-epochs` epochs; the
            plain side reads the same splits with `zoo.load_dataset`, adapts a Keras
            `TextVectorization` on the training texts and fits the same network; both report accuracy.
  bert      MiniLM fine-tuning as in `scripts/benchmark_bert.py` (plain keras-hub against
            `experiment=bert_text_csv`), `--bert-steps` steps x `--bert-epochs` epochs.
Both sides validate after every epoch and use TF op determinism. zoo runs with its defaults
(checkpoints, `history.csv`, `train.log`, TensorBoard and plots on); `--lean` adds a `zoo-lean`
variant with `trainer.tensorboard=false trainer.plots=false`.

Per run, in training examples per second:
  fit          over the whole `fit` call (warm-up and first-epoch tracing included), wall clock
  fit/CPU      the same over this process's CPU time during `fit` (all threads)
  steady       epochs 2..N only (an epoch timer callback is appended last, for zoo by wrapping
               `keras.Model.fit` during `zoo.train`, so it times every zoo callback), wall and CPU
and `call`: seconds of the whole `zoo.train` call (plain: data, build, fit and test evaluation),
`load`: the 1-minute load average when the run ended. An untimed short run of every side warms the
process up first; then each repeat runs every model, alternating plain, zoo (, zoo-lean), and the
tables show medians and the ratios zoo/plain. CPU time is much less disturbed than wall time by
other jobs on a shared machine.

    python scripts/benchmark_training.py [--models cnn mlp lstm bert] [--epochs 10] [--repeats 3] \
        [--output benchmark_training.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import zoo

SEED, BATCH, LR = 42, 32, 2e-3
LSTM_LR, LSTM_LENGTH = 3e-3, 100
MODELS = ("cnn", "mlp", "lstm", "bert")


def overrides(model: str, epochs: int, lean: bool) -> list[str]:
    base = ["experiment=mlp_digits"] if model == "mlp" else ["experiment=cnn_digits"]
    base += [f"trainer.epochs={epochs}", f"trainer.batch_size={BATCH}", f"trainer.learning_rate={LR}",
             "trainer.lr_schedule=cosine", "trainer.deterministic=true", f"trainer.seed={SEED}"]
    return base + lean_overrides(lean)


def lean_overrides(lean: bool) -> list[str]:
    return ["trainer.tensorboard=false", "trainer.plots=false"] if lean else []


def lstm_overrides(path: Path, label: str, epochs: int, lean: bool) -> list[str]:
    return ["experiment=lstm_text_csv", f"dataset.path={path}", f"dataset.label_column={label}",
            f"model.sequence_length={LSTM_LENGTH}", f"trainer.epochs={epochs}", f"trainer.batch_size={BATCH}",
            f"trainer.learning_rate={LSTM_LR}", "trainer.lr_schedule=cosine", "trainer.metrics=[accuracy]",
            f"trainer.seed={SEED}", *lean_overrides(lean)]


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


def timed_fit(fit, model, *args, **kwargs) -> tuple[object, list[tuple[float, float]], float, float]:
    """`fit(model, ...)` with an epoch timer appended; (history, timer readings, wall s, CPU s)."""
    timer = epoch_timer()
    kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), timer]
    wall, cpu = time.perf_counter(), time.process_time()
    history = fit(model, *args, **kwargs)
    return history, timer.ends, time.perf_counter() - wall, time.process_time() - cpu


def plain_start():
    import keras
    import tensorflow as tf

    keras.backend.clear_session()
    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    return keras, tf


def run_plain(model_name: str, epochs: int, cfg) -> dict:
    started = time.perf_counter()
    keras, tf = plain_start()
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
    _, ends, fit_s, fit_cpu = timed_fit(type(model).fit, model, train, epochs=epochs, validation_data=val,
                                        verbose=0, shuffle=False)
    accuracy = model.evaluate(test, verbose=0, return_dict=True)["accuracy"]
    return result(n, epochs, fit_s, fit_cpu, ends, time.perf_counter() - started, accuracy,
                  model.count_params())


def run_plain_lstm(path: Path, label: str, epochs: int, cfg) -> dict:
    """A plain Keras text classifier: TextVectorization adapted on the training texts, then fit."""
    from zoo.data.base import DatasetInfo, TextFacts

    started = time.perf_counter()
    keras, tf = plain_start()
    splits = zoo.load_dataset("text_csv", path=str(path), label_column=label, seed=SEED)
    n = splits.info.num_examples["train"]
    vectorizer = keras.layers.TextVectorization(max_tokens=cfg.model.max_tokens,
                                                output_sequence_length=LSTM_LENGTH)
    vectorizer.adapt(splits.train.map(lambda text, _: text).batch(512))

    def ids(ds):
        return ds.batch(512).map(lambda text, y: (vectorizer(text), y)).unbatch()

    train = ids(splits.train).cache().shuffle(n, seed=SEED).batch(BATCH).prefetch(tf.data.AUTOTUNE)
    val, test = (ids(s).batch(BATCH).cache().prefetch(tf.data.AUTOTUNE)
                 for s in (splits.validation, splits.test))
    info = DatasetInfo(name="text", task="classification", modality="text", input_shape=(LSTM_LENGTH,),
                       input_dtype="int32", num_classes=splits.info.num_classes,
                       text=TextFacts(vocabulary_size=vectorizer.vocabulary_size()))
    params = {k: v for k, v in dict(cfg.model).items() if k != "name"}
    model = zoo.build_model(cfg.model.name, info=info, **params)
    steps = math.ceil(n / BATCH)
    schedule = keras.optimizers.schedules.CosineDecay(LSTM_LR, epochs * steps)
    loss = keras.losses.SparseCategoricalCrossentropy()
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss,
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    _, ends, fit_s, fit_cpu = timed_fit(type(model).fit, model, train, epochs=epochs, validation_data=val,
                                        verbose=0, shuffle=False)
    accuracy = model.evaluate(test, verbose=0, return_dict=True)["accuracy"]
    return result(n, epochs, fit_s, fit_cpu, ends, time.perf_counter() - started, accuracy,
                  model.count_params())


def timed_zoo_train(args: list[str]) -> tuple[object, int, dict]:
    """`zoo.train` of `args` in a temporary folder, its `fit` timed as `timed_fit` times the plain one.

    Returns the result, the number of training examples and the timings (`ends`, `fit`, `fit_cpu`,
    `call`).
    """
    import keras

    keras.backend.clear_session()
    original, timings = keras.Model.fit, {}

    def fit(self, *a, **kwargs):
        history, timings["ends"], timings["fit"], timings["fit_cpu"] = timed_fit(original, self, *a, **kwargs)
        return history

    keras.Model.fit = fit
    try:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            res = zoo.train(zoo.compose(args), run_dir=Path(tmp) / "run")
            timings["call"] = time.perf_counter() - started
            n = json.loads((res.run_dir / "dataset.json").read_text())["num_examples"]["train"]
    finally:
        keras.Model.fit = original
    return res, n, timings


def run_zoo(args: list[str], epochs: int, examples: int | None = None) -> dict:
    res, n, t = timed_zoo_train(args)
    return result(examples or n, epochs, t["fit"], t["fit_cpu"], t["ends"], t["call"],
                  res.metrics["test"]["accuracy"], res.model.count_params())


def result(n: int, epochs: int, fit_seconds: float, fit_cpu: float, ends: list[tuple[float, float]],
           call_seconds: float, accuracy: float, params: int) -> dict:
    steady, cpu = (ends[-1][i] - ends[1][i] if len(ends) > 2 else math.nan for i in (0, 1))
    return {"train_examples": n, "params": params, "fit_seconds": fit_seconds, "fit_cpu_seconds": fit_cpu,
            "fit_eps": n * epochs / fit_seconds, "fit_eps_cpu": n * epochs / fit_cpu,
            "first_epoch_seconds": ends[1][0] - ends[0][0],
            "steady_seconds": steady, "steady_eps": n * (len(ends) - 2) / steady,
            "steady_cpu_seconds": cpu, "steady_eps_cpu": n * (len(ends) - 2) / cpu,
            "call_seconds": call_seconds, "test_accuracy": accuracy, "loadavg": os.getloadavg()[0]}


def sides(args: argparse.Namespace) -> dict[str, dict[str, object]]:
    """model -> variant -> `run(epochs, or None for the warm-up)` returning a `result`."""
    variants = ("zoo", "zoo-lean") if args.lean else ("zoo",)
    build = {"cnn": digits_sides, "mlp": digits_sides, "lstm": lstm_sides, "bert": bert_sides}
    return {model: build[model](model, args, variants) for model in args.models}


def digits_sides(model: str, args: argparse.Namespace, variants: tuple[str, ...]) -> dict[str, object]:
    cfg = zoo.compose(overrides(model, args.epochs, lean=False))
    runs: dict[str, object] = {"plain": lambda e: run_plain(model, e or 1, cfg)}
    for v in variants:
        runs[v] = lambda e, lean=v == "zoo-lean": run_zoo(overrides(model, e or 1, lean), e or 1)
    return runs


def lstm_sides(model: str, args: argparse.Namespace, variants: tuple[str, ...]) -> dict[str, object]:
    csv, label = text_csv(args), args.label_column
    cfg = zoo.compose(lstm_overrides(csv, label, args.lstm_epochs, lean=False))
    runs: dict[str, object] = {"plain": lambda e: run_plain_lstm(csv, label, e or 1, cfg)}
    for v in variants:
        runs[v] = lambda e, lean=v == "zoo-lean": run_zoo(lstm_overrides(csv, label, e or 1, lean), e or 1)
    return runs


def bert_sides(model: str, args: argparse.Namespace, variants: tuple[str, ...]) -> dict[str, object]:
    sys.path.insert(0, str(Path(__file__).parent))
    import benchmark_bert as bert

    csv, label = text_csv(args), args.label_column

    def steps(epochs: int | None) -> int:
        return args.bert_steps if epochs else 2

    runs: dict[str, object] = {"plain": lambda e: bert.run_plain(csv, label, steps(e), e or 1)}
    for v in variants:
        runs[v] = lambda e, lean=v == "zoo-lean": run_zoo(
            bert.zoo_overrides(csv, label, steps(e), e or 1) + lean_overrides(lean), e or 1,
            steps(e) * bert.BATCH)
    return runs


def text_csv(args: argparse.Namespace) -> Path:
    if not args.text_csv.exists():
        import subprocess

        script = Path(__file__).with_name("make_docstring_corpus.py")
        subprocess.run([sys.executable, str(script), str(args.text_csv)], check=True)
    return args.text_csv


def epochs_of(args: argparse.Namespace, model: str) -> int:
    return {"lstm": args.lstm_epochs, "bert": args.bert_epochs}.get(model, args.epochs)


KEYS = ("fit_eps", "fit_eps_cpu", "steady_eps", "steady_eps_cpu", "fit_seconds", "first_epoch_seconds",
        "call_seconds", "test_accuracy", "loadavg")
RATIOS = ("fit_eps", "fit_eps_cpu", "steady_eps", "steady_eps_cpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--epochs", type=int, default=10, help="cnn and mlp")
    parser.add_argument("--lstm-epochs", type=int, default=4)
    parser.add_argument("--bert-steps", type=int, default=20)
    parser.add_argument("--bert-epochs", type=int, default=3)
    parser.add_argument("--text-csv", type=Path, default=Path("docstrings.csv"))
    parser.add_argument("--label-column", default="library")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lean", action="store_true", help="also zoo with TensorBoard and plots off")
    parser.add_argument("--output", type=Path, default=Path("benchmark_training.json"))
    args = parser.parse_args()
    table = sides(args)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    for runs in table.values():  # warm-up: TF start, kernels, first graph builds (not timed)
        for run in runs.values():
            run(None)
    results = {m: {v: [] for v in runs} for m, runs in table.items()}
    for i in range(args.repeats):
        for model, runs in table.items():
            for name, run in runs.items():
                r = run(epochs_of(args, model))
                results[model][name].append(r)
                print(f"  repeat {i + 1} {model:4s} {name:8s} fit {r['fit_eps']:8.1f} ex/s "
                      f"{r['fit_eps_cpu']:8.1f} ex/CPU-s  steady {r['steady_eps']:8.1f} ex/s "
                      f"{r['steady_eps_cpu']:8.1f} ex/CPU-s  "
                      f"call {r['call_seconds']:6.2f} s  load {r['loadavg']:.2f}", flush=True)
    med = {m: {v: {k: statistics.median(r[k] for r in rs) for k in KEYS} for v, rs in vs.items()}
           for m, vs in results.items()}
    ratios = {m: {v: {k: med[m][v][k] / med[m]["plain"][k] for k in RATIOS} for v in vs if v != "plain"}
              for m, vs in med.items()}
    print(f"\nmedians of {args.repeats} repeats; load average after: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'model':5s} {'variant':8s} {'fit ex/s':>9s} {'fit ex/CPU-s':>12s} {'steady ex/s':>11s} "
          f"{'steady ex/CPU-s':>15s} {'fit s':>7s} {'epoch1 s':>8s} {'call s':>7s} {'test acc':>8s} "
          f"{'load':>5s}")
    for model, vs in med.items():
        for name, m in vs.items():
            print(f"{model:5s} {name:8s} {m['fit_eps']:9.1f} {m['fit_eps_cpu']:12.1f} "
                  f"{m['steady_eps']:11.1f} {m['steady_eps_cpu']:15.1f} {m['fit_seconds']:7.2f} "
                  f"{m['first_epoch_seconds']:8.2f} "
                  f"{m['call_seconds']:7.2f} {m['test_accuracy']:8.4f} {m['loadavg']:5.2f}")
    print("\nratios zoo/plain (throughput):  fit  fit/CPU  steady  steady/CPU")
    for model, vs in ratios.items():
        for name, r in vs.items():
            print(f"{model:5s} {name:8s}  {r['fit_eps']:17.2f} {r['fit_eps_cpu']:8.2f} "
                  f"{r['steady_eps']:7.2f} {r['steady_eps_cpu']:11.2f}")
    args.output.write_text(json.dumps({
        "args": {k: [str(x) for x in v] if isinstance(v, list) else str(v) for k, v in vars(args).items()},
        "deterministic": True, "medians": med, "ratios": ratios, "runs": results}, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
