"""Back from a run folder to its model: `zoo.load_model(run_dir)`, and plain
`keras.saving.load_model("RUN/model.keras")` after `import zoo`, give what the run's model gives.

The BERT and GPT runs are the conformance kit's tiny runs (shared with `test_conformance.py`); the
CSV run is in `test_raw_inputs.py`.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import load_in_a_fresh_process

from zoo.evaluation.evaluate import load_run


@pytest.mark.parametrize("name", ["bert", "gpt"])
def test_a_text_run_loads_back_in_plain_keras_and_with_zoo_load_model(conformance, name, tmp_path):
    run_dir = conformance(name).run_dir
    run, cfg, task, splits, network = load_run(run_dir, "final")
    x, *_ = next(iter(splits.test.batch(4)))
    model = task.saved_model(network, splits)
    expected = np.asarray(model(x, training=False))
    outputs = load_in_a_fresh_process(run_dir, {k: v.numpy() for k, v in x.items()}, tmp_path)
    for how in ("plain", "zoo"):
        np.testing.assert_allclose(outputs[how], expected, rtol=1e-5, atol=1e-5, err_msg=how)
