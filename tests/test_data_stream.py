"""Data at size: tables streamed from CSV and Parquet with Arrow, the per-row split, caching.

Real data: scikit-learn's raw diabetes table as `scripts/make_tabular_csv.py` writes it (text and
derived categories, blanks, `NA`), its rows repeated where size matters; scikit-learn's digits
written as PNG files for the image folder.
"""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf
from test_raw_inputs import write_diabetes_csv

import zoo
from zoo.core.errors import DataError
from zoo.data import csv_data
from zoo.data.configs import CSVDatasetConfig
from zoo.data.rowsplit import split_of

QUICK = ("trainer.plots=false", "trainer.tensorboard=false", "trainer.deterministic=true")


def repeated_csv(path, times, bad=None):
    """The diabetes CSV with its data lines repeated `times` times; `bad=(row, column, text)` puts
    `text` into one cell of data row `row` (counted from 0)."""
    header, *body = write_diabetes_csv(path.parent / "diabetes.csv").read_text().splitlines()
    lines = body * times
    if bad is not None:
        row, column, text = bad
        cells = lines[row].split(",")
        cells[header.split(",").index(column)] = text
        lines[row] = ",".join(cells)
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def to_parquet_folder(csv_path, folder, parts=2):
    """The CSV as `parts` Parquet files in `folder` (rows in order, blanks and NA as nulls)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    table = pacsv.read_csv(csv_path, convert_options=pacsv.ConvertOptions(
        null_values=["", "NA"], strings_can_be_null=True))
    folder.mkdir()
    step = -(-table.num_rows // parts)
    for i in range(parts):
        pq.write_table(table.slice(i * step, step), folder / f"part-{i}.parquet")
    return folder


def load(path, seed=0, **fields):
    return csv_data.load(OmegaConf.structured(CSVDatasetConfig(path=str(path), target="cost", **fields)),
                         seed)


def weights(run_dir):
    import keras

    model = keras.saving.load_model(run_dir / "model.keras", compile=False)
    return [np.asarray(w) for w in model.weights]


def train(path, run_dir, *overrides):
    cfg = zoo.compose(["model=mlp", "model.hidden_sizes=[16]", "dataset=csv", f"dataset.path={path}",
                       "dataset.target=cost", "trainer.epochs=2", "trainer.batch_size=64", *QUICK,
                       *overrides])
    return zoo.train(cfg, run_dir)


def assert_same_feature_stats(got: dict, expected: dict) -> None:
    """Every feature statistic equal (floats to 1e-12: sums combined in another order)."""
    for name, stats in expected["features"].items():
        for key, value in stats.items():
            assert got["features"][name][key] == (pytest.approx(value, rel=1e-12)
                                                  if isinstance(value, float) else value), (name, key)


def test_csv_parquet_and_the_in_memory_path_train_the_same_model(tmp_path):
    """One file, three readers and three caches: the same split, statistics and weights; the
    Parquet run's ONNX bundle fed raw rows predicts what Keras predicts."""
    from zoo.export.exporter import export

    path = repeated_csv(tmp_path / "diabetes.csv", 3)
    folder = to_parquet_folder(path, tmp_path / "parquet")
    memory = train(path, tmp_path / "memory", "dataset.stream=false")
    csv_run = train(path, tmp_path / "csv", "dataset.stream=true", "dataset.cache=off")
    parquet = train(folder, tmp_path / "pq", "dataset.cache=disk")
    assert list((tmp_path / "pq" / "data-cache").glob("zoo-cache-train*"))
    infos = [OmegaConf.load(tmp_path / name / "dataset.json") for name in ("memory", "csv", "pq")]
    assert infos[0].num_examples == infos[1].num_examples == infos[2].num_examples
    for other in infos[1:]:  # kinds, missing flags, vocabularies; statistics up to summation order
        for a, b in zip(OmegaConf.to_container(infos[0].features), OmegaConf.to_container(other.features),
                        strict=True):
            for key in ("fill", "mean", "variance"):
                assert a.pop(key, 0) == pytest.approx(b.pop(key, 0), rel=1e-12), key
            assert a == b
    for run in (csv_run, parquet):
        for a, b in zip(weights(memory.run_dir), weights(run.run_dir), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert parquet.metrics["test"]["mae"] == pytest.approx(memory.metrics["test"]["mae"], rel=1e-4)
    meta = export(tmp_path / "pq", format="onnx")
    assert meta["verification"]["passed"]


@pytest.mark.parametrize("scale", [True, False])
def test_record_batches_preprocessed_in_numpy_equal_the_keras_layers(tmp_path, scale):
    """The numpy encoder of streamed record batches computes what the saved model's preprocessing
    layers compute, on real rows with blanks, `NA`, a blank category and categories never seen."""
    from zoo.preprocessing.fit import fit_preprocessor
    from zoo.preprocessing.table_numpy import numpy_encoder

    raw = load(repeated_csv(tmp_path / "diabetes.csv", 2), stream=True)
    features = [dict(f) for f in raw.info.features]
    preprocessor = fit_preprocessor(features, raw.train, scale=scale, stats=raw.stats["features"])
    encode = numpy_encoder(features, scale)
    assert encode is not None and any(f.get("missing") for f in features)
    categorical = [f["name"] for f in features if f["kind"] == "categorical"]
    assert categorical
    for columns, _ in raw.sources["test"]():
        columns = dict(columns)
        for k, name in enumerate(categorical):  # a blank and an unseen value in every category column
            values = columns[name].copy()
            values[k::7] = ""
            values[k + 3::11] = "never seen"
            columns[name] = values
        expected = np.asarray(preprocessor(columns, training=False))
        got = encode(columns)
        assert got.dtype == np.float32 and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
        assert np.isfinite(got).all() and not np.array_equal(got[::7], got[1::7])
    assert numpy_encoder([{**features[0], "kind": "hashed", "bins": 8}], scale) is None
    older = [{k: v for k, v in f.items() if k != "variance"} for f in features]  # an older dataset.json
    assert (numpy_encoder(older, scale) is None) == scale


def test_validation_and_test_rows_kept_from_the_statistics_pass_equal_the_rows_read_again(tmp_path, caplog):
    """Within a quarter of `dataset.cache_budget_mb` the statistics pass keeps the validation and
    test rows, and validating and testing read no file; over it, or with `dataset.cache=off`, they
    are read again. Either way the same rows in the same order."""
    import logging

    path = repeated_csv(tmp_path / "diabetes.csv", 20)  # 8,840 rows

    def rows(split, **fields):
        raw = load(path, stream=True, **fields)
        got = list(raw.sources[split]())
        columns = {k: np.concatenate([c[k] for c, _ in got]) for k in got[0][0]}
        return columns, np.concatenate([labels for _, labels in got])

    with caplog.at_level(logging.INFO, logger="zoo.data"):
        for split in ("validation", "test"):
            kept, again = rows(split), rows(split, cache="off")
            over_budget = rows(split, cache_budget_mb=0)
            for other in (again, over_budget):
                np.testing.assert_array_equal(kept[1], other[1])
                for name, values in kept[0].items():
                    np.testing.assert_array_equal(values, other[0][name])
    assert "validation and test rows kept in memory from the statistics pass" in caplog.text
    assert "read again from the files each time" in caplog.text
    import zoo.data.table_files as files

    calls = []
    original = files.TableReader.batches
    raw = load(path, stream=True)
    files.TableReader.batches = lambda self, *a, **k: calls.append(1) or original(self, *a, **k)
    try:
        assert sum(len(labels) for _, labels in raw.sources["test"]()) == raw.info.num_examples["test"]
        assert not calls  # no file read for the kept rows
        next(iter(raw.sources["train"]()))
        assert calls
    finally:
        files.TableReader.batches = original


def test_a_bad_cell_far_into_a_large_file_is_named_by_file_line_and_column(tmp_path):
    row = 200_000
    path = repeated_csv(tmp_path / "big.csv", 500, bad=(row, "bmi", "thirty"))  # 221,000 rows
    with pytest.raises(DataError) as caught:
        load(path, stream=True)
    message = str(caught.value)
    assert "\n" not in message and "big.csv" in message
    assert f"line {row + 2}" in message and "'bmi'" in message and "'thirty'" in message
    path = repeated_csv(tmp_path / "inf.csv", 500, bad=(row, "s1", "inf"))
    with pytest.raises(DataError, match=f"column 's1' of .*inf.csv, line {row + 2} .*finite"):
        load(path, stream=True)


def test_the_split_is_the_same_whatever_the_share_or_batch_that_reads_a_row():
    rows = np.arange(100_000)
    whole = split_of(rows, 7, 0.2, 0.1)
    for workers in (2, 3):  # every worker's row range, or every N-th row
        ranges = np.concatenate([split_of(part, 7, 0.2, 0.1) for part in np.array_split(rows, workers)])
        np.testing.assert_array_equal(ranges, whole)
        for w in range(workers):
            np.testing.assert_array_equal(split_of(rows[w::workers], 7, 0.2, 0.1), whole[w::workers])
    counts = np.bincount(whole) / len(rows)
    np.testing.assert_allclose(counts, [0.72, 0.08, 0.2], atol=0.01)
    assert not np.array_equal(split_of(rows, 8, 0.2, 0.1), whole)


def test_a_resumed_streaming_run_equals_an_uninterrupted_one(tmp_path, monkeypatch):
    from conftest import train_interrupted

    path = repeated_csv(tmp_path / "diabetes.csv", 2)
    whole = train(path, tmp_path / "whole", "dataset.stream=true", "dataset.stats_rows=300")
    cfg = zoo.compose(["model=mlp", "model.hidden_sizes=[16]", "dataset=csv", f"dataset.path={path}",
                       "dataset.target=cost", "trainer.epochs=2", "trainer.batch_size=64", *QUICK,
                       "dataset.stream=true", "dataset.stats_rows=300"])
    train_interrupted(cfg, tmp_path / "resumed", monkeypatch, after_epoch=0)
    resumed = zoo.train(cfg, tmp_path / "resumed")
    assert resumed.metrics["epochs"] == 2
    for a, b in zip(weights(whole.run_dir), weights(resumed.run_dir), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_an_image_folder_trains_uncached_and_cached_on_disk_alike(tmp_path):
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for label in (0, 1, 7):
        folder = tmp_path / "digits" / str(label)
        folder.mkdir(parents=True)
        for i, image in enumerate(digits.images[digits.target == label][:15]):
            Image.fromarray((image * 15).astype(np.uint8), mode="L").save(folder / f"{i}.png")
    runs = {}
    for cache in ("off", "disk"):
        cfg = zoo.compose(["model=mlp", "model.hidden_sizes=[8]", "dataset=image_folder",
                           f"dataset.path={tmp_path / 'digits'}", "dataset.image_size=[8,8]",
                           "dataset.color_mode=grayscale", f"dataset.cache={cache}", "trainer.epochs=2",
                           "trainer.batch_size=8", *QUICK])
        runs[cache] = zoo.train(cfg, tmp_path / cache)
    assert list((tmp_path / "disk" / "data-cache").glob("zoo-cache-train*"))
    assert not (tmp_path / "off" / "data-cache").exists()
    for a, b in zip(weights(tmp_path / "off"), weights(tmp_path / "disk"), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert runs["disk"].metrics["test"]["accuracy"] > 0.5  # three classes: chance is 1/3


def cancer_shards(folder):
    """scikit-learn's breast-cancer table as three TFRecord shards of tf.train.Example."""
    import tensorflow as tf
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    names = [n.replace(" ", "_") for n in data.feature_names]
    folder.mkdir()
    for shard, rows in enumerate(np.array_split(np.arange(len(data.target)), 3)):
        with tf.io.TFRecordWriter(str(folder / f"cancer-{shard}.tfrecord")) as writer:
            for row in rows:
                feature = {n: tf.train.Feature(float_list=tf.train.FloatList(value=[v]))
                           for n, v in zip(names, data.data[row], strict=True)}
                feature["label"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[data.target[row]]))
                writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return folder


def test_tfrecord_shards_of_examples_train(tmp_path):
    """scikit-learn's breast-cancer table as three TFRecord shards of tf.train.Example."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    folder = cancer_shards(tmp_path / "shards")
    cfg = zoo.compose(["model=mlp", "model.hidden_sizes=[16]", "dataset=tfrecord", f"dataset.path={folder}",
                       "trainer.epochs=3", "trainer.batch_size=32", *QUICK])
    result = zoo.train(cfg, tmp_path / "run")
    info = OmegaConf.load(tmp_path / "run" / "dataset.json")
    assert info.task == "classification" and info.class_names == ["0", "1"] and len(info.features) == 30
    assert sum(info.num_examples.values()) == len(data.target)
    majority = max(np.mean(data.target), 1 - np.mean(data.target))
    assert result.metrics["test"]["accuracy"] > majority + 0.1


def as_workers(count, load_one):
    """`load_one()` in `count` threads, each reading as worker i of `count`; the workers exchange
    partial results through a barrier, as the strategy's collectives do between processes."""
    import threading

    from zoo.data.shares import reading_share

    barrier, slots, results = threading.Barrier(count), [None] * count, [None] * count

    def worker(i):
        def gather(payload):
            slots[i] = payload
            barrier.wait()
            out = list(slots)
            barrier.wait()
            return out

        with reading_share(i, count, gather=gather):
            results[i] = load_one()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert all(r is not None for r in results), "a worker failed"
    return results


def test_worker_shares_of_byte_ranges_partition_the_rows_with_combined_statistics(tmp_path, monkeypatch):
    """Two workers on one CSV: each parses only its byte range (about half the rows), together
    every row once, each row in its split; both hold the statistics combined from both halves,
    equal to one process's (up to summation order) and to one process told dataset.shares=2."""
    from zoo.data.table_files import TableReader

    data = repeated_csv(tmp_path / "big.csv", 20)
    whole = load(data, stream=True, block_bytes=65536)
    single = load(data, stream=True, block_bytes=65536, shares=2)
    import threading

    parsed = []
    original = TableReader._file_batches
    monkeypatch.setattr(TableReader, "_file_batches", lambda self, file, piece=None: (
        parsed.append((threading.get_ident(), piece and (piece.start, piece.stop))),
        original(self, file, piece))[1])
    workers = as_workers(2, lambda: load(data, stream=True, block_bytes=65536))
    by_thread = {}
    for thread, span in parsed:
        by_thread.setdefault(thread, set()).add(span)
    assert sorted(len(spans) for spans in by_thread.values()) == [1, 1]  # one byte range each
    first, second = sorted(span for spans in by_thread.values() for span in spans)
    assert first[1] == second[0] and second[1] == data.stat().st_size  # side by side, every line
    for raw in workers:
        assert repr(raw.stats) == repr(single.stats)  # identical on every worker
        assert_same_feature_stats(raw.stats, whole.stats)
    shares = workers[0].info.share_train_rows
    assert sum(shares) == whole.info.num_examples["train"]
    assert all(0.45 < n / sum(shares) < 0.55 for n in shares)
    rows = [np.concatenate([y for _, y in raw.batches[name].as_numpy_iterator()])
            for raw in workers for name in ("validation", "test")]
    everything = [np.concatenate([y for _, y in whole.batches[name].as_numpy_iterator()])
                  for name in ("validation", "test")]
    np.testing.assert_array_equal(np.sort(np.concatenate(rows[0::2])), np.sort(everything[0]))
    np.testing.assert_array_equal(np.sort(np.concatenate(rows[1::2])), np.sort(everything[1]))
    train = [np.concatenate([y for _, y in raw.batches["train"].as_numpy_iterator()]) for raw in workers]
    assert [len(t) for t in train] == [min(shares)] * 2  # each share's first M training rows an epoch


def test_a_bad_cell_in_the_second_byte_range_is_named_by_its_line(tmp_path):
    data = repeated_csv(tmp_path / "big.csv", 20, bad=(8000, "bmi", "2x.5"))
    with pytest.raises(DataError, match=r"'bmi' of .*big.csv is not numeric \(line 8002: '2x.5'\)"):
        load(data, stream=True, block_bytes=65536, shares=2, sample_rows=2000)


def test_worker_shares_of_tfrecord_shards_partition_the_training_rows(tmp_path, monkeypatch):
    """Two shares of three TFRecord shards: whole shards per worker, together the training rows
    (their mean radii) of one reader, with the same statistics."""
    from zoo.data import tfrecord_data
    from zoo.data.configs import TFRecordDatasetConfig
    from zoo.data.shares import reading_share

    def radii(raw):
        return np.concatenate([x["mean_radius"].ravel() for x, _ in raw.batches["train"].as_numpy_iterator()])

    monkeypatch.setattr(tfrecord_data, "BATCH", 50)
    cfg = OmegaConf.structured(TFRecordDatasetConfig(path=str(cancer_shards(tmp_path / "shards"))))
    whole = tfrecord_data.load(cfg, 0)
    labels = []
    for index in (0, 1):
        with reading_share(index, 2):
            raw = tfrecord_data.load(cfg, 0)
        labels.append(radii(raw))
        assert len(labels[-1]) == raw.info.worker_train_rows[index]
        assert raw.info.worker_share == "files"  # 3 shards, 2 workers: 2 shards and 1
        assert 0.25 < len(labels[-1]) / whole.info.num_examples["train"] < 0.75
        assert repr(raw.stats) == repr(whole.stats)
    everything = radii(whole)
    assert len(everything) == whole.info.num_examples["train"]
    np.testing.assert_array_equal(np.sort(np.concatenate(labels)), np.sort(everything))


def test_with_as_many_files_as_workers_each_worker_reads_its_own_files(tmp_path, monkeypatch):
    """A Parquet folder of 2 files under 2 workers: each opens only its own file (the other's
    footer aside), and together they hold the training rows of one reader, with its statistics."""
    from zoo.data.table_files import TableReader

    folder = to_parquet_folder(repeated_csv(tmp_path / "big.csv", 4), tmp_path / "parts", parts=2)
    whole = load(folder)
    import threading

    opened = []
    original = TableReader._file_batches
    monkeypatch.setattr(TableReader, "_file_batches", lambda self, file, piece=None: (
        opened.append((threading.get_ident(), file.name)), original(self, file, piece))[1])
    workers = as_workers(2, lambda: load(folder))
    files = {}
    for thread, name in opened:
        files.setdefault(thread, set()).add(name)
    assert sorted(map(sorted, files.values())) == [["part-0.parquet"], ["part-1.parquet"]]
    costs = []
    for raw in workers:
        assert raw.info.worker_share == "files"
        costs.append(np.concatenate([y for _, y in raw.batches["train"].as_numpy_iterator()]))
        assert len(costs[-1]) == min(raw.info.share_train_rows)
        assert_same_feature_stats(raw.stats, whole.stats)
    shares = workers[0].info.share_train_rows
    assert sum(shares) == whole.info.num_examples["train"]
