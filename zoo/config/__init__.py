"""Typed configs, Hydra search path and composition."""
