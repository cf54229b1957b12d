"""Time to the first training step: `zoo train` against a plain Keras script, as fresh processes.

Each run is a new Python process started by this script; the clock runs from just before the
process starts until the first `on_train_batch_begin` of `fit` (an import hook appends a callback
to `keras.Model.fit` in the child, which prints the time and exits). Both sides train the digits
MLP: the plain side loads scikit-learn's digits, splits and normalises them, builds the network
with `keras.Sequential` and calls `fit`; the zoo side is `python -m zoo.cli.main train
experiment=mlp_digits` (imports, Hydra config, plugin discovery, data, run folder, model). Runs
alternate plain, zoo, ...; the medians and the zoo - plain difference, of the wall clock and of
the child process's CPU time (user + system, less disturbed by other jobs), are printed with the
load average. For zoo, the `train.log` timestamps of the last run show where the time goes.

    python scripts/benchmark_startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOOK = r'''
import importlib.abc, importlib.util, os, sys, time
T0 = float(os.environ["ZOO_BENCH_T0"])

def patch(keras):
    original = keras.Model.fit

    class FirstStep(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            print(f"FIRST_STEP {time.time() - T0:.4f}", flush=True)
            os._exit(0)

    def fit(self, *args, callbacks=None, **kwargs):
        return original(self, *args, callbacks=[*(callbacks or []), FirstStep()], **kwargs)

    keras.Model.fit = fit

class Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("keras")
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            patch(module)

        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, Hook())
'''

PLAIN = r'''
import numpy as np
import keras
import tensorflow as tf
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

keras.utils.set_random_seed(42)
tf.config.experimental.enable_op_determinism()
x, y = load_digits(return_X_y=True)
x, y = x.astype(np.float32), y.astype(np.int32)
rest, test = train_test_split(np.arange(len(y)), test_size=0.2, random_state=42, stratify=y)
train, val = train_test_split(rest, test_size=0.1, random_state=42, stratify=y[rest])
mean, std = x[train].mean(0), x[train].std(0) + 1e-7
norm = lambda i: ((x[i] - mean) / std, y[i])
ds = tf.data.Dataset.from_tensor_slices(norm(train)).shuffle(len(train), seed=42).batch(32).prefetch(-1)
val_ds = tf.data.Dataset.from_tensor_slices(norm(val)).batch(32).cache()
model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(128, activation="relu"),
                          keras.layers.Dropout(0.2), keras.layers.Dense(64, activation="relu"),
                          keras.layers.Dropout(0.2), keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(ds, epochs=1, validation_data=val_ds, verbose=0)
'''


CPU: dict[str, list[float]] = {"plain": [], "zoo": []}  # the child's user+system seconds


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def first_step(code: str, argv: list[str], cwd: Path, side: str | None = None) -> float:
    env = {**os.environ, "ZOO_BENCH_T0": f"{time.time():.6f}", "TF_CPP_MIN_LOG_LEVEL": "2"}
    cpu = children_cpu()
    proc = subprocess.run([sys.executable, "-c", code, *argv], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=600)
    if side:
        CPU[side].append(children_cpu() - cpu)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("FIRST_STEP ")]
    if not lines:
        raise SystemExit(f"no training step ({proc.returncode}): {proc.stderr[-2000:]}")
    return float(lines[-1].split()[1])


def zoo_code(run_dir: Path) -> tuple[str, list[str]]:
    start = "import runpy, sys; sys.argv = ['zoo'] + sys.argv[1:]; runpy.run_module('zoo.cli.main', " \
            "run_name='__main__', alter_sys=True)"
    return HOOK + start, ["train", "experiment=mlp_digits", "trainer.epochs=1", f"hydra.run.dir={run_dir}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    times: dict[str, list[float]] = {"plain": [], "zoo": []}
    with tempfile.TemporaryDirectory() as tmp:
        first_step(HOOK + PLAIN, [], Path(tmp))  # warm the file cache (not timed)
        for i in range(args.repeats + 1):
            run_dir = Path(tmp) / f"run{i}"
            code, argv = zoo_code(run_dir)
            seconds = first_step(code, argv, Path(tmp), "zoo" if i else None)
            if i == 0:
                continue  # the zoo side's warm-up
            times["zoo"].append(seconds)
            times["plain"].append(first_step(HOOK + PLAIN, [], Path(tmp), "plain"))
            print(f"  repeat {i}: plain {times['plain'][-1]:.2f} s ({CPU['plain'][-1]:.2f} CPU-s)  "
                  f"zoo {times['zoo'][-1]:.2f} s ({CPU['zoo'][-1]:.2f} CPU-s)  "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)
        log = (run_dir / "train.log").read_text()
    med = {k: statistics.median(v) for k, v in times.items()}
    cpu = {k: statistics.median(v) for k, v in CPU.items()}
    print(f"\nmedians of {args.repeats}: plain {med['plain']:.2f} s, zoo {med['zoo']:.2f} s, "
          f"zoo - plain {med['zoo'] - med['plain']:+.2f} s; CPU plain {cpu['plain']:.2f} s, zoo "
          f"{cpu['zoo']:.2f} s, zoo - plain {cpu['zoo'] - cpu['plain']:+.2f} s; load average after: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("last zoo run's train.log:\n" + log)


if __name__ == "__main__":
    main()
