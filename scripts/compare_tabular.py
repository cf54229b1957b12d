"""Test MAE of `zoo train` on a raw CSV next to a plain Keras script that preprocesses by hand.

The CSV is scikit-learn's raw diabetes data written as people's files are
(`scripts/make_tabular_csv.py`: a text column, a derived category, blanks and NA, a large target).
The plain script imputes blanks with the training mean, standardises, one-hot encodes the two text
columns and standardises the target, by hand with numpy, then fits the same MLP (128-64, Adam 2e-3,
cosine decay, batch 32) on the same train/validation/test rows (the same scikit-learn split calls).

    python scripts/compare_tabular.py --seeds 42 7 1 --epochs 30
"""

from __future__ import annotations

import argparse
import csv
import math
import tempfile
from pathlib import Path

import numpy as np

NUMERIC = ["age", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
TEXT = ["sex", "clinic"]


def split_rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train, validation and test row indices, as zoo splits (test 0.2, then validation 0.1)."""
    from sklearn.model_selection import train_test_split

    rest, test = train_test_split(np.arange(n), test_size=0.2, random_state=seed)
    train, val = train_test_split(np.arange(len(rest)), test_size=0.1, random_state=seed)
    return rest[train], rest[val], test


def plain_keras(path: Path, seed: int, epochs: int) -> float:
    import keras

    rows = list(csv.DictReader(path.open()))
    train, val, test = split_rows(len(rows), seed)
    blank = lambda v: v.strip().lower() in ("", "na")  # noqa: E731
    num = np.array([[np.nan if blank(r[c]) else float(r[c]) for c in NUMERIC] for r in rows], np.float32)
    mean = np.nanmean(num[train], axis=0)
    missing = np.isnan(num).astype(np.float32)[:, [NUMERIC.index("bmi"), NUMERIC.index("bp")]]
    filled = np.where(np.isnan(num), mean, num)
    scaled = (filled - filled[train].mean(0)) / filled[train].std(0)
    onehots = []
    for c in TEXT:
        values = sorted({r[c] for i, r in enumerate(rows) if i in set(train)})
        onehots.append(np.array([[r[c] == v for v in values] for r in rows], np.float32))
    x = np.concatenate([scaled, missing, *onehots], axis=1)
    y = np.array([float(r["cost"]) for r in rows], np.float32)
    y_mean, y_std = y[train].mean(), y[train].std()
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(64, activation="relu"), keras.layers.Dense(1)])
    steps = math.ceil(len(train) / 32) * epochs
    model.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(2e-3, steps)), "mse")
    model.fit(x[train], (y[train] - y_mean) / y_std, validation_data=(x[val], (y[val] - y_mean) / y_std),
              epochs=epochs, batch_size=32, verbose=0)
    pred = model.predict(x[test], verbose=0).reshape(-1) * y_std + y_mean
    return float(np.mean(np.abs(pred - y[test])))


def zoo_train(path: Path, seed: int, epochs: int, run_dir: Path) -> float:
    import zoo

    cfg = zoo.compose(["model=mlp", "dataset=csv", f"dataset.path={path}", "dataset.target=cost",
                       f"trainer.seed={seed}", f"trainer.epochs={epochs}", "trainer.plots=false",
                       "trainer.tensorboard=false"])
    return float(zoo.train(cfg, run_dir).metrics["test"]["mae"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 7, 1])
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    import runpy

    make = runpy.run_path(str(Path(__file__).with_name("make_tabular_csv.py")))
    with tempfile.TemporaryDirectory() as tmp:
        path = make["write_diabetes_csv"](Path(tmp) / "diabetes.csv")
        rows = list(csv.DictReader(path.open()))
        results = []
        for seed in args.seeds:
            _, _, test = split_rows(len(rows), seed)
            train_mean = np.mean([float(r["cost"]) for i, r in enumerate(rows) if i not in set(test)])
            mean_mae = float(np.mean([abs(float(rows[i]["cost"]) - train_mean) for i in test]))
            plain = plain_keras(path, seed, args.epochs)
            ours = zoo_train(path, seed, args.epochs, Path(tmp) / f"run{seed}")
            results.append((seed, mean_mae, plain, ours))
            print(f"seed {seed}: test MAE  mean predictor {mean_mae:,.0f}  plain Keras {plain:,.0f}  "
                  f"zoo train {ours:,.0f}")
        means = np.mean([r[1:] for r in results], axis=0)
        print(f"mean over {len(results)} seeds: mean predictor {means[0]:,.0f}  plain Keras {means[1]:,.0f}  "
              f"zoo train {means[2]:,.0f}  (zoo / plain = {means[2] / means[1]:.3f})")


if __name__ == "__main__":
    main()
