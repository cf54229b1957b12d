"""Specification of the built-in dataset sources: scikit-learn, TFDS, split helpers, YAML configs.

CSV files and image folders have their own files (test_data_csv.py, test_data_images.py).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from zoo.core.errors import DataError
from zoo.data import sklearn_data, splits, tfds_data
from zoo.data.configs import DatasetConfig, SklearnDatasetConfig, TFDSDatasetConfig

REPO = Path(__file__).resolve().parents[1]


def arrays(dataset) -> tuple[np.ndarray, np.ndarray]:
    """All `(features, labels)` of an unbatched dataset as numpy arrays."""
    pairs = list(dataset.as_numpy_iterator())
    return np.stack([x for x, _ in pairs]), np.array([y for _, y in pairs])


def sklearn(source: str, seed: int = 0, **fields):
    return sklearn_data.load(OmegaConf.structured(SklearnDatasetConfig(source=source, **fields)),
                             seed=seed)


def test_importing_the_loaders_does_not_import_tensorflow():
    code = ("import sys, zoo.data.sklearn_data, zoo.data.csv_data, zoo.data.image_folder, "
            "zoo.data.tfds_data; assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# --- scikit-learn -------------------------------------------------------------------------

SKLEARN = [  # source, extra fields, total, input shape, modality, number of classes
    ("digits", {"as_image": True}, 1797, (8, 8, 1), "image", 10),
    ("digits", {}, 1797, (64,), "tabular", 10),
    ("breast_cancer", {}, 569, (30,), "tabular", 2),
    ("iris", {}, 150, (4,), "tabular", 3),
    ("wine", {}, 178, (13,), "tabular", 3),
    ("diabetes", {}, 442, (10,), "tabular", None),
]


@pytest.mark.parametrize(("source", "fields", "total", "shape", "modality", "classes"), SKLEARN)
def test_sklearn_dataset_loads_with_its_shape_classes_and_split_sizes(
        source, fields, total, shape, modality, classes):
    raw = sklearn(source, **fields)
    info = raw.info
    assert (info.name, info.input_shape, info.modality, info.num_classes) == (
        source, shape, modality, classes)
    assert sum(info.num_examples.values()) == total
    assert info.num_examples["test"] == int(np.ceil(0.2 * total))
    assert info.scaling is None
    x, y = arrays(raw.train)
    assert x.shape == (info.num_examples["train"], *shape) and x.dtype == np.float32
    assert len(arrays(raw.validation)[1]) == info.num_examples["validation"]
    assert len(arrays(raw.test)[1]) == info.num_examples["test"]
    if classes is None:
        assert info.task == "regression" and y.dtype == np.float32 and info.class_names is None
    else:
        assert info.task == "classification" and y.dtype == np.int32
        assert len(info.class_names) == classes and set(y) == set(range(classes))
    if modality == "tabular":
        assert len(info.feature_names) == shape[0]


def test_sklearn_class_names_are_sklearn_target_names_as_strings():
    assert sklearn("iris").info.class_names == ["setosa", "versicolor", "virginica"]
    assert sklearn("digits", as_image=True).info.class_names == [str(i) for i in range(10)]


def test_info_name_defaults_to_source_and_follows_cfg_name():
    assert sklearn("wine", name="my_wine").info.name == "my_wine"


def test_split_is_repeatable_for_a_seed_and_differs_for_another():
    first, again, other = (arrays(sklearn("iris", seed=s).train) for s in (7, 7, 8))
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])


def test_classification_splits_are_stratified():
    raw = sklearn("breast_cancer")  # 212 malignant, 357 benign
    for split in ("train", "validation", "test"):
        y = arrays(getattr(raw, split))[1]
        assert abs(np.mean(y == 0) - 212 / 569) < 0.02, split


def test_limit_keeps_at_most_n_stratified_training_examples():
    raw = sklearn("digits", limit=100)
    y = arrays(raw.train)[1]
    assert raw.info.num_examples == {"train": 100, "validation": 144, "test": 360}
    assert len(y) == 100 and set(y) == set(range(10))
    assert sklearn("digits", limit=5).info.num_examples["train"] == 5  # fewer than classes


def test_as_image_is_only_for_digits():
    with pytest.raises(DataError, match="as_image.*digits"):
        sklearn("iris", as_image=True)


def test_unknown_sklearn_source_suggests_close_names():
    with pytest.raises(DataError, match="'irs'.*iris"):
        sklearn("irs")


# --- split and label helpers ----------------------------------------------------------------

def split_cfg(**fields):
    return OmegaConf.structured(DatasetConfig(source="x", **fields))


def test_split_arrays_partitions_every_example_once():
    x, y = np.arange(100), np.repeat([0, 1, 2, 3], 25)
    parts = splits.split_arrays(x, y, split_cfg(), seed=3, stratify=True)
    sizes = {name: len(part[0]) for name, part in parts.items()}
    assert sizes == {"train": 72, "validation": 8, "test": 20}
    assert sorted(np.concatenate([p[0] for p in parts.values()]).tolist()) == list(range(100))
    for part_x, part_y in parts.values():
        np.testing.assert_array_equal(y[part_x], part_y)


def test_split_arrays_with_a_given_test_set_only_carves_validation():
    x, y = np.arange(50), np.arange(50) % 2
    test = (np.arange(7), np.zeros(7))
    parts = splits.split_arrays(x, y, split_cfg(val_fraction=0.2), seed=0, stratify=True,
                                test=test)
    assert [len(parts[s][0]) for s in ("train", "validation", "test")] == [40, 10, 7]


def test_zero_fractions_give_empty_splits():
    parts = splits.split_arrays(np.arange(10), np.arange(10) % 2,
                                split_cfg(val_fraction=0.0, test_fraction=0.0), 0, True)
    assert [len(parts[s][0]) for s in ("train", "validation", "test")] == [10, 0, 0]


def test_a_class_too_small_to_stratify_falls_back_to_a_plain_split():
    y = np.array([0] * 30 + [1])
    parts = splits.split_arrays(np.arange(31), y, split_cfg(), seed=0, stratify=True)
    assert sum(len(p[0]) for p in parts.values()) == 31


@pytest.mark.parametrize("field", ["val_fraction", "test_fraction"])
def test_a_fraction_outside_0_1_is_a_data_error_naming_the_setting(field):
    with pytest.raises(DataError, match=f"dataset.{field}=1.5"):
        splits.split_arrays(np.arange(10), np.arange(10) % 2, split_cfg(**{field: 1.5}), 0, True)


def test_class_names_are_sorted_unique_names():
    ids, names = splits.encode_names(["dog", "cat", "dog", "bird"])
    assert names == ["bird", "cat", "dog"] and ids.tolist() == [2, 1, 2, 0]


def test_integer_labels_must_lie_in_range():
    assert splits.check_int_labels(np.array([0, 3, 1]), None, "here") == 4
    with pytest.raises(DataError, match="class id 5 in labels.csv is outside \\[0, 3\\)"):
        splits.check_int_labels(np.array([0, 5]), 3, "labels.csv")
    with pytest.raises(DataError, match="negative class id -2 in labels.csv"):
        splits.check_int_labels(np.array([0, -2]), None, "labels.csv")


def test_unknown_class_name_is_named():
    with pytest.raises(DataError, match="class 'cow' in test.csv"):
        splits.ids_of_names(["cat", "cow"], ["cat", "dog"], "test.csv")


# --- TensorFlow Datasets --------------------------------------------------------------------

def tfds_cfg(**fields):
    return OmegaConf.structured(TFDSDatasetConfig(**fields))


@pytest.fixture
def mock_tfds():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=12):
        yield


def test_tfds_mnist_loads_images_classes_and_carves_validation(mock_tfds, tmp_path):
    raw = tfds_data.load(tfds_cfg(name="mnist", data_dir=str(tmp_path)), seed=0)
    info = raw.info
    assert (info.name, info.task, info.modality) == ("mnist", "classification", "image")
    assert info.input_shape == (28, 28, 1) and info.num_classes == 10
    assert info.class_names == [str(i) for i in range(10)]
    assert info.extra["splits"] == {"train": "train[:90%]", "validation": "train[90%:]",
                                    "test": "test"}
    x, y = arrays(raw.train)
    assert x.shape == (12, 28, 28, 1) and x.dtype == np.uint8 and y.dtype == np.int32  # raw pixels
    assert x.max() > 1 and set(y) <= set(range(10))
    assert info.features[0]["dtype"] == "uint8" and info.features[0]["resize"] == [28, 28]
    assert info.num_examples == {"train": 12, "validation": 12, "test": 12}


def test_tfds_val_fraction_validation_split_limit_and_resize(mock_tfds, tmp_path):
    raw = tfds_data.load(tfds_cfg(name="mnist", data_dir=str(tmp_path), val_fraction=0.25,
                                  image_size=[14, 10], limit=5), seed=0)
    assert raw.info.extra["splits"]["validation"] == "train[75%:]"
    assert raw.info.input_shape == (14, 10, 1) and raw.info.num_examples["train"] == 5
    assert arrays(raw.train)[0].shape == (5, 28, 28, 1)  # stored size: the model's Resizing resizes
    assert raw.info.features[0]["resize"] == [14, 10]
    given = tfds_data.load(tfds_cfg(name="mnist", validation_split="test"), seed=0)
    assert given.info.extra["splits"] == {"train": "train", "validation": "test", "test": "test"}


def test_tfds_val_fraction_must_leave_data_in_both_slices():
    with pytest.raises(DataError, match="dataset.val_fraction=0.0 .*dataset.validation_split"):
        tfds_data.split_names(tfds_cfg(name="mnist", val_fraction=0.0))


def test_tfds_missing_feature_key_lists_the_features(mock_tfds):
    with pytest.raises(DataError, match="no feature 'pixels'.*image, label.*dataset.image_key"):
        tfds_data.load(tfds_cfg(name="mnist", image_key="pixels"), seed=0)


def test_tfds_dataset_not_on_disk_fails_within_30_s_offline(tmp_path):
    start = time.monotonic()
    with pytest.raises(DataError) as error:
        tfds_data.load(tfds_cfg(name="mnist", data_dir=str(tmp_path)), seed=0)
    assert time.monotonic() - start < 30
    message = str(error.value)
    assert "'mnist' is not in data dir" in message and str(tmp_path) in message
    assert "tfds build mnist --data_dir" in message and "dataset.data_dir=" in message
    assert "\n" not in message


def test_tfds_with_download_false_fails_at_once(tmp_path):
    start = time.monotonic()
    with pytest.raises(DataError, match="cannot be downloaded here \\(dataset.download=false\\)"):
        tfds_data.load(tfds_cfg(name="mnist", data_dir=str(tmp_path), download=False), seed=0)
    assert time.monotonic() - start < 5


def test_unknown_tfds_name_lists_close_matches(tmp_path):
    with pytest.raises(DataError, match="unknown TFDS dataset 'fashion_mnst'.*'fashion_mnist'"):
        tfds_data.load(tfds_cfg(name="fashion_mnst", data_dir=str(tmp_path)), seed=0)


def test_network_probe_needs_an_answer_not_just_a_connection():
    import http.server
    import threading

    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert tfds_data.network_reachable(f"http://127.0.0.1:{server.server_port}/", 2.0)
    finally:
        server.shutdown()
        server.server_close()
    with socket.socket() as silent:  # accepts connections (like some sandboxes), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        start = time.monotonic()
        assert not tfds_data.network_reachable(f"https://127.0.0.1:{silent.getsockname()[1]}/",
                                               timeout=0.5)
        assert time.monotonic() - start < 3


# --- YAML configs ---------------------------------------------------------------------------

YAMLS = {  # file -> (source, name)
    "digits": ("digits", "digits"), "digits_flat": ("digits", "digits_flat"),
    "breast_cancer": ("breast_cancer", "breast_cancer"), "iris": ("iris", "iris"),
    "wine": ("wine", "wine"), "diabetes": ("diabetes", "diabetes"), "csv": ("csv", ""),
    "image_folder": ("image_folder", ""), "tfds": ("tfds", "???"), "mnist": ("tfds", "mnist"),
    "tfrecord": ("tfrecord", ""),
}


@pytest.fixture
def compose_dataset():
    from hydra import compose, initialize_config_dir
    from hydra.core.config_store import ConfigStore

    from zoo.data.builtin import zoo_datasets

    for spec in zoo_datasets():  # what the core stores for each registered dataset
        ConfigStore.instance().store(group="schema/dataset", name=spec.name, node=spec.config)
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base=None):
        yield lambda name: compose(overrides=[f"+dataset={name}"]).dataset


def test_every_dataset_yaml_starts_with_a_comment_and_extends_its_schema():
    files = sorted(p.stem for p in (REPO / "conf" / "dataset").glob("*.yaml"))
    assert files == sorted(YAMLS)
    for name in files:
        text = (REPO / "conf" / "dataset" / f"{name}.yaml").read_text()
        assert text.startswith("# ") and "@_here_" in text and "- _self_" in text, name


@pytest.mark.parametrize("name", sorted(YAMLS))
def test_dataset_yaml_composes_with_hydra(compose_dataset, name):
    cfg = compose_dataset(name)
    source, cfg_name = YAMLS[name]
    assert cfg.source == source
    assert OmegaConf.to_container(cfg)["name"] == cfg_name
    if source == "digits":
        assert cfg.as_image is (name == "digits")


def test_sklearn_yaml_config_feeds_the_loader(compose_dataset):
    raw = sklearn_data.load(compose_dataset("digits_flat"), seed=0)
    assert raw.info.input_shape == (64,) and raw.info.name == "digits_flat"
