"""Specification of the CSV dataset source (`zoo.data.csv_data`), with files in tmp_path."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from zoo.data import csv_data
from zoo.data.configs import CSVDatasetConfig
from zoo.errors import DataError

SPECIES = ("setosa", "versicolor", "virginica")


def write(path, header, rows, sep=","):
    path.write_text("\n".join(sep.join(str(c) for c in row) for row in [header, *rows]) + "\n")
    return path


def flowers(n=60, offset=0):
    """Rows `[a, b, species]` where a = 10 * class id + row number / 1000 identifies the class."""
    return [[10 * (i % 3) + (i + offset) / 1000, i, SPECIES[i % 3]] for i in range(n)]


def load(path, seed=0, **fields):
    return csv_data.load(OmegaConf.structured(CSVDatasetConfig(path=str(path), **fields)), seed)


def arrays(dataset):
    pairs = list(dataset.as_numpy_iterator())
    return np.stack([x for x, _ in pairs]), np.array([y for _, y in pairs])


@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_separator_is_sniffed_and_string_classes_are_mapped_to_sorted_ids(tmp_path, sep):
    path = write(tmp_path / "flowers.csv", ["a", "b", "species"], flowers(), sep)
    raw = load(path, target="species")
    info = raw.info
    assert (info.name, info.task, info.modality, info.input_shape) == (
        "flowers", "classification", "tabular", (2,))
    assert info.class_names == list(SPECIES) and info.num_classes == 3
    assert info.feature_names == ["a", "b"]
    assert info.num_examples == {"train": 43, "validation": 5, "test": 12}
    x, y = arrays(raw.train)
    assert x.dtype == np.float32 and y.dtype == np.int32
    np.testing.assert_array_equal(y, np.floor(x[:, 0] / 10).astype(int))  # row -> its class


@pytest.mark.parametrize(("given", "sep"), [(";", ";"), ("tab", "\t"), ("\t", "\t")])
def test_a_given_separator_is_used(tmp_path, given, sep):
    path = write(tmp_path / "data.txt", ["a", "b", "species"], flowers(), sep)
    assert load(path, target="species", separator=given).info.input_shape == (2,)


def test_few_integer_labels_are_class_ids(tmp_path):
    rows = [[i, i % 4] for i in range(40)]
    raw = load(write(tmp_path / "ints.csv", ["x", "label"], rows), target="label")
    assert raw.info.task == "classification" and raw.info.class_names == ["0", "1", "2", "3"]
    x, y = arrays(raw.test)
    np.testing.assert_array_equal(y, x[:, 0].astype(int) % 4)


def test_float_target_or_many_integers_is_regression(tmp_path):
    floats = load(write(tmp_path / "f.csv", ["x", "y"], [[i, i * 0.5] for i in range(30)]),
                  target="y")
    ints = load(write(tmp_path / "i.csv", ["x", "y"], [[i, 2 * i] for i in range(30)]),
                target="y")
    for raw in (floats, ints):
        assert raw.info.task == "regression" and raw.info.num_classes is None
        x, y = arrays(raw.train)
        assert y.dtype == np.float32
        np.testing.assert_allclose(y, x[:, 0] * (0.5 if raw is floats else 2))


def test_task_can_be_forced(tmp_path):
    path = write(tmp_path / "i.csv", ["x", "y"], [[i, i % 30] for i in range(60)])
    assert load(path, target="y", task="classification").info.num_classes == 30
    assert load(path, target="y", task="regression", features=["x"]).info.task == "regression"


def test_features_select_columns(tmp_path):
    path = write(tmp_path / "flowers.csv", ["a", "b", "species"], flowers())
    raw = load(path, target="species", features=["b"])
    assert raw.info.input_shape == (1,) and raw.info.feature_names == ["b"]


def test_a_separate_test_file_is_the_test_split(tmp_path):
    train = write(tmp_path / "train.csv", ["a", "b", "species"], flowers(50))
    test = write(tmp_path / "test.csv", ["species", "b", "a"],
                 [row[::-1] for row in flowers(9, offset=500)])  # other column order
    raw = load(train, target="species", test_path=str(test), val_fraction=0.2)
    assert raw.info.num_examples == {"train": 40, "validation": 10, "test": 9}
    x, y = arrays(raw.test)
    np.testing.assert_array_equal(y, np.floor(x[:, 0] / 10).astype(int))
    assert x[:, 0].min() > 0.4  # the rows of test.csv


def test_a_class_only_in_the_test_file_is_an_error(tmp_path):
    rows = [[i, SPECIES[i % 2]] for i in range(20)]
    train = write(tmp_path / "train.csv", ["a", "species"], rows)
    test = write(tmp_path / "test.csv", ["a", "species"], [[1, "setosa"], [2, "virginica"]])
    with pytest.raises(DataError, match="class 'virginica' in column 'species' of .*test.csv"):
        load(train, target="species", test_path=str(test))
    ints = write(tmp_path / "ints.csv", ["a", "y"], [[i, i % 2] for i in range(20)])
    bad = write(tmp_path / "bad.csv", ["a", "y"], [[1, 0], [2, 3]])
    with pytest.raises(DataError, match="class id 3 in column 'y' of .*bad.csv.*training"):
        load(ints, target="y", test_path=str(bad))


def test_splits_are_repeatable_for_a_seed(tmp_path):
    path = write(tmp_path / "flowers.csv", ["a", "b", "species"], flowers())
    first, again, other = (arrays(load(path, seed=s, target="species").train)[0]
                           for s in (1, 1, 2))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_limit_caps_the_training_rows(tmp_path):
    path = write(tmp_path / "flowers.csv", ["a", "b", "species"], flowers())
    raw = load(path, target="species", limit=9)
    assert raw.info.num_examples["train"] == 9 and set(arrays(raw.train)[1]) == {0, 1, 2}


# --- errors: one line, naming the file / column / value, saying how to fix ------------------

def error(tmp_path, header, rows, **fields):
    path = write(tmp_path / "data.csv", header, rows)
    with pytest.raises(DataError) as caught:
        load(path, **{"target": "y", **fields})
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="CSV file .*nope.csv not found.*dataset.path"):
        load(tmp_path / "nope.csv", target="y")


def test_missing_target_lists_columns_and_close_matches(tmp_path):
    message = error(tmp_path, ["x", "species"], [[1, "a"]], target="specie")
    assert "target column 'specie' not found in" in message and "data.csv" in message
    assert "columns: x, species" in message and "did you mean 'species'" in message
    assert "dataset.target" in message


def test_unknown_feature_column_is_named(tmp_path):
    message = error(tmp_path, ["x", "y"], [[1, 0], [2, 1]], features=["x", "z"])
    assert "feature column 'z' not found" in message and "dataset.features" in message


def test_non_numeric_feature_names_column_and_value(tmp_path):
    message = error(tmp_path, ["x", "colour", "y"], [[1, "1.5", 0], [2, "red", 1]])
    assert "feature column 'colour'" in message and "'red'" in message and "line 3" in message
    assert "dataset.features" in message


def test_empty_file_and_header_only_file(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty.csv is empty"):
        load(tmp_path / "empty.csv", target="y")
    assert "has a header but no data rows" in error(tmp_path, ["x", "y"], [])


def test_missing_value_names_column_and_line(tmp_path):
    message = error(tmp_path, ["x", "y"], [[1, 0], ["", 1], [3, 0]])
    assert "missing value in column 'x' at line 3" in message and "data.csv" in message


def test_labels_out_of_range_with_num_classes(tmp_path):
    message = error(tmp_path, ["x", "y"], [[1, 0], [2, 7], [3, 1]], num_classes=3)
    assert "class id 7 in column 'y'" in message and "[0, 3)" in message
    assert "dataset.num_classes" in message


def test_negative_integer_labels(tmp_path):
    message = error(tmp_path, ["x", "y"], [[1, 0], [2, -1], [3, 1]])
    assert "negative class id -1 in column 'y'" in message and "data.csv" in message


def test_header_is_required(tmp_path):
    assert "add a header row" in error(tmp_path, ["1", "2"], [[3, 4]])


def test_rows_must_have_as_many_fields_as_the_header(tmp_path):
    message = error(tmp_path, ["x", "y"], [[1, 0], [2, 1, 5]])
    assert "line 3" in message and "3 fields" in message and "dataset.separator" in message


def test_non_numeric_regression_target_and_bad_task(tmp_path):
    assert "'high'" in error(tmp_path, ["x", "y"], [[1, 0.5], [2, "high"]], task="regression")
    assert "dataset.task='guess'" in error(tmp_path, ["x", "y"], [[1, 0]], task="guess")


def test_a_single_class_is_an_error(tmp_path):
    assert "1 class" in error(tmp_path, ["x", "y"], [[1, "a"], [2, "a"]])
