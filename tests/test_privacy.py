"""DP-SGD (`privacy=dp_sgd`): clipped per-example gradients, noise once per global batch, and an
epsilon that equals dp-accounting's for the same steps, sampling rate and noise."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import train_interrupted

import zoo
from zoo.core.errors import ZooError

QUICK = ["trainer.plots=false", "trainer.tensorboard=false"]
# iris: 108 training examples, 9 full batches of 12 per epoch
IRIS = ["experiment=mlp_iris", "model.hidden_sizes=[16]", "model.dropout=0.0", "trainer.batch_size=12",
        "trainer.epochs=2", "optimizer=sgd", "trainer.learning_rate=0.05", *QUICK]
NOISE_FREE = ["privacy=dp_sgd", "privacy.noise_multiplier=0", "privacy.unsafe_allow_zero_noise=true",
              "privacy.l2_norm_clip=1e6"]
DIGITS = ["experiment=mlp_digits", "model.hidden_sizes=[32]", "model.dropout=0.0", "trainer.batch_size=64",
          "trainer.learning_rate=0.02", "trainer.lr_schedule=constant",
          "trainer.epochs=3", *QUICK]


def weights_of(model) -> list[np.ndarray]:
    return [np.asarray(w) for w in model.get_weights()]


def iris_batch(n: int = 12):
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))[:n]
    return x[order].astype("float32"), y[order].astype("int32")


def tiny_models():
    """An MLP and a CNN from the families, and a plain Keras LSTM: no family code in DP-SGD."""
    import keras

    inputs = keras.Input((4, 1))
    lstm = keras.layers.LSTM(5)(inputs)
    return {
        "mlp": (zoo.build_model("mlp", (4,), 3, hidden_sizes=[8]), lambda x: x),
        "cnn": (zoo.build_model("cnn", (2, 2, 1), 3, filters=[4], batch_norm=False, dropout=0.0,
                                  head_dropout=0.0, dense_units=8),
                lambda x: x.reshape(-1, 2, 2, 1)),
        "lstm": (keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(lstm)),
                 lambda x: x.reshape(-1, 4, 1)),
    }


@pytest.mark.parametrize("kind", ["mlp", "cnn", "lstm"])
def test_clipped_per_example_gradients_are_the_examples_own_and_never_exceed_the_bound(kind):
    import keras
    import tensorflow as tf

    from zoo.training.accounting import PrivacyPlan
    from zoo.training.dp_sgd import DPSGDStep, clip_rows

    model, shape = tiny_models()[kind]
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy())
    x, y = iris_batch()
    x = shape(x)
    plan = PrivacyPlan(l2_norm_clip=0.05, noise_multiplier=1.0, delta=1e-3, sampling_rate=0.1,
                       global_batch=12, train_examples=120, steps_per_epoch=10, planned_steps=10)
    rows, _, _ = DPSGDStep(model, plan, 0).microbatch_gradients(tf.constant(x), tf.constant(y), None)
    for i in (0, 7):  # a Jacobian row is that example's own gradient
        with tf.GradientTape() as tape:
            own = model.loss.call(tf.constant(y[i:i + 1]), model(x[i:i + 1], training=True))
        for row, grad in zip(rows, tape.gradient(own, model.trainable_variables), strict=True):
            np.testing.assert_allclose(row[i].numpy(), grad.numpy(), atol=1e-6)
    summed, norms, factors = clip_rows(rows, plan.l2_norm_clip)
    clipped = norms.numpy() * factors.numpy()
    assert (norms.numpy() > plan.l2_norm_clip).sum() >= 6  # the bound does bite
    assert clipped.max() <= plan.l2_norm_clip * (1 + 1e-6)
    for total, row in zip(summed, rows, strict=True):
        flat = row.numpy().reshape(12, -1) * factors.numpy()[:, None]
        np.testing.assert_allclose(total.numpy().ravel(), flat.sum(0), atol=1e-6)
        per_row = np.linalg.norm(flat, axis=1)
        assert per_row.max() <= plan.l2_norm_clip * (1 + 1e-6)


def test_microbatches_clip_the_mean_gradient_of_each_group():
    import keras
    import tensorflow as tf

    from zoo.training.accounting import PrivacyPlan
    from zoo.training.dp_sgd import DPSGDStep

    model = zoo.build_model("mlp", (4,), 3, hidden_sizes=[8])
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy())
    x, y = iris_batch(11)  # 11 examples in groups of 4: 4 + 4 + 3
    plan = PrivacyPlan(l2_norm_clip=1.0, noise_multiplier=1.0, delta=1e-3, sampling_rate=0.1,
                       global_batch=12, train_examples=120, steps_per_epoch=10, planned_steps=10,
                       microbatch_size=4)
    rows, _, _ = DPSGDStep(model, plan, 0).microbatch_gradients(tf.constant(x), tf.constant(y), None)
    assert rows[0].shape[0] == 3
    with tf.GradientTape() as tape:
        last = tf.reduce_sum(model.loss.call(tf.constant(y[8:]), model(x[8:], training=True))) / 4
    for row, grad in zip(rows, tape.gradient(last, model.trainable_variables), strict=True):
        np.testing.assert_allclose(row[2].numpy(), grad.numpy(), atol=1e-6)


@pytest.fixture(scope="module")
def plain_sgd(tmp_path_factory):
    """Plain Keras SGD on iris, no privacy (the data un-normalised, as privacy=dp_sgd has it)."""
    return zoo.train(zoo.compose([*IRIS, "dataset.normalize=false"]),
                     tmp_path_factory.mktemp("privacy") / "plain")


def test_noise_free_dp_sgd_with_a_huge_clip_is_plain_sgd_step_for_step(plain_sgd, tmp_path):
    private = zoo.train(zoo.compose([*IRIS, *NOISE_FREE]), tmp_path / "private")
    for got, want in zip(weights_of(private.model), weights_of(plain_sgd.model), strict=True):
        np.testing.assert_allclose(got, want, atol=2e-6, rtol=0)
    np.testing.assert_allclose(private.history["loss"], plain_sgd.history["loss"], rtol=1e-5)
    report = json.loads((tmp_path / "private/metrics.json").read_text())["privacy"]
    assert report["steps"] == 18 and report["epsilon"] is None and report["guarantee"] is False


def test_mirrored_dp_sgd_adds_the_noise_once_per_global_batch(tmp_path):
    # 2 replicas x 6 examples see the global batches of 12 of a one-device run; with the same
    # noise seed both runs draw the same noise, so noise added on every replica would show
    noisy = [*IRIS, "privacy=dp_sgd", "privacy.noise_multiplier=1.0", "privacy.l2_norm_clip=0.5",
             "privacy.noise_seed=11", "trainer.epochs=1"]
    one = zoo.train(zoo.compose([*noisy, "strategy=one_device"]), tmp_path / "one")
    two = zoo.train(zoo.compose([*noisy, "trainer.batch_size=6", "strategy=mirrored",
                                 "strategy.cpu_devices=2"]), tmp_path / "mirrored")
    assert (one.metrics["replicas"], two.metrics["replicas"]) == (1, 2)
    for got, want in zip(weights_of(two.model), weights_of(one.model), strict=True):
        np.testing.assert_allclose(got, want, atol=2e-6, rtol=0)
    assert two.metrics["privacy"]["epsilon"] == one.metrics["privacy"]["epsilon"] > 0
    assert two.metrics["privacy"]["sampling_rate"] == pytest.approx(12 / 108)


def test_noise_is_drawn_once_per_global_batch_on_replica_zero():
    import keras
    import tensorflow as tf

    from zoo.training.accounting import PrivacyPlan
    from zoo.training.dp_sgd import DPSGDStep

    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
    strategy = tf.distribute.MirroredStrategy(devices, cross_device_ops=tf.distribute.ReductionToOneDevice())
    with strategy.scope():
        model = zoo.build_model("mlp", (4,), 3, hidden_sizes=[200])
        model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy())
    plan = PrivacyPlan(l2_norm_clip=2.0, noise_multiplier=1.5, delta=1e-3, sampling_rate=0.1,
                       global_batch=12, train_examples=120, steps_per_epoch=10, planned_steps=10)
    step = DPSGDStep(model, plan, 1234)
    def draw():
        return strategy.experimental_local_results(strategy.run(lambda: step.noise(model.weights))[0])

    first, second = (values.numpy() for values in draw())
    assert np.all(second == 0)
    assert np.std(first) == pytest.approx(plan.noise_multiplier * plan.l2_norm_clip, rel=0.05)
    np.testing.assert_array_equal(draw()[0].numpy(), first)  # a function of (seed, step): resumable


def independent_epsilon(steps: int, rate: float, sigma: float, delta: float) -> float:
    import dp_accounting
    from dp_accounting import rdp

    accountant = rdp.RdpAccountant()
    event = dp_accounting.PoissonSampledDpEvent(rate, dp_accounting.GaussianDpEvent(sigma))
    accountant.compose(event, steps)
    return accountant.get_epsilon(delta)


def test_reported_epsilon_is_dp_accountings_for_the_same_steps_rate_and_noise(tmp_path):
    run_dir = tmp_path / "target"
    result = zoo.train(zoo.compose([*DIGITS, "privacy=dp_sgd_epsilon", "privacy.epsilon=2"]), run_dir)
    report = result.metrics["privacy"]
    n = json.loads((run_dir / "dataset.json").read_text())["num_examples"]["train"]
    steps_per_epoch = -(-n // 64)
    assert report["steps"] == 3 * steps_per_epoch and report["sampling_rate"] == pytest.approx(64 / n)
    assert report["delta"] == pytest.approx(1 / (10 * n))
    sigma = report["noise_multiplier"]
    expected = [independent_epsilon(e * steps_per_epoch, 64 / n, sigma, 1 / (10 * n)) for e in (1, 2, 3)]
    assert report["epsilon_per_epoch"] == pytest.approx(expected, rel=1e-9)
    assert report["epsilon"] == pytest.approx(expected[-1], rel=1e-9)
    assert 1.98 < report["epsilon"] <= 2.0  # the solved noise spends the target, not more
    with open(run_dir / "history.csv") as handle:
        assert [float(r["epsilon"]) for r in csv.DictReader(handle)] == pytest.approx(expected)
    saved = json.loads((run_dir / "privacy.json").read_text())
    assert saved["noise_multiplier"] == sigma and saved["accountant"] == "rdp"
    assert [e["epsilon"] for e in saved["epochs"]] == pytest.approx(expected)
    assert f"epsilon={expected[-1]:.4g}" in (run_dir / "train.log").read_text()
    assert result.metrics["test"]["accuracy"] > 0.5  # chance is 0.1


def test_pld_accountant_agrees_with_dp_accounting():
    import dp_accounting
    from dp_accounting import pld

    from zoo.training.accounting import epsilon_after

    accountant = pld.PLDAccountant()
    accountant.compose(dp_accounting.PoissonSampledDpEvent(0.05, dp_accounting.GaussianDpEvent(1.2)), 200)
    assert epsilon_after(200, 0.05, 1.2, 1e-5, "pld") == pytest.approx(accountant.get_epsilon(1e-5))
    assert epsilon_after(200, 0.05, 1.2, 1e-5, "pld") < epsilon_after(200, 0.05, 1.2, 1e-5, "rdp")


def test_resumed_private_run_equals_uninterrupted(tmp_path, monkeypatch):
    overrides = [*IRIS, "trainer.epochs=3", "privacy=dp_sgd", "privacy.noise_multiplier=1.1"]
    train_interrupted(zoo.compose(overrides), tmp_path / "resumed", monkeypatch, after_epoch=1)
    seed = json.loads((tmp_path / "resumed/checkpoints/noise_seed.json").read_text())["noise_seed"]
    with pytest.raises(ZooError, match="privacy.json has noise_multiplier=1.1, the resumed config gives 1.2"):
        zoo.train(zoo.compose([*overrides, "privacy.noise_multiplier=1.2"]), tmp_path / "resumed")
    whole = zoo.train(zoo.compose([*overrides, f"privacy.noise_seed={seed}"]), tmp_path / "whole")
    resumed = zoo.train(zoo.compose(overrides), tmp_path / "resumed")
    assert "resumed from epoch 2" in (tmp_path / "resumed/train.log").read_text()
    for a, b in zip(weights_of(whole.model), weights_of(resumed.model), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)
    assert resumed.metrics["privacy"] == whole.metrics["privacy"]
    assert len(resumed.metrics["privacy"]["epsilon_per_epoch"]) == 3


def refusal(*overrides: str, tmp_path) -> str:
    with pytest.raises(ZooError) as caught:
        zoo.train(zoo.compose(list(overrides)), tmp_path / "refused")
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(("overrides", "expected"), [
    (["privacy.noise_multiplier=0"], "gives no privacy guarantee"),
    (["privacy.epsilon=3"], "set exactly one of privacy.noise_multiplier and privacy.epsilon"),
    (["privacy.l2_norm_clip=0"], "l2_norm_clip=0.0: expected a positive"),
    (["trainer.precision=mixed_float16"], "use trainer.precision=float32"),
    (["privacy.microbatch_size=0"], "privacy.microbatch_size=0"),
])
def test_settings_without_a_guarantee_are_refused_before_any_work(overrides, expected, tmp_path):
    assert expected in refusal(*IRIS, "privacy=dp_sgd", *overrides, tmp_path=tmp_path)
    assert not (tmp_path / "refused").exists()


@pytest.mark.parametrize(("overrides", "expected"), [
    (["privacy.delta=0.01"], "privacy.delta=0.01 must be below 1/N = 0.00926 (N=108"),
    (["model.batch_norm=true"], "has BatchNormalization layer 'bn_0', which mixes the examples"),
    (["dataset.normalize=true"], "the mean/std come from the private training split"),
])
def test_what_breaks_the_guarantee_is_refused(overrides, expected, tmp_path):
    assert expected in refusal(*IRIS, "privacy=dp_sgd", *overrides, tmp_path=tmp_path)
    assert not (tmp_path / "refused/metrics.json").exists()


def test_generative_families_and_distillation_are_refused(tmp_path):
    message = refusal("experiment=vae_digits", "privacy=dp_sgd", *QUICK, tmp_path=tmp_path)
    assert "trains with its own step" in message
    message = refusal("experiment=distill", f"distill.teacher={tmp_path}", "privacy=dp_sgd", *QUICK,
                      tmp_path=tmp_path)
    assert "the teacher saw the private data" in message


def test_cli_refuses_settings_without_a_guarantee_in_one_line_without_tensorflow(tmp_path):
    argv = ["train", "experiment=mlp_iris", "privacy=dp_sgd", "privacy.noise_multiplier=0",
            f"hydra.run.dir={tmp_path / 'run'}"]
    code = f"import sys; from zoo.cli.main import main; sys.exit(main({argv!r}))"
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if not line.startswith("import time:")]
    assert [line for line in lines if line.strip()] == [
        "zoo: error: privacy.noise_multiplier=0.0 gives no privacy guarantee: use a positive value "
        "(about 0.5 to 2), or privacy.epsilon"]
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in done.stderr.splitlines()
                if line.startswith("import time:")}
    assert "zoo" in imported and not imported & {"tensorflow", "keras"}
    assert not (tmp_path / "run/config.yaml").exists()
