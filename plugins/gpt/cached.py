"""The GPT decoder with a key/value cache, as one ONNX graph for prefill and decode (Optimum's and
onnxruntime-genai's shape): new tokens, their positions, the valid cache slots and the past keys/values
in; the last new token's logits and the present keys/values out.

Built from keras-hub's own layers and their public cached call (`TransformerDecoder(...,
self_attention_cache=..., self_attention_cache_update_index=...)`, what `GPT2CausalLM.call_with_cache`
runs), with positions per row so rows of different lengths decode in one batch:

- `token_ids`, `positions`: int32 `[batch, new]`;
- `attention_mask`: int32 `[batch, past + new]`, 1 where a slot holds a real token of the row;
- `past_key_values`: float32 `[batch, layers, 2, past, heads, head_dim]` (`past` may be 0);
- `logits` `[batch, vocabulary]` (the last new token's) and `present_key_values`
  `[batch, layers, 2, past + new, heads, head_dim]`.
"""

from __future__ import annotations

from typing import Any

CACHED_ONNX = "decoder_cached.onnx"
INPUT_NAMES = ("token_ids", "positions", "attention_mask", "past_key_values")


def cache_shape(causal_lm: Any) -> dict[str, int]:
    """Layers, heads and head width of the model's cache."""
    backbone = causal_lm.backbone
    heads = int(backbone.num_heads)
    return {"layers": len(backbone.transformer_layers), "heads": heads,
            "head_dim": int(backbone.hidden_dim) // heads}


def cached_function(causal_lm: Any) -> tuple[Any, list[Any]]:
    """A `tf.function` of one cached step and its input signature."""
    import tensorflow as tf

    backbone = causal_lm.backbone
    shape = cache_shape(causal_lm)
    specs = [tf.TensorSpec((None, None), tf.int32, name="token_ids"),
             tf.TensorSpec((None, None), tf.int32, name="positions"),
             tf.TensorSpec((None, None), tf.int32, name="attention_mask"),
             tf.TensorSpec((None, shape["layers"], 2, None, shape["heads"], shape["head_dim"]), tf.float32,
                           name="past_key_values")]

    def step(token_ids: Any, positions: Any, attention_mask: Any, past_key_values: Any) -> dict[str, Any]:
        batch, new = tf.shape(token_ids)[0], tf.shape(token_ids)[1]
        past = tf.shape(past_key_values)[3]
        x = backbone.token_embedding(token_ids)
        where = tf.gather(backbone.position_embedding.position_embeddings, positions)
        x = backbone.embeddings_add((x, where))
        # slot j is visible to new token t when it holds a token of the row; the layer adds causality
        visible = tf.broadcast_to(tf.cast(attention_mask, tf.int32)[:, None, :], (batch, new, past + new))
        room = tf.zeros((batch, 2, new, shape["heads"], shape["head_dim"]), past_key_values.dtype)
        present = []
        for i, layer in enumerate(backbone.transformer_layers):
            cache = tf.concat([past_key_values[:, i], room], axis=2)
            x, cache = layer(x, decoder_attention_mask=visible, self_attention_cache=cache,
                             self_attention_cache_update_index=past, training=False)
            present.append(cache)
        x = backbone.layer_norm(x[:, -1])
        logits = backbone.token_embedding(x, reverse=True)
        return {"logits": tf.cast(logits, tf.float32), "present_key_values": tf.stack(present, axis=1)}

    return tf.function(step, input_signature=specs), specs


def to_onnx(causal_lm: Any, path: Any, opset: int | None) -> None:
    """Write the cached step as ONNX (`tf2onnx.convert.from_function`)."""
    import tf2onnx

    from zoo.sdk import onnx_convertible_slice_update

    fn, specs = cached_function(causal_lm)
    with onnx_convertible_slice_update():
        tf2onnx.convert.from_function(fn, input_signature=specs, opset=opset, output_path=str(path))
