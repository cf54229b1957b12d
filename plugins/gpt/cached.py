"""The GPT decoder with a key/value cache, as one ONNX graph for prefill and decode (Optimum's and
onnxruntime-genai's shape, one past input per layer): new tokens, their positions, the valid cache
slots and the past keys/values in; the last new token's logits and the new tokens' keys/values out.

The caller owns the cache: a buffer with room to grow, bound to the graph as it is (onnxruntime
IOBinding, no copy), into which it writes each step's new keys/values. The graph therefore never copies
the cache: attention scores the new queries against the past slots and against the new tokens
separately, and one softmax spans both (`softmax([q.K_past, q.K_new])`), so no concatenated cache is
ever made. Weights are keras-hub's own (`GPT2CausalLM`'s layers), with the projections as plain
`MatMul`s of 2-D weights (what onnxruntime's weight quantisers rewrite).

- `token_ids`, `positions`: int32 `[batch, new]`;
- `attention_mask`: int32 `[batch, slots]`, 1 where a past slot holds a real token of the row;
- `past_key_{i}`, `past_value_{i}` per layer: float32 `[batch, heads, slots, head_dim]` (`slots` may
  be 0, and may exceed the tokens held: the buffer's spare room is masked);
- `logits` `[batch, vocabulary]` (the last new token's) and `new_key_values`
  `[layers, 2, batch, heads, new, head_dim]`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zoo.sdk import decoder_parts

CACHED_ONNX = "decoder_cached.onnx"
LAYOUT = "per_layer_buffer"  # export.json's `cache.layout`: this graph's inputs


def cache_shape(causal_lm: Any) -> dict[str, int]:
    """Layers, heads and head width of the model's cache."""
    backbone = causal_lm.backbone
    heads = int(backbone.num_heads)
    return {"layers": len(backbone.transformer_layers), "heads": heads,
            "head_dim": int(backbone.hidden_dim) // heads}


def input_names(layers: int) -> list[str]:
    return ["token_ids", "positions", "attention_mask",
            *(f"past_{kind}_{i}" for i in range(layers) for kind in ("key", "value"))]


def _weights(layer: Any) -> dict[str, np.ndarray]:
    """One TransformerDecoder's weights as 2-D matrices (query, key and value side by side)."""
    parts = decoder_parts(layer)
    dense = [parts.query, parts.key, parts.value]
    hidden = int(np.prod(dense[0].kernel.shape[1:]))

    def flat(v: Any, *shape: int) -> np.ndarray:
        return np.asarray(v.numpy(), np.float32).reshape(shape)

    return {"qkv": np.concatenate([flat(d.kernel, -1, hidden) for d in dense], axis=1),
            "qkv_bias": np.concatenate([flat(d.bias, hidden) for d in dense]),
            "out": flat(parts.output.kernel, hidden, -1),
            "out_bias": flat(parts.output.bias, -1),
            "ff_in": flat(parts.feedforward_in.kernel, hidden, -1),
            "ff_in_bias": flat(parts.feedforward_in.bias, -1),
            "ff_out": flat(parts.feedforward_out.kernel, -1, hidden),
            "ff_out_bias": flat(parts.feedforward_out.bias, -1)}


def cached_function(causal_lm: Any) -> tuple[Any, list[Any], dict[str, np.ndarray]]:
    """A `tf.function` of one cached step, its input signature and its weights by input name.

    The weights are inputs of the traced function (named `weight_{k}`), made initializers of the
    ONNX graph after conversion (`to_onnx`): tf2onnx then never holds the frozen weights (for `small`
    it took more than 17 GB doing so)."""
    import tensorflow as tf

    backbone = causal_lm.backbone
    shape = cache_shape(causal_lm)
    heads, head_dim = shape["heads"], shape["head_dim"]
    hidden = heads * head_dim
    layers = list(backbone.transformer_layers)
    names = input_names(len(layers))
    specs = [tf.TensorSpec((None, None), tf.int32, name=n) for n in names[:3]]
    specs += [tf.TensorSpec((None, heads, None, head_dim), tf.float32, name=n) for n in names[3:]]
    values: dict[str, np.ndarray] = {}

    def constant(value: Any) -> str:
        name = f"weight_{len(values)}"
        values[name] = np.ascontiguousarray(value, np.float32)
        return name

    weights = [{k: constant(v) for k, v in _weights(layer).items()} for layer in layers]
    embeddings = np.asarray(backbone.token_embedding.embeddings.numpy(), np.float32)
    token_table, lm_head = constant(embeddings), constant(embeddings.T)
    position_table = constant(backbone.position_embedding.position_embeddings.numpy())
    parts = [decoder_parts(layer) for layer in layers]
    norms = {id(n): [constant(v.numpy()) for v in (n.gamma, n.beta)]
             for n in [backbone.layer_norm, *(norm for p in parts
                                              for norm in (p.attention_norm, p.feedforward_norm))]}
    specs += [tf.TensorSpec(v.shape, tf.float32, name=k) for k, v in values.items()]
    scale = 1.0 / float(np.sqrt(head_dim))
    large_negative = -1e9  # what Keras's masked softmax adds

    def step(token_ids: Any, positions: Any, attention_mask: Any, *rest: Any) -> dict[str, Any]:
        past, given = rest[:2 * len(layers)], dict(zip(values, rest[2 * len(layers):], strict=True))

        def norm(x: Any, layer: Any) -> Any:
            gamma, beta = (given[k] for k in norms[id(layer)])
            mean = tf.reduce_mean(x, axis=-1, keepdims=True)
            centred = x - mean
            variance = tf.reduce_mean(tf.pow(centred, 2.0), axis=-1, keepdims=True)
            return centred / tf.sqrt(variance + layer.epsilon) * gamma + beta

        def split_heads(x: Any) -> Any:
            return tf.transpose(tf.reshape(x, (batch, new, heads, head_dim)), (0, 2, 1, 3))

        batch, new = tf.shape(token_ids)[0], tf.shape(token_ids)[1]
        x = tf.gather(given[token_table], token_ids) + tf.gather(given[position_table], positions)
        past_bias = (1.0 - tf.cast(attention_mask, tf.float32))[:, None, None, :] * large_negative
        causal = tf.linalg.band_part(tf.ones((new, new)), -1, 0)
        new_bias = (1.0 - causal) * large_negative
        slots = tf.shape(attention_mask)[1]
        fresh = []
        for i in range(len(layers)):
            w = {k: given[v] for k, v in weights[i].items()}
            h = norm(x, parts[i].attention_norm)
            qkv = tf.matmul(h, w["qkv"]) + w["qkv_bias"]
            q, k, v = (split_heads(t) for t in tf.split(qkv, 3, axis=-1))
            q = q * scale
            past_key, past_value = past[2 * i], past[2 * i + 1]
            scores = tf.concat([tf.matmul(q, past_key, transpose_b=True) + past_bias,
                                tf.matmul(q, k, transpose_b=True) + new_bias], axis=-1)
            probs = tf.nn.softmax(scores, axis=-1)
            attended = tf.matmul(probs[..., :slots], past_value) + tf.matmul(probs[..., slots:], v)
            attended = tf.reshape(tf.transpose(attended, (0, 2, 1, 3)), (batch, new, hidden))
            x = x + tf.matmul(attended, w["out"]) + w["out_bias"]
            h = norm(x, parts[i].feedforward_norm)
            h = parts[i].feedforward_in.activation(tf.matmul(h, w["ff_in"]) + w["ff_in_bias"])
            x = x + tf.matmul(h, w["ff_out"]) + w["ff_out_bias"]
            fresh.append(tf.stack([k, v]))
        last = norm(x[:, -1], backbone.layer_norm)
        return {"logits": tf.matmul(last, given[lm_head]), "new_key_values": tf.stack(fresh)}

    return tf.function(step, input_signature=specs), specs, values


def to_onnx(causal_lm: Any, path: Any, opset: int | None) -> None:
    """Write the cached step as ONNX (`tf2onnx.convert.from_function`), then make the weight inputs
    initializers."""
    import onnx
    import tf2onnx
    from onnx import numpy_helper

    fn, specs, values = cached_function(causal_lm)
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=specs, opset=opset)
    graph = proto.graph
    kept = [i for i in graph.input if i.name not in values]
    if len(kept) != len(graph.input) - len(values):
        raise RuntimeError(f"tf2onnx renamed the weight inputs: {[i.name for i in graph.input]}")
    del graph.input[:]
    graph.input.extend(kept)
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in values.items())
    onnx.save(proto, str(path))
