"""Back from a run folder to its model: `zoo.load_model(run_dir)`, and plain
`keras.saving.load_model("RUN/model.keras")` after `import zoo`, give what the run's model gives.

The BERT and GPT runs are the conformance kit's tiny runs (shared with `test_conformance.py`); the
CSV run is in `test_raw_inputs.py`.
"""

from __future__ import annotations

import numpy as np
from conftest import load_in_a_fresh_process

from zoo.evaluation.evaluate import load_run


def test_text_runs_load_back_in_plain_keras_and_with_zoo_load_model(conformance, tmp_path):
    runs, expected = {}, []
    for name in ("bert", "gpt"):
        run_dir = conformance(name).run_dir
        run, cfg, parts, splits, network = load_run(run_dir, "final")
        x, *_ = next(iter(splits.test.batch(4)))
        expected.append(np.asarray(parts.export.saved_model(network, splits)(x, training=False)))
        runs[run_dir] = {k: v.numpy() for k, v in x.items()}
    for want, outputs in zip(expected, load_in_a_fresh_process(runs, tmp_path), strict=True):
        for how in ("plain", "zoo"):
            np.testing.assert_allclose(outputs[how], want, rtol=1e-5, atol=1e-5, err_msg=how)
