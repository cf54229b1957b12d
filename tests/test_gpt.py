"""The GPT family: a tiny GPT-2 trained on real licence text (as written: line breaks kept, blank
lines between documents), scored against the uniform and unigram bounds, generating from the run and
from its TF-free ONNX bundle (with and without the key/value cache), resumed exactly."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
from collections import Counter

import numpy as np
import pytest
from conftest import run_zoo, train_interrupted
from licence_corpus import write_text

import zoo
from zoo.core.errors import ZooError
from zoo.runtime.generation_options import GenerationOptions

VOCABULARY = 400
TINY = ["experiment=gpt_text_lines", "model.sequence_length=64", f"model.vocabulary_size={VOCABULARY}",
        "model.hidden_dim=64", "model.intermediate_dim=256", "model.dropout=0.1", "trainer.batch_size=8",
        "trainer.learning_rate=5e-3", "trainer.warmup_epochs=0", "trainer.tensorboard=false",
        "trainer.plots=false"]
EPOCHS = 6
PROMPTS = ["Permission is hereby granted", "THE SOFTWARE IS PROVIDED", "Redistribution and use in"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """About 60,000 characters of installed licence files as written, paragraphs between blank lines."""
    return write_text(tmp_path_factory.mktemp("gpt") / "licences.txt", 60_000)


def tiny_cfg(corpus, *extra):
    return zoo.compose([*TINY, f"dataset.path={corpus}", f"trainer.epochs={EPOCHS}", *extra])


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    return zoo.train(tiny_cfg(corpus), tmp_path_factory.mktemp("gpt") / "run")


@pytest.fixture(scope="module")
def bundle(trained):
    from zoo.export.exporter import export

    return export(trained.run_dir, format="onnx")


def unigram_perplexity(train_ids: np.ndarray, test_ids: np.ndarray, vocabulary: int) -> float:
    """exp(cross-entropy) of add-one unigram frequencies of the training tokens on the test tokens."""
    counts = np.bincount(train_ids, minlength=vocabulary) + 1.0
    log_p = np.log(counts / counts.sum())
    return float(np.exp(-log_p[test_ids].mean()))


def split_ids(run_dir, split):
    from zoo_plugins.gpt.task import CausalLMData

    from zoo.run.rundir import RunDir

    run = RunDir(run_dir)
    cfg = run.load_config()
    splits = zoo.load_dataset("text_lines", path=cfg.dataset.path, min_chars=cfg.dataset.min_chars,
                              documents=cfg.dataset.documents)
    prepared = CausalLMData(cfg, run).prepare(splits, fit=False)
    _, targets, weights = prepared.arrays[split]
    return targets[weights > 0], prepared


def test_perplexity_beats_uniform_and_unigram_bounds(trained):
    metrics, history = trained.metrics, trained.history
    info = json.loads((trained.run_dir / "dataset.json").read_text())
    vocabulary = info["text"]["vocabulary_size"]
    assert metrics["headline"] == "perplexity" and vocabulary == VOCABULARY
    train_ids, _ = split_ids(trained.run_dir, "train")
    test_ids, _ = split_ids(trained.run_dir, "test")
    unigram = unigram_perplexity(train_ids, test_ids, vocabulary)
    validation = math.exp(history["val_loss"][-1])
    test = metrics["test"]["perplexity"]
    assert test == pytest.approx(math.exp(metrics["test"]["token_loss"]), rel=1e-6)
    print(f"perplexity: validation {validation:.1f}, test {test:.1f}, unigram {unigram:.1f}, "
          f"uniform {vocabulary}")
    assert validation < 0.25 * vocabulary and test < 0.25 * vocabulary
    assert validation < 0.7 * unigram and test < 0.7 * unigram, (validation, test, unigram)
    assert "training tokens/s" in (trained.run_dir / "train.log").read_text()


def test_runtime_tokenizer_equals_keras_hub_tokenizer_on_real_text(trained, corpus):
    """Training tokenises with keras-hub's GPT2Tokenizer (in tf.data), generation and bundles with
    the run's tokenizer.json (Hugging Face tokenizers): the same ids."""
    import tensorflow as tf
    from tokenizers import Tokenizer

    _, prepared = split_ids(trained.run_dir, "test")
    texts = corpus.read_text().splitlines()[:300]
    keras_ids = next(iter(tf.data.Dataset.from_tensor_slices(texts).batch(300).map(prepared.tokenizer)))
    runtime = Tokenizer.from_file(str(trained.run_dir / "tokenizer.json"))
    assert [e.ids for e in runtime.encode_batch(texts)] == keras_ids.to_list()
    assert (trained.run_dir / "preset" / "config.json").exists()


def test_greedy_generation_is_deterministic_and_onnx_reproduces_keras(trained, bundle):
    options = GenerationOptions(max_new_tokens=24, sampler="greedy")
    keras_out = zoo.generate(PROMPTS, run_dir=trained.run_dir, options=options)
    assert keras_out == zoo.generate(PROMPTS, run_dir=trained.run_dir, options=options)
    assert all(len(text) > 0 for text in keras_out)
    check = bundle["verification"]
    assert check["passed"] and check["max_abs_diff"] < 1e-4
    onnx_out = zoo.generate(PROMPTS, bundle=bundle["bundle"], options=options)
    assert onnx_out == keras_out

    # token for token: the ONNX loop's ids equal keras-hub's cached decoding
    from zoo_plugins.gpt.generate import generate_ids, load_model

    from zoo.data.base import DatasetInfo
    from zoo.run.rundir import RunDir
    from zoo.runtime.generate import BundleGenerator

    run = RunDir(trained.run_dir)
    model = load_model(run, run.load_config(), DatasetInfo.load(run.dataset_info), "final")
    model.compile(sampler="greedy")
    cache = bundle["outputs"]["cache"]
    assert cache["check"]["passed"] and cache["check"]["greedy_equal"] and cache["check"]["tokens"] > 0
    assert cache["check"]["max_relative_logit_difference"] < 1e-4
    assert bundle["outputs"]["decoding"] in ("cached", "uncached")  # chosen (the faster) at export
    for decoding in ("cached", "uncached"):
        generator = BundleGenerator.open(bundle["bundle"], decoding)
        for prompt in PROMPTS:
            ids, room = generator.codec.encode(prompt, 24)
            keras_ids = generate_ids(model, [ids], [room], generator.codec.end_id)[0]
            assert list(generator.token_ids(prompt, options)) == keras_ids, (decoding, prompt)


def test_cached_decoding_writes_into_a_growing_buffer_and_batched_rows_decode_as_alone(bundle):
    """The cache is a buffer bound to the graph without copies (IOBinding) that doubles when full:
    greedy tokens through it equal the uncached graph's (the whole prefix each step) past the first
    growth, and rows of different lengths decoded in one batch each give their tokens alone."""
    from zoo.runtime.generate import BundleGenerator
    from zoo.runtime.kv_cache import MIN_ROOM, KVCache

    options = GenerationOptions(max_new_tokens=MIN_ROOM + 8, sampler="greedy", ignore_end=True)
    cached, uncached = (BundleGenerator.open(bundle["bundle"], d) for d in ("cached", "uncached"))
    decoder = cached.cached
    alone = {}
    for prompt in PROMPTS:
        ids = cached.token_ids(prompt, options)
        assert len(ids) == MIN_ROOM + 8 and ids == uncached.token_ids(prompt, options), prompt
        alone[prompt] = ids
    # the same prompts, of different lengths, in one batch (as `zoo serve` decodes them)
    starts = [cached.codec.encode(p, options.max_new_tokens)[0] for p in PROMPTS]
    first = [decoder.prefill(ids) for ids in starts]
    batch = KVCache.join([(c, 0) for _, c in first])
    capacity = batch.capacity
    tokens = [[int(np.argmax(logits))] for logits, _ in first]
    for _ in range(MIN_ROOM + 7):
        logits = decoder.step([t[-1] for t in tokens], batch)
        for row, t in zip(logits, tokens, strict=True):
            t.append(int(np.argmax(row)))
    assert batch.capacity > capacity  # the buffer grew while decoding
    assert tokens == [alone[p] for p in PROMPTS]
    rows = batch.select([2, 0])
    assert rows.lengths.tolist() == [batch.lengths[2], batch.lengths[0]]
    assert np.array_equal(rows.data[:, :, 0, :, :rows.lengths[0]], batch.data[:, :, 2, :, :batch.lengths[2]])


def test_int8_weights_of_the_cached_decoder_agree_with_float32_on_real_prompts(bundle, tmp_path):
    """What `quantize=int8` adds to the export: the cached decoder's MatMul weights in 8-bit blocks
    (onnxruntime's MatMulNBits), its greedy agreement with float32 on the check prompts recorded and
    the graph used only at 95% or more; it then decodes real prompts as float32 does."""
    import shutil

    import onnx
    from zoo_plugins.gpt.export import greedy_cached, quantized_cache

    from zoo.runtime.generate import BundleGenerator
    from zoo.runtime.kv_cache import CachedDecoder

    folder = tmp_path / "bundle"
    shutil.copytree(bundle["bundle"], folder)
    generator = BundleGenerator.open(folder, "cached")
    prompts = [generator.codec.encode(p, 24)[0] for p in PROMPTS]
    end_id, spec = generator.codec.end_id, bundle["outputs"]["cache"]
    quantized = quantized_cache(folder, spec, generator.cached, prompts, end_id, generator.context, "int8")
    report = quantized["int8"]
    assert report["steps"] > 0 and report["greedy_token_agreement"] >= 0.95 and report["used"], report
    graph = onnx.load(str(folder / quantized["file"]))
    assert sum(n.op_type == "MatMulNBits" for n in graph.graph.node) >= 4 * spec["layers"]
    assert (folder / quantized["file"]).stat().st_size < 0.6 * (folder / spec["file"]).stat().st_size
    small = CachedDecoder(folder, quantized)
    pairs = [(greedy_cached(small, p, 24, end_id)[0], greedy_cached(generator.cached, p, 24, end_id)[0])
             for p in prompts]
    agree = [a == b for x, y in pairs for a, b in zip(x, y, strict=False)]
    assert sum(agree) >= 0.9 * len(agree), pairs


def test_running_text_trains_as_written_and_generation_continues_past_a_line_end(corpus, bundle):
    """The GPT experiment keeps the text's line breaks (documents are blank-line separated), so a
    sampled completion goes on after a line end instead of ending there."""
    from zoo_plugins.text.lines_text import read_documents

    assert tiny_cfg(corpus).dataset.documents == "paragraphs"
    documents = read_documents(corpus, 1, "paragraphs")
    assert sum("\n" in d for d in documents) > len(documents) // 2
    assert len(read_documents(corpus, 1, "lines")) > 2 * len(documents)
    continued = []
    for seed in range(3):
        options = GenerationOptions(max_new_tokens=48, sampler="top_k", top_k=20, seed=seed)
        continued += [t for t in zoo.generate(PROMPTS, bundle=bundle["bundle"], options=options)
                      if re.search(r"\S\n+\s*\S", t)]
    assert continued, "no sampled completion went on past a line end"


def test_bundle_generates_without_tensorflow(bundle, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(PROMPTS) + "\n")
    out = tmp_path / "out.jsonl"
    code = (f"import sys; from zoo.cli.main import main; "
            f"rc = main(['generate', 'bundle={bundle['bundle']}', 'input={prompts}', 'output={out}', "
            f"'max_new_tokens=12']); assert 'tensorflow' not in sys.modules; sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["prompt"] for r in records] == PROMPTS
    greedy = zoo.generate(PROMPTS, bundle=bundle["bundle"], options=GenerationOptions(max_new_tokens=12))
    assert [r["completion"] for r in records] == greedy
    refused = run_zoo("predict", f"bundle={bundle['bundle']}", f"input={prompts}", "output=x.csv",
                      cwd=tmp_path)
    assert refused.returncode == 2 and "is a language model: complete prompts with" in refused.stderr


def test_sampling_is_seeded_and_stops_at_stop_strings(trained, bundle):
    def sample(seed, where):
        options = GenerationOptions(max_new_tokens=20, sampler="top_k", top_k=20, seed=seed)
        return zoo.generate(PROMPTS, options=options, **where)

    run, onnx = {"run_dir": trained.run_dir}, {"bundle": bundle["bundle"]}
    assert sample(1, run) == sample(1, run)  # keras-hub's seeded TopKSampler
    assert sample(1, onnx) == sample(1, onnx) != sample(2, onnx)
    greedy = zoo.generate(PROMPTS, bundle=bundle["bundle"], options=GenerationOptions(max_new_tokens=24))
    # a stop string from the middle of the most varied completion (a tiny model may repeat spaces)
    i, text = max(enumerate(greedy), key=lambda pair: len(set(pair[1])))
    stop = text[len(text) // 2:len(text) // 2 + 2]
    assert text.index(stop) > 0, greedy
    stopped = zoo.generate(PROMPTS[i:i + 1], run_dir=trained.run_dir,
                           options=GenerationOptions(max_new_tokens=24, stop=(stop,)))
    assert stopped == [text[:text.index(stop)]]


def test_resume_after_interruption_gives_the_same_weights(trained, corpus, tmp_path, monkeypatch):
    run_dir = tmp_path / "resumed"
    train_interrupted(tiny_cfg(corpus), run_dir, monkeypatch, after_epoch=1)
    assert not (run_dir / "metrics.json").exists()
    resumed = zoo.train(tiny_cfg(corpus), run_dir)
    for a, b in zip(trained.model.weights, resumed.model.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert resumed.metrics["test"] == trained.metrics["test"]


def test_fine_tunes_from_the_run_mirrored_in_mixed_precision(trained, corpus, tmp_path):
    cfg = tiny_cfg(corpus, f"model.preset={trained.run_dir}", "trainer.epochs=1", "trainer.steps_per_epoch=3",
                   "trainer.learning_rate=1e-4", "strategy=mirrored", "strategy.cpu_devices=2",
                   "trainer.precision=mixed_float16")
    result = zoo.train(cfg, tmp_path / "fine")
    assert result.metrics["replicas"] == 2
    assert (result.run_dir / "vocab.json").read_text() == (trained.run_dir / "vocab.json").read_text()
    # starts from the trained weights: already far below the uniform bound after 3 small steps
    assert result.metrics["test"]["perplexity"] < 1.2 * trained.metrics["test"]["perplexity"]


def test_other_families_do_not_generate():
    from zoo.tasks.export_module import ExportModule

    with pytest.raises(ZooError, match="model 'mlp' does not generate text"):
        ExportModule(zoo.compose(["model=mlp"])).generate(["hi"], GenerationOptions())
    with pytest.raises(ZooError, match="sampler='beam'"):
        GenerationOptions(sampler="beam")


def test_unigram_helper_on_a_known_distribution():
    ids = np.array([0, 0, 1, 1])
    assert unigram_perplexity(ids, ids, 2) == pytest.approx(2.0)
    assert Counter(ids.tolist())[0] == 2


@pytest.fixture(scope="module")
def generator(bundle):
    from zoo.runtime.generate import BundleGenerator

    return BundleGenerator.open(bundle["bundle"])


def test_streamed_text_grows_as_the_full_decode_of_real_text(generator, corpus):
    """A completion's text decoded a token at a time is always a prefix of decoding every id at
    once, and at the end equals it, on real text with multi-byte characters appended."""
    codec = generator.codec
    text = corpus.read_text()[:3000] + " caf\u00e9 \u00a9 \u2014 \u00fc\u00df"
    ids = codec.tokenizer.encode(text).ids + [codec.end_id]
    stream, whole = codec.stream(), codec.decode(ids)
    for k in range(1, len(ids) + 1):
        assert whole.startswith(stream.text_of(ids[:k]))
    assert stream.text_of(ids) == whole[:len(stream.text_of(ids))] and len(stream.text_of(ids)) > 2900
    assert stream.text_of(ids, final=True) == whole


def test_completion_requests_are_validated_in_openai_terms(generator):
    from zoo.serving.completions import CompletionError, parse_request

    name = generator.bundle.name
    request = parse_request({"model": name, "prompt": "The", "max_tokens": 5, "temperature": 0,
                             "stop": "\n"}, [name])
    assert request.options.sampler == "greedy" and request.options.max_new_tokens == 5
    assert request.options.stop == ("\n",) and request.prompts == ["The"]
    nucleus = parse_request({"model": name, "prompt": ["a", "b"], "top_p": 0.5}, [name])
    assert nucleus.options.sampler == "top_p"
    bad = [({"model": "nope", "prompt": "x"}, "model", 404), ({"model": name}, "prompt", 400),
           ({"model": name, "prompt": "x", "max_tokens": 0}, "max_tokens", 400),
           ({"model": name, "prompt": "x", "seed": -1}, "seed", 400),
           ({"model": name, "prompt": "x", "stream_options": "yes"}, "stream_options", 400),
           ({"model": name, "prompt": ["x"] * 200_000}, "prompt", 400),
           ({"model": name, "prompt": "x", "n": 2}, "n", 400),
           ({"model": name, "prompt": "x", "temperature": "hot"}, "temperature", 400),
           ({"model": name, "prompt": "x", "stop": ["a"] * 5}, "stop", 400),
           ({"model": name, "prompt": [1, 2]}, "prompt", 400),
           ({"model": name, "prompt": "x", "tempreature": 1}, "tempreature", 400)]
    for body, param, status in bad:
        with pytest.raises(CompletionError) as error:
            parse_request(body, [name])
        assert error.value.param == param and error.value.status == status, body
        assert error.value.body()["error"]["type"] == "invalid_request_error"


def test_completion_answers_and_streams_the_same_text(serve, generator):
    """Two prompts in one request to the server: one choice each with the greedy text, its finish
    reason and the usage; streamed, each choice's pieces join to the same text, then [DONE]."""
    import requests

    _, url = serve()
    name = generator.bundle.name
    body = {"model": name, "prompt": PROMPTS[:2], "max_tokens": 12, "temperature": 0}
    answer = requests.post(f"{url}/v1/completions", json=body, timeout=60).json()
    greedy = generator.complete(PROMPTS[:2], GenerationOptions(max_new_tokens=12))
    assert [c["text"] for c in sorted(answer["choices"], key=lambda c: c["index"])] == greedy
    assert answer["object"] == "text_completion" and answer["usage"]["completion_tokens"] > 0
    assert {c["finish_reason"] for c in answer["choices"]} <= {"stop", "length"}
    streamed = {**body, "stream": True, "stream_options": {"include_usage": True}}
    with requests.post(f"{url}/v1/completions", json=streamed, stream=True, timeout=60) as response:
        events = [line for line in response.iter_lines() if line]
    assert events[-1] == b"data: [DONE]"
    chunks = [json.loads(e[len(b"data: "):]) for e in events[:-1]]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == answer["usage"]
    for index, text in enumerate(greedy):
        pieces = [c["choices"][0] for c in chunks[:-1] if c["choices"][0]["index"] == index]
        assert "".join(p["text"] for p in pieces) == text and len(pieces) > 1
        finish = next(c["finish_reason"] for c in answer["choices"] if c["index"] == index)
        assert pieces[-1]["finish_reason"] == finish


def test_openai_client_gets_a_completion_and_a_stream_from_the_server(bundle, generator, monkeypatch):
    import openai

    from zoo.runtime.bundle import load_bundle
    from zoo.runtime.kv_cache import CachedDecoder
    from zoo.serving.server import ModelServer, start

    # Pieces that queue up while the client's previous one is sent go out as one event: a tiny model
    # decodes 16 tokens faster than the stream sends them, so each step is slowed to a GPT's pace
    # here for the stream to show its pieces.
    step = CachedDecoder.step
    monkeypatch.setattr(CachedDecoder, "step", lambda self, *a: time.sleep(0.005) or step(self, *a))

    server = ModelServer([load_bundle(bundle["bundle"])], port=0)
    start(server)
    try:
        host, port = server.server_address[:2]
        client = openai.OpenAI(base_url=f"http://{host}:{port}/v1", api_key="unused", max_retries=0,
                               timeout=30)
        name = generator.bundle.name
        greedy = generator.complete([PROMPTS[0]], GenerationOptions(max_new_tokens=16))[0]
        answer = client.completions.create(model=name, prompt=PROMPTS[0], max_tokens=16, temperature=0)
        assert answer.choices[0].text == greedy and answer.usage.completion_tokens > 0
        stream = client.completions.create(model=name, prompt=PROMPTS[0], max_tokens=16, temperature=0,
                                           stream=True)
        pieces = [chunk.choices[0].text for chunk in stream]
        assert "".join(pieces) == greedy and len(pieces) > 2
        sampled = client.completions.create(model=name, prompt=PROMPTS[0], max_tokens=16, temperature=0.8,
                                            top_p=0.9, seed=3)
        again = client.completions.create(model=name, prompt=PROMPTS[0], max_tokens=16, temperature=0.8,
                                          top_p=0.9, seed=3)
        assert sampled.choices[0].text == again.choices[0].text
        with pytest.raises(openai.NotFoundError, match="not a served language model"):
            client.completions.create(model="missing", prompt="x", max_tokens=2)
        with pytest.raises(openai.BadRequestError, match="max_new_tokens=0"):
            client.completions.create(model=name, prompt="x", max_tokens=0)
        # the server still answers after the errors
        assert client.completions.create(model=name, prompt="x", max_tokens=2, temperature=0).choices
    finally:
        server.close()


def test_generate_command_errors_are_one_line_and_name_the_fix(tmp_path):
    cases = [(["prompt=x"], "give run_dir=RUN (a trained run) or bundle=DIR"),
             (["run_dir=r", "promt=x"], "did you mean 'prompt'"),
             (["run_dir=r"], "give prompt=TEXT or input=FILE"),
             ([f"bundle={tmp_path}", "prompt=x"], "is not an export bundle"),
             ([f"bundle={tmp_path}", "prompt=x", "sampler=beam"], "sampler=beam: expected one of greedy"),
             ([f"run_dir={tmp_path}", "input=missing.txt"], "input=missing.txt: no such file"),
             ([f"run_dir={tmp_path}", "prompt=x", "output=out.csv"],
              "output=out.csv: expected a file ending")]
    for args, message in cases:
        done = run_zoo("generate", *args, cwd=tmp_path, timeout=60)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_loads_a_hugging_face_gpt2_folder(trained, tmp_path):
    """A Hugging Face-format GPT-2 (config.json, model.safetensors, vocab.json, merges.txt), here
    written by keras-hub's exporter from the trained run, is a `model.preset`."""
    import keras_hub
    from zoo_plugins.gpt.task import fit_tokenizer

    preset = trained.run_dir / "preset"
    tokenizer = keras_hub.models.GPT2Tokenizer.from_preset(str(preset))
    lm = keras_hub.models.GPT2CausalLM(
        backbone=keras_hub.models.GPT2Backbone.from_preset(str(preset)),
        preprocessor=keras_hub.models.GPT2CausalLMPreprocessor(tokenizer, sequence_length=64))
    folder = tmp_path / "hf_gpt2"
    lm.export_to_transformers(str(folder))
    files = {p.name for p in folder.iterdir()}
    assert {"config.json", "model.safetensors", "vocab.json", "merges.txt"} <= files
    info = json.loads((trained.run_dir / "dataset.json").read_text())
    from zoo.data.base import DatasetInfo

    loaded = zoo.build_model("gpt", info=DatasetInfo.from_dict(info), preset=str(folder))
    for a, b in zip(trained.model.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert fit_tokenizer([], zoo.compose(["model=gpt", f"model.preset={folder}"]).model).vocabulary == \
        tokenizer.vocabulary


@pytest.fixture()
def serve(bundle):
    """A server of the bundle on a free port, with the given options; closed after the test."""
    from zoo.runtime.bundle import load_bundle
    from zoo.serving.options import ServeOptions
    from zoo.serving.server import ModelServer, start

    servers = []

    def run(**options):
        server = ModelServer([load_bundle(bundle["bundle"])], port=0, options=ServeOptions(**options))
        start(server)
        servers.append(server)
        host, port = server.server_address[:2]
        return server, f"http://{host}:{port}"

    yield run
    for server in servers:
        server.close()


def generated_tokens(url):
    import requests

    metrics = requests.get(f"{url}/metrics", timeout=10).text
    return sum(float(line.split()[-1]) for line in metrics.splitlines()
               if line.startswith("zoo_generated_tokens_total"))


def test_concurrent_clients_decode_together_and_each_gets_its_text_alone(serve, generator):
    from concurrent.futures import ThreadPoolExecutor

    import openai

    server, url = serve()
    name = generator.bundle.name
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=60)
    prompts = [p + suffix for suffix in ("", " the") for p in PROMPTS] + PROMPTS[:2]
    alone = [client.completions.create(model=name, prompt=p, max_tokens=24, temperature=0).choices[0].text
             for p in prompts]

    def plain(prompt):
        return client.completions.create(model=name, prompt=prompt, max_tokens=24,
                                         temperature=0).choices[0].text

    def streamed(prompt):
        stream = client.completions.create(model=name, prompt=prompt, max_tokens=24, temperature=0,
                                           stream=True)
        return "".join(chunk.choices[0].text for chunk in stream)

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(streamed, prompts)) == alone
        assert list(pool.map(plain, prompts)) == alone
    batcher = server.repository.models[name].resolve().decode_batcher
    assert batcher.peak_rows > 1 and batcher.rows == 0  # they shared steps, and all left
    assert generated_tokens(url) > 0


def test_a_disconnecting_streaming_client_frees_its_slot(serve, generator):
    import socket

    import requests

    server, url = serve(max_decode_batch=1, max_decode_waiting=0)
    name = generator.bundle.name
    body = {"model": name, "prompt": PROMPTS[1], "max_tokens": 40, "temperature": 0}
    full = requests.post(f"{url}/v1/completions", json=body, timeout=30).json()["usage"]["completion_tokens"]
    assert full == 40
    before = generated_tokens(url)
    payload = json.dumps({**body, "stream": True}).encode()
    host, port = server.server_address[:2]
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(b"POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                     b"content-length: %d\r\n\r\n" % len(payload) + payload)
        received = b""
        while b"data: {" not in received:
            received += sock.recv(4096)
    # the one row is free again: a new request is decoded (429 while it is still taken)
    deadline = time.monotonic() + 10
    while (answer := requests.post(f"{url}/v1/completions", json={**body, "max_tokens": 2},
                                   timeout=30)).status_code == 429 and time.monotonic() < deadline:
        assert "retry after a pause" in answer.json()["error"]
        time.sleep(0.02)
    assert answer.status_code == 200, answer.text
    cut = generated_tokens(url) - before - 2
    assert 1 <= cut < full, cut  # the disconnected completion stopped early


def test_chat_completions_through_the_openai_client(serve, generator):
    import openai

    from zoo.serving.chat import PLAIN_TEMPLATE, render

    _, url = serve()
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=30)
    name = generator.bundle.name
    texts = []
    conversations = [[{"role": "user", "content": question}] for question in PROMPTS]
    conversations.append([{"role": "system", "content": "Licence text."},
                          {"role": "user", "content": PROMPTS[0]}, {"role": "assistant", "content": "to"},
                          {"role": "user", "content": [{"type": "text", "text": PROMPTS[1]}]}])
    for messages in conversations:
        turns = [(m["role"], m["content"] if isinstance(m["content"], str) else m["content"][0]["text"])
                 for m in messages]
        prompt = render(turns, PLAIN_TEMPLATE)
        expected = generator.start(prompt, GenerationOptions(max_new_tokens=16, stop=("\nUser:",)))
        text = "".join(expected)
        answer = client.chat.completions.create(model=name, messages=messages, max_tokens=16, temperature=0)
        assert answer.choices[0].message.content == text and answer.choices[0].message.role == "assistant"
        assert answer.choices[0].finish_reason == expected.finish_reason
        assert answer.usage.prompt_tokens == expected.prompt_tokens
        assert answer.usage.completion_tokens == expected.completion_tokens
        stream = client.chat.completions.create(model=name, messages=messages, max_tokens=16, temperature=0,
                                                stream=True, stream_options={"include_usage": True})
        chunks = list(stream)
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
        assert chunks[-1].usage.completion_tokens == expected.completion_tokens
        texts.append(text)
    assert any(texts)


def test_bad_chat_bodies_get_openai_style_400s(serve, generator):
    import requests

    _, url = serve()
    name = generator.bundle.name
    user = [{"role": "user", "content": "Hello"}]
    bad = [([], None), ({"model": name}, "messages"), ({"model": name, "messages": []}, "messages"),
           ({"model": name, "messages": "hi"}, "messages"),
           ({"model": name, "messages": [{"role": "robot", "content": "x"}]}, "messages"),
           ({"model": name, "messages": [{"role": "user", "content": 3}]}, "messages"),
           ({"model": name, "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "messages"),
           ({"model": name, "messages": user, "n": 2}, "n"),
           ({"model": name, "messages": user, "tools": [{"type": "function"}]}, "tools"),
           ({"model": name, "messages": user, "temperature": 3}, "temperature"),
           ({"model": name, "messages": user, "max_tokens": 10**9}, "max_tokens"),
           ({"model": name, "messages": user, "seed": -1}, "seed"),
           ({"model": name, "messages": user, "stream_options": []}, "stream_options"),
           ({"model": name, "messages": user, "mesages": 1}, "mesages")]
    for body, param in bad:
        answer = requests.post(f"{url}/v1/chat/completions", json=body, timeout=10)
        error = answer.json()["error"]
        assert answer.status_code == 400 and error["type"] == "invalid_request_error", (body, answer.text)
        assert error["param"] == param, (body, error)
    missing = requests.post(f"{url}/v1/chat/completions", json={"model": "nope", "messages": user},
                            timeout=10)
    assert missing.status_code == 404 and "not a served language model" in missing.json()["error"]["message"]


def test_a_language_model_bundle_is_checked_when_loaded(bundle, tmp_path):
    """A broken tokenizer.json, or one that does not fit the graph, is refused when the bundle loads
    (so `zoo serve` never reports ready and then fails every completion)."""
    import shutil

    from zoo.runtime.bundle import BundleError, load_bundle

    broken = shutil.copytree(bundle["bundle"], tmp_path / "broken")
    (broken / "tokenizer.json").write_text('{"model": {')
    with pytest.raises(BundleError, match="tokenizer or export.json cannot be read"):
        load_bundle(broken)
    shutil.copy2(f"{bundle['bundle']}/tokenizer.json", broken / "tokenizer.json")
    meta = json.loads((broken / "export.json").read_text())
    meta["outputs"]["vocabulary_size"] = 10
    (broken / "export.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=f"the graph gives {VOCABULARY} logits"):
        load_bundle(broken)


@pytest.mark.alone  # times the exit
def test_sigterm_ends_running_streams_cleanly_within_the_drain_timeout(bundle, generator):
    """Streams still decoding when SIGTERM comes end with a 503 event before `drain_timeout_s`: the
    process exits 0 within the timeout plus a 1 s margin, with no cancelled task or traceback logged."""
    import os
    import signal
    import socket
    import threading

    import requests

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    drain = 3.0
    code = "import sys; from zoo.cli.main import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", code, "serve", f"bundle={bundle['bundle']}",
                             f"port={port}", f"drain_timeout_s={drain}", "max_decode_batch=1",
                             "max_decode_waiting=600", "access_log=false"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    events: list[list[str]] = [[] for _ in range(32)]  # 32 x 16 completions one at a time: many seconds
    first = threading.Event()
    body = {"model": generator.bundle.name, "prompt": (PROMPTS * 6)[:16], "max_tokens": 48, "temperature": 0,
            "ignore_eos": True, "stream": True}

    def stream(into):
        with requests.post(f"http://127.0.0.1:{port}/v1/completions", json=body, stream=True,
                           timeout=60) as answer:
            for line in answer.iter_lines():
                if line.startswith(b"data: "):
                    into.append(line[6:].decode())
                    first.set()

    try:
        assert f"on http://127.0.0.1:{port}/v1/models" in proc.stdout.readline()
        clients = [threading.Thread(target=stream, args=(into,)) for into in events]
        for client in clients:
            client.start()
        assert first.wait(60)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - sent
        for client in clients:
            client.join(10)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    print(f"SIGTERM to exit: {took:.2f} s")
    assert took < drain + 1.0, (took, err)
    assert "Traceback" not in err and "Cancel" not in err, err
    cut = 0
    for into in events:  # every stream ended whole: done before SIGTERM, or cut with a 503 event saying so
        if into[-1] != "[DONE]":
            last = json.loads(into[-1])
            assert last["error"]["code"] == 503 and "shutting down" in last["error"]["message"], into[-1]
            cut += 1
    assert cut >= len(events) // 2
    assert "stopped: in-flight requests drained" in out
