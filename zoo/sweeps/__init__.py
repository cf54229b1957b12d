"""Hyper-parameter sweeps: the summary table and plot written when a Hydra multirun ends."""
