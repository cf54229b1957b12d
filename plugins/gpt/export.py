"""The exported GPT: the decoder (token ids and padding mask in, next-token logits out, any batch
and length up to the context), described in `export.json` as a `causal_lm` with its tokenizer; for
ONNX also the decoder with a key/value cache (`zoo_plugins.gpt.cached`), checked against keras-hub's
cached decoding, and `outputs.decoding`: which of the two the runtime uses (the faster here)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from zoo_plugins.gpt.tokenizer import TOKENIZER_JSON

from zoo.sdk import CAUSAL_LM, DEFAULT_PART, DatasetInfo, ExportPart, ZooError

CHECK_BLOCKS = 16  # test blocks of the float check (logits are [blocks, context, vocabulary])
CHECK_PROMPTS, PROMPT_TOKENS, CHECK_TOKENS = 4, 16, 24  # the cached decoder's check
SPEED_TOKENS = 32  # greedy tokens timed to choose cached or uncached decoding
# quantize=: the cached decoder's file and bits per weight
QUANTIZED = {"int8": ("decoder_cached_int8.onnx", 8), "int4": ("decoder_cached_int4.onnx", 4)}
BLOCK = 32  # weights share one scale per block of 32 along the input axis
MIN_AGREEMENT = 0.95  # quantised weights replace float32 only where greedy tokens agree this often


def decoder_specs() -> list[Any]:
    import tensorflow as tf

    return [tf.TensorSpec((None, None), tf.int32, name="token_ids"),
            tf.TensorSpec((None, None), tf.bool, name="padding_mask")]


def decoder_part(model: Any, cfg: Any, info: DatasetInfo, arrays: dict[str, Any]) -> ExportPart:
    """The whole GPT2CausalLM as one part; checked on test blocks against Keras's logits."""

    def sample(split: str, limit: int) -> tuple[list[np.ndarray], None]:
        inputs = arrays[split][0]
        n = min(limit, CHECK_BLOCKS, len(inputs["token_ids"]))
        return [inputs["token_ids"][:n], inputs["padding_mask"][:n]], None

    outputs = {"kind": CAUSAL_LM, "tokenizer": TOKENIZER_JSON, "context_length": int(info.input_shape[0]),
               "vocabulary_size": int(info.text.vocabulary_size),
               "end_token_id": int(info.text.end_token_id), "class_names": None}
    return ExportPart(DEFAULT_PART, model, decoder_specs(), sample, outputs, input_kind="tokens",
                      description="GPT decoder: token ids -> next-token logits (model.onnx, no cache; "
                                  "decoder_cached.onnx: with a key/value cache)",
                      companions=cached_companions(model, arrays, info))


def cached_companions(model: Any, arrays: dict[str, Any], info: DatasetInfo) -> Any:
    """Writes the key/value-cache decoder beside the checked uncached one, checks it on real prompts
    (the first tokens of test blocks) and records which of the two decodes faster."""

    def write(folder: Path, options: dict[str, Any]) -> dict[str, Any]:
        from zoo_plugins.gpt.cached import CACHED_ONNX, LAYOUT, cache_shape, to_onnx

        from zoo.sdk import CachedDecoder

        to_onnx(model, folder / CACHED_ONNX, options["opset"])
        spec = {"file": CACHED_ONNX, "layout": LAYOUT, **cache_shape(model)}
        decoder = CachedDecoder(folder, spec)
        end_id, context = int(info.text.end_token_id), int(info.input_shape[0])
        blocks = arrays["test"][0]["token_ids"][:CHECK_PROMPTS]
        prompt_tokens = min(PROMPT_TOKENS, context // 2 - 1)  # half the context is left to decode
        prompts = [[end_id, *map(int, block[:prompt_tokens])] for block in blocks]
        spec["check"] = check_cached(model, decoder, prompts, end_id, context, options["tolerance"])
        if not spec["check"]["passed"]:
            raise ZooError(f"export check failed: the cached decoder {spec['check']['failure']}")
        if options.get("quantize", "none") != "none":
            spec = quantized_cache(folder, spec, decoder, prompts, end_id, context, options["quantize"])
            decoder = CachedDecoder(folder, spec)
        timing = decoding_speed(Path(options["artifact"]), decoder, prompts[0], context)
        decoding = "cached" if timing["cached"] <= timing["uncached"] else "uncached"
        return {"cache": spec, "decoding": decoding, "decoding_seconds_per_token": timing}

    return write


def quantize_weights(source: Path, target: Path, weights: str) -> None:
    """Weight-only quantisation of the graph's `MatMul` weights (onnxruntime's `MatMulNBits`:
    symmetric, one scale per block of 32, int8 arithmetic), what onnxruntime-genai does for CPU
    decoding: a batch-1 step reads every weight once, so smaller weights are a faster step."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    quantizer = MatMulNBitsQuantizer(onnx.load(str(source)), bits=QUANTIZED[weights][1], block_size=BLOCK,
                                     is_symmetric=True, accuracy_level=4)
    quantizer.process()
    quantizer.model.save_model_to_file(str(target), use_external_data_format=False)


def quantized_cache(folder: Path, spec: dict[str, Any], decoder: Any, prompts: list[list[int]], end_id: int,
                    context: int, weights: str) -> dict[str, Any]:
    """The cached decoder with quantised weights (`quantize_weights`), kept only where its greedy token
    agrees with float32's at every step of the check prompts; the agreement (the float greedy
    sequence fed to both) is recorded either way."""
    from zoo.sdk import CachedDecoder

    file = QUANTIZED[weights][0]
    quantize_weights(folder / spec["file"], folder / file, weights)
    small = CachedDecoder(folder, {**spec, "file": file})
    agree = total = 0
    for prompt in prompts:
        ids, steps = greedy_cached(decoder, prompt, min(CHECK_TOKENS, context - len(prompt)), end_id)
        logits, past = small.prefill(prompt)
        for k, reference in enumerate(steps):
            agree += int(np.argmax(logits)) == int(np.argmax(reference))
            total += 1
            if k < len(ids):
                logits = small.step([ids[k]], past)[0]
    agreement = agree / max(total, 1)
    quantized = {"file": file, "weights": weights, "method": f"MatMulNBits, blocks of {BLOCK}",
                 "greedy_token_agreement": agreement, "steps": total, "used": agreement >= MIN_AGREEMENT}
    if not quantized["used"]:
        (folder / file).unlink()
        quantized["file"] = None
        return {**spec, weights: quantized}
    return {**spec, "file": file, "float32_file": spec["file"], weights: quantized}


def greedy_cached(decoder: Any, prompt: list[int], room: int, end_id: int) -> tuple[list[int], list[Any]]:
    """Greedy tokens of the cached graph (ending before `<|endoftext|>`) and each step's logits."""
    logits, past = decoder.prefill(prompt)
    tokens, steps = [], [logits]
    for _ in range(room):
        token = int(np.argmax(logits))
        if token == end_id:
            break
        tokens.append(token)
        if len(tokens) == room:
            break
        logits = decoder.step([token], past)[0]
        steps.append(logits)
    return tokens, steps


def check_cached(model: Any, decoder: Any, prompts: list[list[int]], end_id: int, context: int,
                 tolerance: float) -> dict[str, Any]:
    """Greedy tokens equal keras-hub's cached decoding (`generate`), and logits equal Keras's
    forward pass at every step (to `tolerance` of the logits' scale)."""
    from zoo_plugins.gpt.generate import generate_ids

    rooms = [min(CHECK_TOKENS, context - len(p)) for p in prompts]
    model.compile(sampler="greedy")
    keras_tokens = generate_ids(model, prompts, rooms, end_id)
    worst, tokens = 0.0, 0
    for prompt, room, reference in zip(prompts, rooms, keras_tokens, strict=True):
        ids, steps = greedy_cached(decoder, prompt, room, end_id)
        if ids != reference:
            return {"passed": False, "prompts": len(prompts), "failure": f"greedy tokens {ids} differ from "
                    f"keras-hub's cached decoding {reference} after prompt {prompt}"}
        full = np.asarray([prompt + ids], np.int32)
        keras_logits = np.asarray(model({"token_ids": full, "padding_mask": np.ones_like(full, bool)},
                                        training=False))[0, len(prompt) - 1:]
        for k, logits in enumerate(steps):
            scale = max(1.0, float(np.abs(keras_logits[k]).max()))
            worst = max(worst, float(np.abs(keras_logits[k] - logits).max()) / scale)
        tokens += len(ids)
    passed = worst <= tolerance
    return {"passed": passed, "prompts": len(prompts), "tokens": tokens, "greedy_equal": True,
            "max_relative_logit_difference": worst,
            **({} if passed else {"failure": f"logits differ from Keras by {worst:.3g} (> {tolerance})"})}


def decoding_speed(artifact: Path, decoder: Any, prompt: list[int], context: int) -> dict[str, float]:
    """Seconds per greedy token of each graph (best of two runs), to choose the faster."""
    from zoo.sdk import OnnxRunner

    uncached = OnnxRunner(artifact)
    room = min(SPEED_TOKENS, context - len(prompt))

    def run_uncached() -> None:
        ids = list(prompt)
        for _ in range(room):
            tokens = np.asarray([ids], np.int32)
            ids.append(int(np.argmax(uncached.run([tokens, np.ones_like(tokens, bool)])[0, -1])))

    def run_cached() -> None:
        logits, past = decoder.prefill(prompt)
        for _ in range(room - 1):
            logits = decoder.step([int(np.argmax(logits))], past)[0]

    timing = {}
    for name, run in (("uncached", run_uncached), ("cached", run_cached)):
        best = float("inf")
        for _ in range(2):
            started = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - started)
        timing[name] = best / room
    return timing
