"""Keras Zoo's Hydra configs (the `conf/` folder, installed as package data)."""
