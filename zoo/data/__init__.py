"""Dataset sources and tf.data pipelines."""
