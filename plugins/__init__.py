"""Keras Zoo's built-in model families, each a plugin found through the `zoo.plugins` entry points."""
