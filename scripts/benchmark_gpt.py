"""GPT throughput: training tokens/s of `zoo train experiment=gpt_text_lines` against a plain
keras-hub script of the same model and data, and generation tokens/s of Keras `generate`
(keras-hub, cached decoding) against the TF-free ONNX loop (uncached, with the key/value cache, and
with the cache's weights in int8), in one process; and `zoo serve` with concurrent streaming clients.

Both training sides: the BPE the zoo run fitted (vocab.json/merges.txt in keras-hub's
GPT2Tokenizer), documents joined by <|endoftext|> and cut into blocks, a GPT2CausalLM of the same
size, AdamW (lr 1e-3, weight decay 0.01, clipnorm 1.0), `--steps` steps x `--epochs`, validation after
every epoch. Throughput is over epochs 2..N (first-epoch tracing excluded); sides alternate
plain, zoo, plain, ... after an untimed warm-up.

    python scripts/benchmark_gpt.py CORPUS.txt [--size tiny --length 128 --steps 30 --epochs 3 --repeats 2]
    python scripts/benchmark_gpt.py - --untrained-size small --length 256 --new-tokens 128  # generation only
    python scripts/benchmark_gpt.py - --serve-bundle BUNDLE --clients 8 --new-tokens 64 [--client openai]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from benchmark_training import epoch_timer, result, timed_zoo_train  # noqa: E402

import zoo  # noqa: E402

BATCH = 16


def zoo_overrides(path: Path, size: str, length: int, steps: int, epochs: int) -> list[str]:
    return ["experiment=gpt_text_lines", f"dataset.path={path}", f"model.preset={size}",
            f"model.sequence_length={length}", "model.vocabulary_size=2000", f"trainer.batch_size={BATCH}",
            "trainer.learning_rate=1e-3", "trainer.lr_schedule=constant", "trainer.warmup_epochs=0",
            f"trainer.steps_per_epoch={steps}", f"trainer.epochs={epochs}", "trainer.tensorboard=false",
            "trainer.plots=false"]


def run_plain(path: Path, run_dir: Path, size: str, length: int, steps: int, epochs: int) -> dict:
    import keras
    import keras_hub
    import tensorflow as tf
    from zoo_plugins.gpt.sizes import SIZES

    started = time.perf_counter()
    keras.backend.clear_session()
    keras.utils.set_random_seed(42)
    tokenizer = keras_hub.models.GPT2Tokenizer(vocabulary=str(run_dir / "vocab.json"),
                                               merges=str(run_dir / "merges.txt"))
    lines = [" ".join(line.split()) for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line]
    rng = np.random.default_rng(42)
    order = rng.permutation(len(lines))
    n_val = max(1, len(lines) // 20)

    def blocks(index: np.ndarray) -> tuple:
        texts = tf.data.Dataset.from_tensor_slices([lines[i] for i in index]).batch(256).map(tokenizer)
        rows = [row for ragged in texts for row in ragged.to_list()]
        ids = np.concatenate([np.append(np.asarray(row, np.int32), tokenizer.end_token_id) for row in rows])
        n = (len(ids) - 1) // length
        x = ids[:n * length].reshape(n, length).astype(np.int32)
        y = ids[1:n * length + 1].reshape(n, length).astype(np.int32)
        return {"token_ids": x, "padding_mask": np.ones_like(x, bool)}, y

    train, val = blocks(order[2 * n_val:]), blocks(order[:n_val])
    ds = tf.data.Dataset.from_tensor_slices(train).shuffle(4096, seed=42).repeat().batch(BATCH) \
        .prefetch(tf.data.AUTOTUNE)
    val_ds = tf.data.Dataset.from_tensor_slices(val).batch(BATCH)
    backbone = keras_hub.models.GPT2Backbone(vocabulary_size=tokenizer.vocabulary_size(),
                                             max_sequence_length=length, dropout=0.1, **SIZES[size])
    model = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=0.01, clipnorm=1.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  weighted_metrics=[keras.metrics.SparseCategoricalAccuracy()])
    timer = epoch_timer()
    fit_started = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=epochs, validation_data=val_ds, callbacks=[timer], verbose=0)
    fit_seconds = time.perf_counter() - fit_started
    loss = model.evaluate(val_ds, verbose=0, return_dict=True)["loss"]
    return result(steps * BATCH * length, epochs, fit_seconds, timer.ends, time.perf_counter() - started,
                  float(np.exp(loss)), model.count_params())


def run_zoo(path: Path, size: str, length: int, steps: int, epochs: int) -> dict:
    res, _, ends, seconds = timed_zoo_train(zoo_overrides(path, size, length, steps, epochs))
    m = res.metrics
    return result(steps * BATCH * length, epochs, m["train_seconds"], ends, seconds,
                  m["test"]["perplexity"], res.model.count_params())


def generation_speed(run_dir: Path, new_tokens: int, repeats: int) -> dict:
    """Greedy tokens/s of one prompt: Keras (keras-hub cached generate) vs the ONNX loop."""
    from zoo.export.exporter import export
    from zoo.runtime.generation_options import GenerationOptions

    bundle = export(run_dir, format="onnx")["bundle"]
    options = GenerationOptions(max_new_tokens=new_tokens, sampler="greedy")
    from zoo_plugins.gpt.generate import load_model

    from zoo.data.base import DatasetInfo
    from zoo.run.rundir import RunDir
    from zoo.runtime.generate import BundleGenerator

    run = RunDir(run_dir)
    model = load_model(run, run.load_config(), DatasetInfo.load(run.dataset_info), "final")
    model.compile(sampler="greedy")
    onnx = BundleGenerator.open(bundle)
    prompt = "Permission is hereby granted, free of charge, to any person"
    ids, room = onnx.codec.encode(prompt, new_tokens)

    def keras_side() -> int:  # no end-of-text stop: always `room` tokens
        model.generate({"token_ids": np.pad(np.array([ids], np.int32), ((0, 0), (0, room))),
                        "padding_mask": np.pad(np.ones((1, len(ids)), bool), ((0, 0), (0, room)))},
                       stop_token_ids=None)
        return room

    def onnx_side() -> int:
        tokens = list(ids)
        for _ in range(room):
            tokens.append(int(np.argmax(onnx.logits(tokens))))
        return room

    sides = {"keras": keras_side, "onnx": onnx_side}
    for side in sides.values():
        side()  # warm-up: tracing, session start
    speeds: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeats):
        for name, side in sides.items():
            started = time.perf_counter()
            n = side()
            speeds[name].append(n / (time.perf_counter() - started))
    medians = {name: statistics.median(v) for name, v in speeds.items()}
    return {"new_tokens": room, "prompt_tokens": len(ids), "tokens_per_second": medians,
            "ratio_onnx_keras": medians["onnx"] / medians["keras"], "options": options.sampler}


def step_cost_by_length(decoder: Any, prompt: list[int], early: int = 33, late: int = 128,
                        pairs: int = 40) -> dict[str, float]:
    """Median seconds of one decode step with the text at `early` tokens and at `late`, timed in
    alternating pairs (a copy of each cache per step, untimed), so load that changes during the run
    hits both alike: the per-token growth figure without the drift of one long run."""
    logits, cache = decoder.prefill(prompt)
    caches = {}
    for length in range(len(prompt), late + 1):
        if length in (early, late):
            caches[length] = cache.select([0])
        logits = decoder.step([int(np.argmax(logits))], cache)[0]
    times: dict[int, list[float]] = {early: [], late: []}
    for _ in range(pairs):
        for length, kept in caches.items():
            row = kept.select([0])
            started = time.perf_counter()
            decoder.step([1], row)
            times[length].append(time.perf_counter() - started)
    early_s, late_s = statistics.median(times[early]), statistics.median(times[late])
    return {"early_ms": early_s * 1000, "late_ms": late_s * 1000, "ratio_late_early": late_s / early_s}


def untrained_generation_speed(size: str, length: int, vocabulary: int, new_tokens: int,
                               repeats: int, uncached_side: bool = True) -> dict:
    """Greedy tokens/s of a randomly initialised `size` GPT (no training needed), batch 1, a 16-token
    prompt: keras-hub's cached `generate` against the ONNX loop without a cache, with the key/value
    cache (float32) and with the cache's weights quantised as export's `quantize=` options do; sides
    alternate, medians of `repeats`. The cached sides also time each token, so the cost of tokens 2-33
    and 97-128 can be compared, and report how many greedy tokens agree with float32's."""
    import keras_hub
    import tensorflow as tf
    import tf2onnx
    from zoo_plugins.gpt import cached
    from zoo_plugins.gpt.export import QUANTIZED, decoder_specs, quantize_weights
    from zoo_plugins.gpt.sizes import SIZES

    from zoo.runtime.kv_cache import CachedDecoder
    from zoo.runtime.runners import OnnxRunner

    backbone = keras_hub.models.GPT2Backbone(vocabulary_size=vocabulary, max_sequence_length=length,
                                             **SIZES[size])
    model = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    model.compile(sampler="greedy")
    fn = tf.function(lambda ids, mask: model({"token_ids": ids, "padding_mask": mask}, training=False),
                     input_signature=decoder_specs())
    tmp = Path(tempfile.mkdtemp())
    if uncached_side:
        tf2onnx.convert.from_function(fn, input_signature=decoder_specs(), opset=17,
                                      output_path=str(tmp / "model.onnx"))
    cached.to_onnx(model, tmp / "cached.onnx", 17)
    files = {"onnx_cached": "cached.onnx"}
    for weights, (file, _) in QUANTIZED.items():
        quantize_weights(tmp / "cached.onnx", tmp / file, weights)
        files[f"onnx_cached_{weights}"] = file
    uncached = OnnxRunner(tmp / "model.onnx") if uncached_side else None
    shape = {"layout": cached.LAYOUT, **cached.cache_shape(model)}
    decoders = {name: CachedDecoder(tmp, {"file": file, **shape}) for name, file in files.items()}
    prompt = list(range(1, 17))
    per_token: dict[str, list[list[float]]] = {name: [] for name in decoders}
    greedy: dict[str, list[int]] = {}

    def keras_side() -> None:
        ids = np.zeros((1, len(prompt) + new_tokens), np.int32)
        ids[0, :len(prompt)] = prompt
        mask = np.zeros_like(ids, bool)
        mask[0, :len(prompt)] = True
        model.generate({"token_ids": ids, "padding_mask": mask}, stop_token_ids=None)

    def onnx_side() -> None:
        tokens = list(prompt)
        for _ in range(new_tokens):
            x = np.asarray([tokens], np.int32)
            tokens.append(int(np.argmax(uncached.run([x, np.ones_like(x, bool)])[0, -1])))

    def cached_side(name: str) -> Any:
        def run() -> None:
            decoder, times, tokens = decoders[name], [], []
            started = time.perf_counter()
            logits, past = decoder.prefill(prompt)
            times.append(time.perf_counter() - started)
            for _ in range(new_tokens - 1):
                tokens.append(int(np.argmax(logits)))
                started = time.perf_counter()
                logits = decoder.step([tokens[-1]], past)[0]
                times.append(time.perf_counter() - started)
            per_token[name].append(times)
            greedy[name] = tokens
        return run

    sides = {"keras": keras_side, **({"onnx": onnx_side} if uncached_side else {}),
             **{name: cached_side(name) for name in decoders}}
    for side in sides.values():
        side()
    speeds: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeats):
        for name, side in sides.items():
            started = time.perf_counter()
            side()
            speeds[name].append(new_tokens / (time.perf_counter() - started))
    medians = {name: statistics.median(v) for name, v in speeds.items()}
    flat = {}
    for name, runs in per_token.items():  # decode steps only: token 2.. (token 1 is the prefill)
        steps = np.median(np.asarray(runs[1:]), axis=0)
        late = steps[max(1, new_tokens - 32):]
        early = steps[1:33]  # tokens 2-33 (token 1 comes from the prefill)
        flat[name] = {"first_32_ms": float(np.mean(early) * 1000), "last_32_ms": float(np.mean(late) * 1000),
                      "ratio_last_first": float(np.mean(late) / np.mean(early)),
                      "greedy_tokens_equal_float32": sum(
                          a == b for a, b in zip(greedy[name], greedy["onnx_cached"], strict=True))}
    return {"size": size, "params": model.count_params(), "prompt_tokens": len(prompt),
            "new_tokens": new_tokens, "tokens_per_second": medians,
            "ratio_to_keras": {name: v / medians["keras"] for name, v in medians.items()},
            "per_token_cost": flat,
            "step_cost_by_length": {name: step_cost_by_length(d, prompt) for name, d in decoders.items()},
            "bytes": {p.name: p.stat().st_size for p in tmp.glob("*.onnx")}}


def raw_streams(base: str, name: str, prompts: list[str], new_tokens: int) -> list[tuple[float, int, float]]:
    """Stream completions of `prompts` concurrently from one asyncio loop with `aiohttp`, reading each
    server-sent event with `json.loads`, as vLLM's `benchmark_serving` reads its streams: what the
    server gives, without the `openai` client's per-chunk model objects (8 client threads on one
    interpreter lock cost about as much CPU as the server's own work). Per prompt: time to first
    text, completion tokens (the usage chunk), total seconds."""
    import asyncio

    import aiohttp

    async def one(session: aiohttp.ClientSession, prompt: str) -> tuple[float, int, float]:
        started = time.perf_counter()
        first, tokens = None, 0
        body = {"model": name, "prompt": prompt, "max_tokens": new_tokens, "temperature": 0,
                "stream": True, "stream_options": {"include_usage": True}, "ignore_eos": True}
        async with session.post(f"{base}/v1/completions", json=body) as answer:
            answer.raise_for_status()
            async for raw in answer.content:
                line = raw.strip()
                if not line.startswith(b"data: ") or line == b"data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if first is None and chunk["choices"] and chunk["choices"][0]["text"]:
                    first = time.perf_counter() - started
                if chunk.get("usage"):
                    tokens = chunk["usage"]["completion_tokens"]
        return first or float("nan"), tokens, time.perf_counter() - started

    async def every() -> list[tuple[float, int, float]]:
        connector = aiohttp.TCPConnector(limit=len(prompts))
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(600)) as session:
            return list(await asyncio.gather(*(one(session, p) for p in prompts)))

    return asyncio.run(every())


def serve_speed(bundle: Path, clients: int, new_tokens: int, prompt: str, repeats: int = 3,
                client_kind: str = "raw") -> dict:
    """`zoo serve` on the bundle: one streaming client, then `clients` at once (greedy, `new_tokens`
    each), alternating, `repeats` times: median aggregate tokens/s and p50 time to first token.
    `client_kind`: `raw` (one asyncio loop, httpx, json.loads per event) or `openai` (the official
    client, a thread per client)."""
    import socket
    import subprocess
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    import openai

    with socket.socket() as probe:  # a free port for the server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # the server in its own process, as clients meet it (in-process, the 8 client threads' SSE parsing
    # shared the server's interpreter lock)
    server = subprocess.Popen([sys.executable, "-m", "zoo.cli.main", "serve", f"bundle={bundle}",
                               f"port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"{base}/v1/models", timeout=5) as answer:
                name = json.loads(answer.read())["data"][0]["id"]
            break
        except OSError:
            if server.poll() is not None:
                raise SystemExit(f"zoo serve bundle={bundle} exited with {server.returncode}") from None
            time.sleep(0.5)
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0, timeout=600)

    def one(i: int) -> tuple[float, int, float]:
        started = time.perf_counter()
        first, tokens = None, 0
        stream = client.completions.create(model=name, prompt=f"{prompt} {i}", max_tokens=new_tokens,
                                           temperature=0, stream=True, stream_options={"include_usage": True},
                                           extra_body={"ignore_eos": True})
        for chunk in stream:
            if chunk.choices and chunk.choices[0].text and first is None:
                first = time.perf_counter() - started
            if chunk.usage:
                tokens = chunk.usage.completion_tokens
        return first or float("nan"), tokens, time.perf_counter() - started

    def together(n: int) -> list[tuple[float, int, float]]:
        if client_kind == "raw":
            return raw_streams(base, name, [f"{prompt} {i}" for i in range(n)], new_tokens)
        with ThreadPoolExecutor(n) as pool:
            return list(pool.map(one, range(n)))

    try:
        together(1)  # warm-up
        runs: dict[int, list[tuple[float, float]]] = {1: [], clients: []}
        for _ in range(repeats):  # alternate 1 and `clients` clients: the load changes under us
            for n in runs:
                started = time.perf_counter()
                done = together(n)
                wall = time.perf_counter() - started
                runs[n].append((sum(r[1] for r in done) / wall, statistics.median(r[0] for r in done)))
        result = {f"{n}_clients": {"tokens_per_second": statistics.median(r[0] for r in rs),
                                   "ttft_p50_s": statistics.median(r[1] for r in rs), "runs": rs}
                  for n, rs in runs.items()}
    finally:
        server.terminate()
        server.wait(30)
    result["client"] = client_kind
    one_client = result["1_clients"]["tokens_per_second"]
    result["aggregate_ratio"] = result[f"{clients}_clients"]["tokens_per_second"] / one_client
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--size", default="tiny")
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--output", type=Path, default=Path("benchmark_gpt.json"))
    parser.add_argument("--untrained-size", default="",
                        help="only time generation of a random-weight GPT of this size (e.g. small)")
    parser.add_argument("--serve-bundle", type=Path, default=None,
                        help="only time `zoo serve` on this GPT bundle: 1 client, then --clients at once")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--client", choices=("raw", "openai"), default="raw",
                        help="with --serve-bundle: aiohttp + json.loads in one asyncio loop (vLLM's "
                             "benchmark style), or the openai client in a thread per client")
    parser.add_argument("--no-uncached", action="store_true",
                        help="with --untrained-size: skip the ONNX side without a cache (minutes at small)")
    args = parser.parse_args()
    if args.serve_bundle:
        speed = serve_speed(args.serve_bundle, args.clients, args.new_tokens,
                            "Permission is hereby granted, free of charge, to any person obtaining",
                            max(3, args.repeats), args.client)
        print(json.dumps(speed, indent=2))
        args.output.write_text(json.dumps(speed, indent=2) + "\n")
        return
    if args.untrained_size:
        speed = untrained_generation_speed(args.untrained_size, args.length, 8000, args.new_tokens, 3,
                                           not args.no_uncached)
        print(json.dumps(speed, indent=2))
        args.output.write_text(json.dumps(speed, indent=2) + "\n")
        return
    with tempfile.TemporaryDirectory() as tmp:
        reference = zoo.train(zoo.compose(zoo_overrides(args.corpus, args.size, args.length, args.steps,
                                                        args.epochs)), run_dir=Path(tmp) / "reference")
        sides = {"plain": lambda s, e: run_plain(args.corpus, reference.run_dir, args.size, args.length,
                                                 s, e),
                 "zoo": lambda s, e: run_zoo(args.corpus, args.size, args.length, s, e)}
        for run in sides.values():  # warm-up (not timed)
            run(2, 1)
        runs: dict[str, list[dict]] = {name: [] for name in sides}
        for i in range(args.repeats):
            for name, run in sides.items():
                r = run(args.steps, args.epochs)
                runs[name].append(r)
                print(f"  repeat {i + 1} {name:5s} steady {r['steady_eps']:9.0f} tokens/s  "
                      f"load {r['loadavg']:.2f}", flush=True)
        generation = generation_speed(reference.run_dir, args.new_tokens, 3)
    keys = ("steady_eps", "steady_eps_cpu", "fit_eps", "loadavg")
    med = {name: {k: statistics.median(r[k] for r in rs) for k in keys} for name, rs in runs.items()}
    ratio = med["zoo"]["steady_eps"] / med["plain"]["steady_eps"]
    print(f"\nGPT {args.size}, context {args.length}, batch {BATCH}, {args.steps} steps x "
          f"{args.epochs} epochs")
    for name, m in med.items():
        print(f"{name:5s} training {m['steady_eps']:9.0f} tokens/s  {m['steady_eps_cpu']:9.0f} tokens/CPU-s  "
              f"load {m['loadavg']:.2f}")
    print(f"ratio zoo/plain training tokens/s: {ratio:.2f}")
    speed = generation["tokens_per_second"]
    print(f"generation ({generation['prompt_tokens']}-token prompt, {generation['new_tokens']} new, greedy): "
          f"keras {speed['keras']:.1f} tokens/s, onnx {speed['onnx']:.1f} tokens/s, "
          f"ratio onnx/keras {generation['ratio_onnx_keras']:.2f}")
    args.output.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "medians": med,
                                       "ratio_zoo_plain": ratio, "generation": generation, "runs": runs},
                                      indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
