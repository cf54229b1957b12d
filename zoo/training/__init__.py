"""Training: strategies, the run folder, callbacks and the trainer."""
