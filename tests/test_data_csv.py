"""Specification of the CSV dataset source (`zoo.data.csv_data`), with files in tmp_path."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from zoo.core.errors import DataError
from zoo.data import csv_data
from zoo.data.configs import CSVDatasetConfig

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
    """Features `(rows, columns)` (each example a dict of `(1,)` columns) and labels of a split."""
    pairs = list(dataset.as_numpy_iterator())
    return np.stack([np.concatenate(list(x.values())) for x, _ in pairs]), np.array([y for _, y in pairs])


@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_separator_is_sniffed_and_string_classes_are_mapped_to_sorted_ids(tmp_path, sep):
    path = write(tmp_path / "flowers.csv", ["a", "b", "species"], flowers(), sep)
    raw = load(path, target="species")
    info = raw.info
    assert (info.name, info.task, info.modality, info.input_shape) == (
        "flowers", "classification", "tabular", (2,))
    assert info.class_names == list(SPECIES) and info.num_classes == 3
    assert info.feature_names == ["a", "b"]
    assert info.num_examples == {"train": 42, "validation": 6, "test": 12}  # the per-row rule
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


def test_a_column_declared_numeric_names_its_first_non_number(tmp_path):
    message = error(tmp_path, ["x", "colour", "y"], [[1, "1.5", 0], [2, "red", 1]], numeric=["colour"])
    assert "feature column 'colour'" in message and "'red'" in message and "line 3" in message
    assert "dataset.categorical=[colour]" in message and "dataset.ignore=[colour]" in message


def test_empty_file_and_header_only_file(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty.csv is empty"):
        load(tmp_path / "empty.csv", target="y")
    assert "has a header but no data rows" in error(tmp_path, ["x", "y"], [])


def test_missing_value_names_column_and_line_when_blanks_are_refused(tmp_path):
    message = error(tmp_path, ["x", "y"], [[1, 0], ["", 1], [3, 0]], missing="refuse")
    assert "missing value in column 'x' at line 3" in message and "data.csv" in message
    assert "dataset.missing=impute" in message


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


def columns(path, **fields):
    raw = load(path, **fields)
    return raw.info.features, {f["column"]: f["kind"] for f in raw.info.features}


def test_text_numbers_and_blanks_are_kept_raw_for_the_model_to_preprocess(tmp_path):
    rows = [[i, ["red", "green", ""][i % 3], "" if i % 5 == 0 else i / 10,
             "NA" if i % 7 == 0 else i % 2, i % 2] for i in range(40)]
    path = write(tmp_path / "mixed.csv", ["id", "colour", "size", "code", "y"], rows)
    features, kinds = columns(path, target="y", ignore=["id"], categorical=["code"])
    assert kinds == {"colour": "categorical", "size": "numeric", "code": "categorical"}
    assert [f["dtype"] for f in features] == ["string", "float32", "string"]
    raw = load(path, target="y", ignore=["id"], categorical=["code"], test_fraction=0.0, val_fraction=0.0)
    values = [x for x, _ in raw.train.as_numpy_iterator()]
    sizes = np.array([v["size"][0] for v in values])
    assert np.isnan(sizes).sum() == 8
    assert set(np.unique([v["colour"][0] for v in values])) == {b"red", b"green", b""}
    assert {v["code"][0] for v in values} == {b"0", b"1", b""}


def test_column_names_become_safe_unique_input_names(tmp_path):
    path = write(tmp_path / "names.csv", ["Sale Price", "Sale_Price", "2nd", "y"],
                 [[1, 2, 3, i % 2] for i in range(20)])
    features, _ = columns(path, target="y")
    assert [f["name"] for f in features] == ["Sale_Price", "Sale_Price_2", "c_2nd"]
    assert [f["column"] for f in features] == ["Sale Price", "Sale_Price", "2nd"]


def test_infinite_or_float32_overflowing_numbers_name_file_line_and_column(tmp_path):
    message = error(tmp_path, ["x", "y"], [[1, 0], ["inf", 1], [3, 0]])
    assert "column 'x'" in message and "line 3" in message and "'inf'" in message and "blank" in message
    message = error(tmp_path, ["x", "y"], [[1, 0], ["1e39", 1], [3, 0]])
    assert "line 3" in message and "float32" in message
    message = error(tmp_path, ["x", "y"], [[1, 0.5], [2, "-inf"], [3, 0.1]], task="regression")
    assert "column 'y'" in message and "line 3" in message and "finite" in message


def test_a_blank_target_names_its_line(tmp_path):
    message = error(tmp_path, ["x", "y"], [[1, 0], [2, ""], [3, 1]])
    assert "line 3" in message and "target column 'y'" in message and "delete the row" in message


def test_many_distinct_strings_are_refused_with_advice_or_hashed(tmp_path):
    rows = [[f"user{i}", i % 3, i % 2] for i in range(60)]
    path = write(tmp_path / "ids.csv", ["user", "x", "y"], rows)
    with pytest.raises(DataError, match="60 distinct values") as caught:
        load(path, target="y", max_categories=50)
    assert "dataset.ignore=[user]" in str(caught.value) and "dataset.hashed=[user]" in str(caught.value)
    features, kinds = columns(path, target="y", hashed=["user"], hash_bins=16)
    assert kinds["user"] == "hashed" and features[0]["bins"] == 16


def test_the_log_says_why_an_integer_target_is_classes_or_a_number(tmp_path, caplog):
    with caplog.at_level("INFO", logger="zoo.data"):
        load(write(tmp_path / "few.csv", ["x", "y"], [[i, i % 4] for i in range(40)]), target="y")
        load(write(tmp_path / "many.csv", ["x", "y"], [[i, 1000 * i] for i in range(40)]), target="y")
    text = caplog.text
    assert "4 distinct integers" in text and "classification; set dataset.task=regression" in text
    assert "40 distinct integers" in text and "regression; set dataset.task=classification" in text


def diabetes_rows(tmp_path):
    """The realistic diabetes CSV (`scripts/make_tabular_csv.py`: scikit-learn's raw data) as rows."""
    import csv
    import importlib.util

    from conftest import REPO

    script = REPO / "scripts" / "make_tabular_csv.py"
    spec = importlib.util.spec_from_file_location("make_tabular_csv", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with module.write_diabetes_csv(tmp_path / "diabetes.csv").open() as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


@pytest.mark.parametrize("bad", ["inf", "1e999", "-inf"])
def test_a_real_valued_target_with_one_non_finite_cell_is_refused_by_line_not_made_classes(tmp_path, bad):
    header, rows = diabetes_rows(tmp_path)
    s5 = header.index("s5")  # a blood serum measurement: 4.8598, 3.8918, ...
    rows[56][s5] = bad
    message = error(tmp_path, header, rows, target="s5")
    assert "target column 's5'" in message and "line 58" in message and repr(bad) in message
    assert "not a finite number" in message


def test_a_target_with_a_class_per_row_is_refused_with_the_fix(tmp_path):
    header, rows = diabetes_rows(tmp_path)
    s5 = header.index("s5")
    rows[99][s5] = "4.2o"  # a typo in a regression target: it is no longer all numbers
    message = error(tmp_path, header, rows, target="s5")
    assert "distinct values in 442 rows (numbers but line 101 holds '4.2o'), too many" in message
    assert "dataset.task=classification" in message
    patients = [[f"patient-{i:04d}", *row] for i, row in enumerate(rows)]  # an identifier as target
    message = error(tmp_path, ["patient", *header], patients, target="patient")
    assert "442 distinct values in 442 rows (nearly a class per row)" in message
    assert "choose another dataset.target" in message
    forced = load(write(tmp_path / "forced.csv", header, rows), target="s5", task="classification")
    assert forced.info.num_classes > 150  # asked for by name: the user's choice, not a silent guess


@pytest.mark.parametrize("sep", [";", "\t"])
def test_training_and_serving_read_a_csv_file_alike(tmp_path, sep):
    """One sniffer and one row reader: `zoo train` and `zoo predict`/`zoo serve` see the same rows."""
    import csv

    from sklearn.datasets import load_wine

    from zoo.serving.inputs import _csv_rows

    wine = load_wine()
    path = tmp_path / "wine.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=sep)
        writer.writerow([*wine.feature_names, "target"])
        writer.writerows([*row, label]
                         for row, label in zip(wine.data.tolist(), wine.target.tolist(), strict=True))
    table = csv_data.read_table(str(path))
    assert csv_data.sniff_separator(path.read_text()) == sep
    assert _csv_rows(path, path.read_text()) == [table.header, *table.rows] and len(table.rows) == 178


def test_a_malformed_csv_is_a_data_error_naming_its_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n3,\"" + "x" * (csv_data.MAX_CELL_BYTES + 1) + "\"\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.csv, line 3: field larger than field limit .*fix the file"):
        csv_data.read_table(str(path))
