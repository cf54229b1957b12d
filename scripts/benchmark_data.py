"""Data at size: `zoo train` on a large table against a plain Arrow + numpy + tf.data script.

Data: scikit-learn's raw diabetes table as `scripts/make_tabular_csv.py` writes it (a text column,
a derived category, blanks and `NA`, a target in the hundreds of thousands), its rows repeated to
`--rows` rows, as CSV and (`--formats parquet`) as Parquet written from that CSV with Arrow.

Both sides train the same 128-64-1 MLP on the standardised target for one epoch at batch
`--batch`, validate once and score the test split:
  zoo    `zoo.train(model=mlp dataset=csv dataset.path=FILE dataset.target=cost ...)`
  plain  `pyarrow.csv.read_csv` / `pyarrow.parquet.read_table`, numpy imputation (mean +
         indicator), one-hot categories, standardisation, `tf.data.Dataset.from_tensor_slices`,
         `model.fit`
Each side runs in its own child process, alternating sides, `--repeats` times; the parent reads
the child's peak RSS from `os.wait4`. Reported: time to the first training step (from the child's
start), whole-run wall time, peak RSS, and the ratios zoo/plain (of the medians; in brackets the
lowest and highest ratio of a plain run and the zoo run after it).

    python scripts/benchmark_data.py --rows 100000 1000000 10000000 --formats csv parquet \
        [--repeats 1] [--workdir /tmp/bench-data] [--output benchmark_data.json]

The files are written to `--workdir` (the 10 M-row CSV is about 0.6 GB): delete them afterwards.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BATCH, SEED, TARGET = 4096, 42, "cost"


def small_csv(workdir: Path) -> Path:
    spec = importlib.util.spec_from_file_location("make_tabular_csv", HERE / "make_tabular_csv.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_diabetes_csv(workdir / "diabetes.csv")


def big_csv(workdir: Path, rows: int) -> Path:
    """The diabetes CSV's data lines repeated to `rows` rows (written in chunks, text as is)."""
    path = workdir / f"diabetes_{rows}.csv"
    if path.exists():
        return path
    header, *body = small_csv(workdir).read_text().splitlines()
    chunk = "\n".join(body) + "\n"
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as handle:
        handle.write(header + "\n")
        for _ in range(rows // len(body)):
            handle.write(chunk)
        rest = rows % len(body)
        if rest:
            handle.write("\n".join(body[:rest]) + "\n")
    tmp.replace(path)
    return path


def big_parquet(csv_path: Path) -> Path:
    """The CSV as Parquet, converted batch by batch (blanks and `NA` become nulls)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    path = csv_path.with_suffix(".parquet")
    if path.exists():
        return path
    convert = pacsv.ConvertOptions(null_values=["", "NA"], strings_can_be_null=True)
    reader = pacsv.open_csv(csv_path, convert_options=convert)
    tmp = path.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)
    tmp.replace(path)
    return path


# --- the children ---------------------------------------------------------------------------

def first_step_callback(marker: Path):
    import keras

    class FirstStep(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if not marker.exists():
                marker.write_text(repr(time.time()))

    return FirstStep()


def child_zoo(path: Path, marker: Path, extra: list[str]) -> dict:
    import zoo
    import zoo.training.callbacks as cb

    original = cb.build_callbacks
    cb.build_callbacks = lambda *a, **k: original(*a, **k) + [first_step_callback(marker)]
    cfg = zoo.compose(["model=mlp", "dataset=csv", f"dataset.path={path}", f"dataset.target={TARGET}",
                       "trainer.epochs=1", f"trainer.batch_size={BATCH}", f"trainer.seed={SEED}",
                       "trainer.plots=false", "trainer.tensorboard=false", *extra])
    with tempfile.TemporaryDirectory() as run_dir:
        result = zoo.train(cfg, Path(run_dir) / "run")
    return {"mae": result.metrics["test"]["mae"]}


def child_plain(path: Path, marker: Path) -> dict:
    import keras
    import numpy as np
    import pyarrow as pa
    import tensorflow as tf

    keras.utils.set_random_seed(SEED)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
    else:
        import pyarrow.csv as pacsv

        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
            null_values=["", "NA"], strings_can_be_null=True))
    y = table[TARGET].to_numpy().astype(np.float32)
    u = np.random.default_rng(SEED).random(len(y))
    test, val = u < 0.2, (u >= 0.2) & (u < 0.28)
    train = ~(test | val)
    columns = []
    for name in table.column_names:
        if name == TARGET:
            continue
        column = table[name]
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            codes = column.combine_chunks().dictionary_encode()
            ids = codes.indices.fill_null(len(codes.dictionary)).to_numpy()
            columns.append(np.eye(len(codes.dictionary) + 1, dtype=np.float32)[ids])
            continue
        x = column.to_numpy(zero_copy_only=False).astype(np.float32)
        missing = np.isnan(x)
        fill = x[train & ~missing].mean()
        x = np.where(missing, fill, x)
        x = (x - x[train].mean()) / (x[train].std() + 1e-7)
        columns.append(x[:, None])
        if missing.any():
            columns.append(missing[:, None].astype(np.float32))
    x = np.concatenate(columns, axis=1)
    mean, std = y[train].mean(), y[train].std()
    z = (y - mean) / std
    model = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(64, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    ds = tf.data.Dataset.from_tensor_slices((x[train], z[train])).shuffle(10000, seed=SEED)
    val_ds = tf.data.Dataset.from_tensor_slices((x[val], z[val])).batch(BATCH)
    model.fit(ds.batch(BATCH).prefetch(tf.data.AUTOTUNE), epochs=1, validation_data=val_ds,
              callbacks=[first_step_callback(marker)], verbose=0)
    pred = model.predict(x[test], batch_size=BATCH, verbose=0).reshape(-1) * std + mean
    return {"mae": float(np.abs(pred - y[test]).mean())}


# --- the parent -----------------------------------------------------------------------------

def run_child(side: str, path: Path, extra: list[str], cwd: Path | None) -> dict:
    """One side in a child process: first-step and whole times from its start, peak RSS (MB)."""
    with tempfile.TemporaryDirectory() as tmp:
        marker, out = Path(tmp) / "first", Path(tmp) / "out.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--child", side, "--path", str(path),
                   "--marker", str(marker), "--result", str(out), "--extra", json.dumps(extra)]
        started = time.time()
        process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        ended = time.time()
        if status != 0 or not out.exists():
            raise SystemExit(f"{side} child failed on {path} (status {status})")
        result = json.loads(out.read_text())
        result.update(first_step=float(marker.read_text()) - started, total=ended - started,
                      peak_mb=usage.ru_maxrss / 1024)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--formats", nargs="+", default=["csv", "parquet"])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--sides", nargs="+", default=["plain", "zoo"], choices=["plain", "zoo"],
                        help="e.g. only zoo at 10 M rows, where the plain script needs several GB")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "bench-data")
    parser.add_argument("--zoo-cwd", type=Path, default=None,
                        help="run the zoo side from this checkout (e.g. main's, for the before figures)")
    parser.add_argument("--zoo-args", nargs="*", default=[], help="extra zoo overrides")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--child", choices=["zoo", "plain"], help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--marker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--extra", default="[]", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child == "zoo":
            sys.path.insert(0, os.getcwd())  # the checkout the parent chose (--zoo-cwd)
        result = (child_zoo(args.path, args.marker, json.loads(args.extra)) if args.child == "zoo"
                  else child_plain(args.path, args.marker))
        args.result.write_text(json.dumps(result))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows_out = []
    for rows in args.rows:
        csv_path = big_csv(args.workdir, rows)
        for fmt in args.formats:
            path = csv_path if fmt == "csv" else big_parquet(csv_path)
            runs: dict[str, list[dict]] = {side: [] for side in args.sides}
            for _ in range(args.repeats):
                for side in args.sides:
                    runs[side].append(run_child(side, path, args.zoo_args, args.zoo_cwd))
            row = {"rows": rows, "format": fmt, "MB": round(path.stat().st_size / 2**20, 1)}
            for side, results in runs.items():
                for key in ("first_step", "total", "peak_mb", "mae"):
                    row[f"{side}_{key}"] = round(statistics.median(r[key] for r in results), 2)
            if len(runs) == 2:
                for key in ("first_step", "total"):
                    row[f"ratio_{key}"] = round(row[f"zoo_{key}"] / row[f"plain_{key}"], 2)
                    pairs = [z[key] / p[key] for p, z in zip(runs["plain"], runs["zoo"], strict=True)]
                    row[f"ratio_{key}_pairs"] = [round(min(pairs), 2), round(max(pairs), 2)]
                row["extra_peak_mb"] = round(row["zoo_peak_mb"] - row["plain_peak_mb"])
            rows_out.append(row)
            print(json.dumps(row), flush=True)
    print("\n| rows | format | MB | first step zoo / plain (s) | ratio (pairs) | one epoch zoo / plain (s) "
          "| ratio (pairs) | peak RSS zoo / plain (MB) | test MAE zoo / plain |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in (r for r in rows_out if "ratio_total" in r):
        first, total = r["ratio_first_step_pairs"], r["ratio_total_pairs"]
        print(f"| {r['rows']:,} | {r['format']} | {r['MB']} "
              f"| {r['zoo_first_step']} / {r['plain_first_step']} | {r['ratio_first_step']} "
              f"({first[0]}-{first[1]}) | {r['zoo_total']} / {r['plain_total']} | {r['ratio_total']} "
              f"({total[0]}-{total[1]}) "
              f"| {r['zoo_peak_mb']:.0f} / {r['plain_peak_mb']:.0f} "
              f"| {r['zoo_mae']:.0f} / {r['plain_mae']:.0f} |")
    print("\nMemory and time against rows (memory flat and time linear in rows for zoo):\n")
    print("| rows | format | side | peak RSS (MB) | one-epoch run (s) | s per 1 M rows |")
    print("|---|---|---|---|---|---|")
    for r in rows_out:
        for side in args.sides:
            print(f"| {r['rows']:,} | {r['format']} | {side} | {r[f'{side}_peak_mb']:.0f} "
                  f"| {r[f'{side}_total']} | {r[f'{side}_total'] / r['rows'] * 1e6:.1f} |")
    if args.output:
        args.output.write_text(json.dumps(rows_out, indent=2))


if __name__ == "__main__":
    main()
