"""Text and sequence data sources: the user's CSV/TSV and folders, TFDS text sets, time series."""

from __future__ import annotations

import numpy as np
import pytest

import zoo
from zoo.core.errors import DataError


def write(path, text, encoding="utf-8"):
    path.write_text(text, encoding=encoding)
    return path


def rows(ds):
    return [(x.numpy().decode() if hasattr(x, "numpy") else tuple(t.numpy().decode() for t in x),
             int(y)) for x, y in ds]


def load_tfds_text(**fields):
    from omegaconf import OmegaConf
    from zoo_plugins.text import TFDSTextDatasetConfig, tfds_text

    return tfds_text.load(OmegaConf.merge(OmegaConf.structured(TFDSTextDatasetConfig), fields), seed=0)


def test_text_csv_maps_class_names_to_ids_and_keeps_the_mapping(tmp_path):
    lines = ["text\tlabel"] + [f"good film number {i}\tpos" if i % 2 else f"bad film number {i}\tneg"
                               for i in range(40)]
    path = write(tmp_path / "reviews.tsv", "\n".join(lines))
    splits = zoo.load_dataset("text_csv", path=str(path), seed=1)
    info = splits.info
    assert (info.modality, info.input_dtype, info.class_names) == ("text", "string", ["neg", "pos"])
    assert info.extra["label_map"] == {0: "neg", 1: "pos"}
    assert sum(info.num_examples.values()) == 40
    for text, label in rows(splits.train):
        assert ("good" in text) == (label == 1)


def test_text_csv_reads_sentence_pairs_and_a_separate_test_file(tmp_path):
    body = "a,b,y\n" + "".join(f"q{i},q{i},1\nq{i},z{i},0\n" for i in range(20))
    path = write(tmp_path / "pairs.csv", body)
    test = write(tmp_path / "test.csv", "a,b,y\nx,x,1\nx,w,0\n")
    splits = zoo.load_dataset("text_csv", path=str(path), text_column="a", text_pair_column="b",
                              label_column="y", test_path=str(test), seed=0)
    assert splits.info.text.pairs is True
    assert rows(splits.test) == [(("x", "x"), 1), (("x", "w"), 0)]


@pytest.mark.parametrize(("body", "options", "message"), [
    ("txt,label\nhello,1\nbye,0\n", {}, r"column 'text' \(dataset.text_column\) not found .*did you "
                                        r"mean 'txt'\? set dataset.text_column=<column>"),
    ("text,label\nhello,1\n   ,0\n", {}, r"empty text at line 3 of column 'text'"),
    ("text,label\nhello,0.5\nbye,1.5\n", {}, r"label '0.5' .* is not an integer class id or a class name"),
    ("text,label\nhello,a\nbye,b\n", {"test_path": "TEST"}, r"class 'c' in column 'label' .*test.csv is "
                                                            r"not among the training classes"),
])
def test_text_csv_rejects_bad_input_with_the_fix(tmp_path, body, options, message):
    path = write(tmp_path / "data.csv", body)
    if options.get("test_path"):
        options = {"test_path": str(write(tmp_path / "test.csv", "text,label\nhi,c\n"))}
    with pytest.raises(DataError, match=message):
        zoo.load_dataset("text_csv", path=str(path), **options)


def test_text_files_not_in_utf8_are_named(tmp_path):
    path = write(tmp_path / "latin.csv", "text,label\ncafé crème,1\nthé,0\n", encoding="latin-1")
    with pytest.raises(DataError, match=r"latin.csv is not UTF-8 text .*re-save it as UTF-8"):
        zoo.load_dataset("text_csv", path=str(path))
    for name in ("sport", "music"):
        (tmp_path / "docs" / name).mkdir(parents=True)
        for i in range(3):
            write(tmp_path / "docs" / name / f"{i}.txt", f"{name} story {i}")
    write(tmp_path / "docs" / "music" / "bad.txt", "caf\xe9", encoding="latin-1")
    with pytest.raises(DataError, match=r"music/bad.txt is not UTF-8"):
        zoo.load_dataset("text_folder", path=str(tmp_path / "docs"))


def test_text_folder_labels_files_by_sub_folder(tmp_path):
    for name in ("sport", "music"):
        (tmp_path / name).mkdir()
        for i in range(10):
            write(tmp_path / name / f"{i}.txt", f"a {name} story, part {i}")
    splits = zoo.load_dataset("text_folder", path=str(tmp_path), seed=0)
    assert splits.info.class_names == ["music", "sport"]
    every = rows(splits.train) + rows(splits.validation) + rows(splits.test)
    assert len(every) == 20 and all(splits.info.class_names[y] in x for x, y in every)


def test_tfds_text_reads_imdb_reviews_offline_with_mock_data(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=20, data_dir=str(tmp_path)):
        splits = load_tfds_text(name="imdb_reviews", data_dir=str(tmp_path))
        first = next(iter(splits.train))
    assert splits.info.class_names == ["neg", "pos"] and splits.info.modality == "text"
    assert first[0].dtype.name == "string" and int(first[1]) in (0, 1)


def test_tfds_text_fails_fast_when_the_data_cannot_be_had(tmp_path):
    with pytest.raises(DataError, match=r"'ag_news_subset' is not in data dir .*dataset.download=false"
                                        r".*tfds build ag_news_subset"):
        load_tfds_text(name="ag_news_subset", text_key="description", data_dir=str(tmp_path),
                       download=False)


def test_timeseries_windows_predict_the_value_horizon_steps_ahead(tmp_path):
    t = np.arange(100)
    lines = ["day,temp,rain"] + [f"2020-{i},{v},{v % 7}" for i, v in enumerate(t)]
    path = write(tmp_path / "series.csv", "\n".join(lines))
    splits = zoo.load_dataset("timeseries_csv", path=str(path), target="temp", window=5, horizon=3)
    info = splits.info
    assert (info.modality, info.task, info.input_shape) == ("sequence", "regression", (5, 2))
    assert info.feature_names == ["temp", "rain"]
    x, y = next(iter(splits.train))
    assert x[:, 0].numpy().tolist() == [0, 1, 2, 3, 4] and float(y) == 7.0
    last_train = list(splits.train)[-1][1]
    assert float(last_train) < float(next(iter(splits.validation))[1]) < float(next(iter(splits.test))[1])
    with pytest.raises(DataError, match="lower dataset.window"):
        zoo.load_dataset("timeseries_csv", path=str(path), target="temp", window=95)


def test_a_text_without_paragraphs_is_one_stream_cut_at_line_ends(tmp_path):
    """documents=paragraphs (the GPT default) on a file of one paragraph a line and no blank lines
    (real licence text): one stream cut into blocks of whole lines, in order, none lost."""
    from licence_corpus import write_lines
    from zoo_plugins.text.lines_text import STREAM_BLOCKS, read_documents

    path = write_lines(tmp_path / "corpus.txt", max_chars=20_000)
    blocks = read_documents(path, min_chars=1, documents="paragraphs")
    assert 3 <= len(blocks) <= STREAM_BLOCKS
    assert "\n".join(blocks) == path.read_text(encoding="utf-8").rstrip("\n")
