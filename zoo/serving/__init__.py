"""Inference on export bundles without TensorFlow: `zoo predict` (files) and `zoo serve` (HTTP)."""
