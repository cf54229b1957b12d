"""A GPT run's test perplexity against two baselines on the same tokens: the uniform bound (the
vocabulary size) and a unigram model (add-one token frequencies of the training split).

    python scripts/perplexity_bounds.py RUN_DIR
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args()
    from zoo.core.registry import get_registry
    from zoo.run.rundir import RunDir
    from zoo.tasks.select import build_part

    run = RunDir(args.run_dir)
    cfg = run.load_config()
    splits = get_registry().dataset(cfg.dataset.source).load(cfg.dataset, seed=cfg.trainer.seed)
    prepared = build_part("data", cfg, run).prepare(splits, fit=False)
    info, arrays = prepared.info, prepared.arrays
    vocabulary = int(info.text.vocabulary_size)
    train = arrays["train"][1][arrays["train"][2] > 0]
    test = arrays["test"][1][arrays["test"][2] > 0]
    counts = np.bincount(train, minlength=vocabulary) + 1.0
    unigram = math.exp(-np.log(counts / counts.sum())[test].mean())
    metrics = json.loads(run.metrics.read_text())
    print(f"corpus {cfg.dataset.path}: {info.text.tokens} tokens per split, vocabulary {vocabulary}")
    print(f"test perplexity {metrics['test']['perplexity']:.2f}  unigram {unigram:.2f}  uniform {vocabulary}")
    print(f"validation perplexity {math.exp(metrics['validation']['loss']):.2f}")


if __name__ == "__main__":
    main()
