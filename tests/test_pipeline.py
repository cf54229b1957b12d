"""tf.data pipeline: training-split normalisation, per-epoch seeded order, strategies."""

from __future__ import annotations

import numpy as np
import pytest

import zoo
from zoo.core.errors import ZooError
from zoo.data.pipeline import Schedule, eval_stream, train_stream


def features(dataset) -> np.ndarray:
    return np.concatenate([np.asarray(x) for x, _ in dataset])


class Run:
    def __init__(self, path):
        self.path, self.dataset_info = path, path / "dataset.json"


def prepared(name, tmp_path, **params):
    from omegaconf import OmegaConf

    from zoo.preprocessing.prepare import prepare_splits

    splits = zoo.load_dataset(name, seed=0, **params)
    raw_train = np.stack([np.asarray(x) for x, _ in splits.train])
    raw_test = np.stack([np.asarray(x) for x, _ in splits.test])
    cfg = OmegaConf.create({"normalize": True})
    return prepare_splits(splits, cfg, Run(tmp_path), fit=True), raw_train, raw_test


def test_normalisation_inside_the_model_uses_the_training_split_only(tmp_path):
    splits, train, test = prepared("breast_cancer", tmp_path)
    normalised = features(eval_stream(splits.train, splits.info, batch=64))
    np.testing.assert_allclose(normalised.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(normalised.std(axis=0), 1, atol=1e-3)
    scale = splits.preprocessor.get_layer("scale")
    everything = np.concatenate([train, test])
    np.testing.assert_allclose(np.asarray(scale.mean).reshape(-1), train.mean(axis=0), rtol=1e-5)
    assert not np.allclose(np.asarray(scale.mean).reshape(-1), everything.mean(axis=0), rtol=1e-5)
    assert (tmp_path / "preprocessor.keras").exists() and splits.info.features[0]["name"] == "features"
    test_out = features(eval_stream(splits.test, splits.info, batch=64))
    np.testing.assert_allclose(test_out, np.asarray(splits.preprocessor(test)), atol=1e-6)  # same layers


def test_images_are_normalised_per_channel(tmp_path):
    splits, train, _ = prepared("digits", tmp_path, as_image=True)
    mean = np.asarray(splits.preprocessor.get_layer("scale").mean).reshape(-1)
    assert mean.shape == (1,) and 3 < mean[0] < 6  # digits' pixels lie in 0..16
    np.testing.assert_allclose(mean[0], train.mean(), rtol=1e-5)


def test_each_epoch_is_shuffled_by_seed_and_epoch_so_resume_sees_the_same_batches():
    splits = zoo.load_dataset("iris", seed=0)
    info = splits.info
    full = train_stream(splits.train, info, 16, Schedule(seed=5, epochs=3))
    resumed = train_stream(splits.train, info, 16, Schedule(seed=5, epochs=3, initial_epoch=2))
    steps = full.steps_per_epoch
    assert steps == int(np.ceil(info.num_examples["train"] / 16))
    batches = [np.asarray(x) for x, _ in full.dataset]
    assert len(batches) == 3 * steps
    epoch = [np.concatenate(batches[i * steps:(i + 1) * steps]) for i in range(3)]
    assert not np.array_equal(epoch[0], epoch[1])  # reshuffled every epoch
    assert sorted(map(tuple, epoch[0])) == sorted(map(tuple, epoch[1]))  # same examples
    np.testing.assert_array_equal(features(resumed.dataset), epoch[2])
    other_seed = train_stream(splits.train, info, 16, Schedule(seed=6, epochs=1))
    assert not np.array_equal(features(other_seed.dataset), epoch[0])


def test_record_batches_are_shuffled_a_window_at_a_time_by_seed_and_epoch():
    """Real rows (scikit-learn's diabetes) as record batches of uneven size: each epoch holds every
    row once, a window's rows stay in that window, epochs and seeds differ, and a run resumed at a
    step sees the batches an uninterrupted run sees."""
    import tensorflow as tf
    from sklearn.datasets import load_diabetes

    from zoo.data.base import DatasetInfo

    x, y = load_diabetes(return_X_y=True)
    x, y = x.astype(np.float32), np.arange(len(y), dtype=np.float32).reshape(-1, 1)  # label = row index
    cuts = [0, 50, 51, 170, 300, len(y)]
    record_batches = tf.data.Dataset.from_generator(
        lambda: ((x[a:b], y[a:b]) for a, b in zip(cuts, cuts[1:], strict=False)),
        output_signature=(tf.TensorSpec((None, 10), tf.float32), tf.TensorSpec((None, 1), tf.float32)))
    rows = record_batches.unbatch().apply(tf.data.experimental.assert_cardinality(len(y)))
    info = DatasetInfo(name="diabetes", task="regression", modality="tabular", input_shape=(10,),
                       num_examples={"train": len(y)})

    def stream(seed, epochs, step=0):
        return train_stream(rows, info, 32, Schedule(seed, epochs, initial_step=step), shuffle_buffer=100,
                            cache=False, batches=record_batches)

    full = stream(5, 2)
    assert full.steps_per_epoch == 14  # ceil(442 / 32)
    batches = [np.asarray(label).reshape(-1).astype(int) for _, label in full.dataset]
    assert len(batches) == 28 and [len(b) for b in batches[:14]] == [32] * 13 + [26]
    first, second = np.concatenate(batches[:14]), np.concatenate(batches[14:])
    assert sorted(first) == sorted(second) == list(range(len(y)))
    assert not np.array_equal(first, second) and not np.array_equal(first, np.arange(len(y)))
    for k in range(4):  # windows of 128 rows (100 rounded up to 4 batches): rows 128k..128k+127
        window = first[128 * k:128 * (k + 1)]
        assert sorted(window) == list(range(128 * k, min(128 * (k + 1), len(y))))
    np.testing.assert_array_equal(features(stream(5, 2, step=17).dataset),
                                  np.concatenate([np.asarray(f) for f, _ in full.dataset][17:]))
    assert not np.array_equal(features(stream(6, 1).dataset), features(stream(5, 1).dataset))


def test_the_stream_costs_the_same_for_any_number_of_epochs(monkeypatch):
    """One traced epoch function, not a pipeline per epoch: 10^9 epochs start at once, and a run
    resumed mid-epoch (`initial_step`) sees exactly the batches it had left."""
    import tensorflow as tf

    splits = zoo.load_dataset("iris", seed=0)
    info = splits.info
    shuffles = []
    original = tf.data.Dataset.shuffle
    monkeypatch.setattr(tf.data.Dataset, "shuffle", lambda self, *a, **k: shuffles.append(a) or
                        original(self, *a, **k))
    train_stream(splits.train, info, 16, Schedule(seed=0, epochs=1000))
    assert len(shuffles) == 1  # a pipeline per epoch built 1,000 (9 s before the first step)
    huge = train_stream(splits.train, info, 16, Schedule(seed=0, epochs=10**9))
    two = train_stream(splits.train, info, 16, Schedule(seed=0, epochs=2))  # seed 0 works too
    steps = two.steps_per_epoch
    expected = [np.asarray(x) for x, _ in two.dataset]
    got = [np.asarray(x) for x, _ in huge.dataset.take(2 * steps)]
    for a, b in zip(expected, got, strict=True):
        np.testing.assert_array_equal(a, b)
    mid = train_stream(splits.train, info, 16, Schedule(seed=0, epochs=2, initial_step=3))
    rest = [np.asarray(x) for x, _ in mid.dataset]
    assert len(rest) == 2 * steps - 3
    for a, b in zip(expected[3:], rest, strict=True):
        np.testing.assert_array_equal(a, b)


def test_steps_per_epoch_caps_each_epoch():
    splits = zoo.load_dataset("digits", as_image=True)
    info = splits.info
    stream = train_stream(splits.train, info, 32, Schedule(seed=0, epochs=2, max_steps=3))
    assert stream.steps_per_epoch == 3 and len(list(stream.dataset)) == 6


def test_strategies_by_name():
    from omegaconf import OmegaConf

    from zoo.config.schema import StrategyConfig
    from zoo.training.strategy import make_strategy

    def strategy(**kw):
        return make_strategy(OmegaConf.structured(StrategyConfig(**kw)))

    assert strategy(name="auto").num_replicas_in_sync == 1  # no GPUs here
    assert strategy(name="one_device").num_replicas_in_sync == 1
    assert strategy(name="mirrored", cpu_devices=2).num_replicas_in_sync == 2
    with pytest.raises(ZooError, match="expected one of auto, mirrored, one_device"):
        strategy(name="mirorred")
    with pytest.raises(ZooError, match="already running with 2 CPU device"):
        strategy(name="mirrored", cpu_devices=3)


def test_replica_pieces_cut_each_batch_in_order_into_one_piece_per_replica():
    """A worker's batches as its replicas' successive pieces: rows in order, ceil(rows / R) each,
    a partial last batch's last pieces smaller or empty; features and labels cut alike."""
    import tensorflow as tf

    from zoo.training.distributed import replica_pieces

    rows = np.arange(13, dtype=np.float32)
    batches = tf.data.Dataset.from_tensor_slices(({"x": rows[:, None]}, rows)).batch(6)  # 6, 6, 1
    pieces = list(replica_pieces(batches, 3))
    assert [len(y) for _, y in pieces] == [2, 2, 2, 2, 2, 2, 1, 0, 0]
    assert all(np.array_equal(x["x"][:, 0], y) for x, y in pieces)
    np.testing.assert_array_equal(np.concatenate([y for _, y in pieces]), rows)
    assert replica_pieces(batches, 1) is batches


def test_workers_validating_their_own_rows_take_the_same_number_of_steps(caplog):
    """Each worker validates its own rows; one with an extra batch would wait in its step's
    collectives for ever, so every worker takes the fewest batches any worker has, and says so."""
    from zoo.training.distributed import validation_steps

    assert validation_steps([4096, 4096], 1024) == 4
    with caplog.at_level("INFO", logger="zoo.train"):
        assert validation_steps([4097, 4096], 1024) == 4  # worker 0 would take a 5th batch of 1 row
    assert "left out" in caplog.text
    assert validation_steps([1, 5000], 1024) == 1


def test_auto_cache_is_memory_when_the_splits_fit_and_off_for_one_epoch(tmp_path, caplog):
    """`dataset.cache=auto`: memory within the budget, off beyond it, and off for a run of one
    epoch (each row is read once: a cache nothing reads back only costs)."""
    from types import SimpleNamespace

    from zoo.data.base import DatasetInfo
    from zoo.data.caching import choose_cache

    info = DatasetInfo(name="t", task="regression", modality="tabular", input_shape=(20,),
                       num_examples={"train": 720_000, "validation": 80_000, "test": 200_000})
    auto = SimpleNamespace(cache="auto", cache_budget_mb=1024)
    with caplog.at_level("INFO", logger="zoo.data"):
        assert choose_cache(auto, info, tmp_path, epochs=3).mode == "memory"
        assert choose_cache(auto, info, tmp_path, epochs=1).mode == "off"
    assert "one epoch reads each row once" in caplog.text
    assert choose_cache(SimpleNamespace(cache="auto", cache_budget_mb=100), info, tmp_path,
                        epochs=3).mode == "off"
    assert choose_cache(SimpleNamespace(cache="memory"), info, tmp_path, epochs=1).mode == "memory"
