"""The conformance kit over every registered model: the built-in families and the toy plugin.

One test per concern per model (`zoo.testing.ConformanceTests`, as a plugin runs it): each model
trains its own tiny case (`ModelSpec.conformance`) on real data once per session, and its tests
check the build, the reload, `zoo evaluate`, samples, every export format with raw inputs, and each
training mode that applies. `test_models.py` keeps the checks of single options, `test_export*.py`
those of export options.
"""

from __future__ import annotations

import pytest

import zoo
from zoo.testing import ConformanceError, ConformanceTests, check_model, conformance_cases

BUILT_IN = {"bert", "bert_mlm", "cnn", "dcgan", "gan_mlp", "gpt", "gru", "lstm", "mlp", "resnet", "vae",
            "vae_dense"}


class TestConformance(ConformanceTests):
    """Every registered model, on the session's kit (shared with the export tests)."""

    models = "*"

    @pytest.fixture(scope="class")
    def conformance_kit(self, conformance_session):
        return conformance_session


def test_the_cases_are_every_registered_model_the_toy_plugin_included():
    assert conformance_cases() == zoo.list_models()
    assert set(conformance_cases()) >= BUILT_IN | {"toy_linear"}


def test_the_report_lists_every_concern_in_order(conformance_session):
    """`check_model`'s report (here of the session's MLP, trained once): train, build, save_load,
    evaluate, the formats' export and raw_inputs, then each registered training mode."""
    report = conformance_session.report("mlp")
    report.assert_passed()
    modes = [mode.name for mode in zoo.core.registry.get_registry().training_modes()]
    assert [s.name for s in report.steps] == (
        ["train", "build", "save_load", "evaluate"]
        + [f"{kind}:{fmt}" for fmt in report.formats for kind in ("export", "raw_inputs")]
        + [f"mode:{mode}" for mode in modes])
    assert report.formats == ("onnx", "savedmodel", "tflite") and {"dp_sgd", "distill"} <= set(modes)
    assert all(s.status == "passed" for s in report.steps)  # both modes apply to a digits classifier


def test_a_bundle_that_disagrees_with_keras_fails_its_step_in_one_line(tmp_path, monkeypatch):
    from zoo.runtime.bundle import Bundle

    original = Bundle.outputs
    shifted = lambda self, xs: {k: v + 1e-2 for k, v in original(self, xs).items()}  # noqa: E731
    monkeypatch.setattr(Bundle, "outputs", shifted)
    report = check_model("toy_linear", tmp_path=tmp_path, formats=["onnx"], modes=[])
    assert [(s.name, s.status) for s in report.steps] == [
        ("train", "passed"), ("build", "passed"), ("save_load", "passed"), ("evaluate", "passed"),
        ("export:onnx", "passed"), ("raw_inputs:onnx", "failed")]
    with pytest.raises(ConformanceError) as failed:
        report.assert_passed()
    message = str(failed.value)
    assert message.startswith("model 'toy_linear' fails conformance step 'raw_inputs:onnx': part 'model'")
    assert "differs from Keras by 0.01" in message and "\n" not in message


def test_a_failed_step_names_itself_and_the_steps_after_it_do_not_run(tmp_path):
    report = check_model("toy_linear", ["trainer.loss=hinge"], tmp_path, formats=["onnx"])
    assert [s.status for s in report.steps] == ["failed"] + ["not run"] * 7  # 4 steps, 1 format, 2 modes
    with pytest.raises(ConformanceError) as failed:
        report.assert_passed()
    expected = "model 'toy_linear' fails conformance step 'train': ZooError: loss 'hinge' is for generative"
    assert str(failed.value).startswith(expected)


def test_a_concern_after_a_failed_one_says_which_it_needs_in_one_line(tmp_path):
    """A per-concern test (as `ConformanceTests` runs it) of a model whose training failed fails
    naming its model, its concern and the failed one, not with an error of its own."""
    from zoo.testing import Conformance

    kit = Conformance(lambda name: tmp_path, ["trainer.loss=hinge"], formats=["onnx"])
    with pytest.raises(ConformanceError) as failed:
        kit.require("toy_linear", "raw_inputs:onnx")
    message = str(failed.value)
    assert message.startswith("model 'toy_linear': conformance step 'raw_inputs:onnx' did not run: it needs "
                              "step 'export:onnx', which not run: it needs step 'train', which failed: "
                              "ZooError: loss 'hinge' is for generative")
    assert "\n" not in message
    with pytest.raises(ConformanceError, match="^model 'toy_linear': conformance step 'mode:dp_sgd' did not "
                                               "run: it needs step 'train', which failed"):
        kit.require("toy_linear", "mode:dp_sgd")


def test_a_generator_that_ignores_its_latent_fails_the_samples_step(tmp_path, monkeypatch):
    """A collapsed generator, one output for every latent draw, trains, builds and reloads like any
    other; the kit's `samples` step fails it, naming the part and the spreads."""
    import keras
    from zoo_plugins.gan import model as gan_model

    original = gan_model.build_generator

    def collapsed(cfg, info):
        generator = original(cfg, info)
        latent = keras.Input(generator.inputs[0].shape[1:], name="latent")
        return keras.Model(latent, generator(keras.layers.Rescaling(0.0)(latent)), name="collapsed")

    monkeypatch.setattr(gan_model, "build_generator", collapsed)
    report = check_model("gan_mlp", tmp_path=tmp_path, formats=[], modes=[])
    assert [(s.name, s.status) for s in report.steps] == [
        ("train", "passed"), ("build", "passed"), ("save_load", "passed"), ("evaluate", "passed"),
        ("samples", "failed")]
    with pytest.raises(ConformanceError, match=r"step 'samples': part 'generator': 64 samples lie 0 apart "
                                               r"on average, real test examples \d.*has collapsed"):
        report.assert_passed()


def test_the_toy_plugin_roles_reach_its_run(conformance):
    """The toy plugin declares a training part (macro-F1 as well) and an evaluator (the weights'
    norm as well), written from docs/plugins.md: both show in the kit's run."""
    import json

    metrics = json.loads((conformance("toy_linear").run_dir / "metrics.json").read_text())
    assert metrics["test"]["weight_norm"] > 0 and "f1" in metrics["train"], metrics
