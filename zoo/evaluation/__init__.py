"""Evaluation: metrics, per-class reports and plots."""
