"""DP-SGD's price, measured in one process: the step-time ratio and the accuracy at two noise levels.

Step time: the same MLP (the composed `model` config on scikit-learn digits, 64 features, no
normalisation, as `privacy=dp_sgd` has it) is compiled twice with the same optimizer settings:
`plain` is Keras `fit` as it is, `private` has zoo's DP-SGD step installed
(`zoo.training.dp_sgd.install_dp_sgd`: per-example Jacobian, clipping, noise). After an untimed
warm-up of each side, `fit` runs `--steps` steps on one side, then the other, alternating for
`--repeats` rounds; the table shows the median wall and process-CPU milliseconds per step and the
private/plain ratio (the `load` column is the 1-minute load average: other jobs disturb wall time).

Accuracy (`--runs`): `zoo.train` of experiment=mlp_digits without privacy and with privacy=dp_sgd
at each `--noise` multiplier, same data (dataset.normalize=false), same epochs; test accuracy and
the final epsilon at delta = 1/(10 N).

    python scripts/benchmark_privacy.py [--batch 64] [--steps 100] [--repeats 5] \
        [--runs --epochs 30 --noise 0.7 1.5] [--output benchmark_privacy.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import zoo

SEED = 42
MODEL = ["experiment=mlp_digits", "model.hidden_sizes=[128,64]", "model.dropout=0.0"]
QUICK = ["trainer.plots=false", "trainer.tensorboard=false"]


def digits_batches(batch: int):
    """Digits features and labels (raw pixels 0..16) as a repeating, batched tf.data stream."""
    import tensorflow as tf
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    ds = tf.data.Dataset.from_tensor_slices((x.astype("float32"), y.astype("int32")))
    return ds.shuffle(len(y), seed=SEED).batch(batch, drop_remainder=True).repeat().prefetch(2), len(y)


def build(lr: float):
    import keras

    cfg = zoo.compose(MODEL)
    model = zoo.build_model("mlp", (64,), 10, hidden_sizes=list(cfg.model.hidden_sizes), dropout=0.0)
    model.compile(optimizer=keras.optimizers.Adam(lr),
                  loss=keras.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
    return model


def time_steps(batch: int, steps: int, repeats: int) -> dict:
    """Median ms per step of plain Keras fit vs zoo's DP-SGD fit, alternating sides."""
    import keras

    from zoo.training.accounting import PrivacyPlan
    from zoo.training.dp_sgd import install_dp_sgd

    keras.utils.set_random_seed(SEED)
    stream, n = digits_batches(batch)
    plain = build(2e-3)
    private = build(2e-3)
    plan = PrivacyPlan(l2_norm_clip=1.0, noise_multiplier=1.0, delta=1 / (10 * n),
                       sampling_rate=batch / n, global_batch=batch, train_examples=n,
                       steps_per_epoch=steps, planned_steps=steps * repeats)
    install_dp_sgd(private, plan, noise_seed=SEED)
    sides = {"plain": plain, "private": private}
    for model in sides.values():  # warm-up: tracing and the first steps, untimed
        model.fit(stream, epochs=1, steps_per_epoch=max(10, steps // 5), verbose=0, shuffle=False)
    wall: dict[str, list[float]] = {k: [] for k in sides}
    cpu: dict[str, list[float]] = {k: [] for k in sides}
    for _ in range(repeats):
        for name, model in sides.items():
            w, c = time.perf_counter(), time.process_time()
            model.fit(stream, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
            wall[name].append(1000 * (time.perf_counter() - w) / steps)
            cpu[name].append(1000 * (time.process_time() - c) / steps)
    result = {name: {"wall_ms_per_step": statistics.median(wall[name]),
                     "cpu_ms_per_step": statistics.median(cpu[name])} for name in sides}
    result["ratio_wall"] = result["private"]["wall_ms_per_step"] / result["plain"]["wall_ms_per_step"]
    result["ratio_cpu"] = result["private"]["cpu_ms_per_step"] / result["plain"]["cpu_ms_per_step"]
    result.update(batch=batch, steps=steps, repeats=repeats, load=os.getloadavg()[0],
                  parameters=plain.count_params())
    return result


def accuracy_runs(epochs: int, batch: int, noises: list[float], lr: float) -> list[dict]:
    """`zoo.train` without privacy and at each noise multiplier; test accuracy and epsilon."""
    common = [*MODEL, *QUICK, f"trainer.epochs={epochs}", f"trainer.batch_size={batch}",
              f"trainer.learning_rate={lr}", "trainer.lr_schedule=constant", f"trainer.seed={SEED}",
              "dataset.normalize=false"]
    variants = [("non-private", [])] + [(f"dp_sgd noise {s:g}", ["privacy=dp_sgd",
                                                                   f"privacy.noise_multiplier={s}"])
                                        for s in noises]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in variants:
            result = zoo.train(zoo.compose([*common, *extra]), Path(tmp) / name.replace(" ", "_"))
            privacy = result.metrics.get("privacy", {})
            rows.append({"run": name, "test_accuracy": result.metrics["test"]["accuracy"],
                         "epsilon": privacy.get("epsilon"), "delta": privacy.get("delta"),
                         "noise_multiplier": privacy.get("noise_multiplier"),
                         "steps": privacy.get("steps"), "train_seconds": result.metrics["train_seconds"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--runs", action="store_true", help="also train for accuracy and epsilon")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=0.003)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.7, 1.5])
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    report = {"step_time": time_steps(args.batch, args.steps, args.repeats)}
    t = report["step_time"]
    print(f"step time, MLP {t['parameters']:,} parameters, batch {args.batch}, median of "
          f"{args.repeats} x {args.steps} steps, load {t['load']:.1f}")
    print(f"{'side':10} {'wall ms/step':>13} {'cpu ms/step':>12}")
    for side in ("plain", "private"):
        print(f"{side:10} {t[side]['wall_ms_per_step']:13.2f} {t[side]['cpu_ms_per_step']:12.2f}")
    print(f"private / plain: {t['ratio_wall']:.2f}x wall, {t['ratio_cpu']:.2f}x CPU")
    if args.runs:
        report["runs"] = accuracy_runs(args.epochs, args.batch, args.noise, args.lr)
        print(f"\n{'run':20} {'test accuracy':>13} {'epsilon':>8} {'delta':>9} {'steps':>6}")
        for row in report["runs"]:
            eps = "-" if row["epsilon"] is None else f"{row['epsilon']:.2f}"
            delta = "-" if row["delta"] is None else f"{row['delta']:.2g}"
            print(f"{row['run']:20} {row['test_accuracy']:13.4f} {eps:>8} {delta:>9} "
                  f"{row['steps'] or '-':>6}")
    if args.output:
        args.output.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
