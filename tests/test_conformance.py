"""The conformance kit over every registered model: the built-in families and the toy plugin.

Each model trains its own tiny case (`ModelSpec.conformance`) on real data, reloads, exports to
every format it declares and gives raw inputs to each bundle; `test_models.py` keeps the checks of
single options, `test_export*.py` those of export options.
"""

from __future__ import annotations

import pytest

import zoo
from zoo.core.specs import GENERATIVE
from zoo.testing import ConformanceError, check_model, conformance_cases

BUILT_IN = {"bert", "bert_mlm", "cnn", "dcgan", "gan_mlp", "gpt", "gru", "lstm", "mlp", "resnet", "vae",
            "vae_dense"}


def test_the_cases_are_every_registered_model_the_toy_plugin_included():
    assert conformance_cases() == zoo.list_models()
    assert set(conformance_cases()) >= BUILT_IN | {"toy_linear"}


@pytest.mark.parametrize("name", conformance_cases())
def test_every_model_passes_the_conformance_kit(name, conformance):
    report = conformance(name)  # check_model(name, tmp_path=...), shared with the export tests
    report.assert_passed()
    steps = [s.name for s in report.steps]
    generative = GENERATIVE in zoo.core.registry.get_registry().model(name).tasks
    assert steps[:3 + generative] == ["train", "build", "save_load"] + ["samples"] * generative
    assert steps[3 + generative:] == [f"{kind}:{fmt}" for fmt in report.formats
                                      for kind in ("export", "raw_inputs")]
    for fmt in report.formats:
        assert list((report.run_dir.parent / "export" / fmt).rglob("export.json")), fmt


def test_a_bundle_that_disagrees_with_keras_fails_its_step_in_one_line(tmp_path, monkeypatch):
    from zoo.runtime.bundle import Bundle

    original = Bundle.outputs
    shifted = lambda self, xs: {k: v + 1e-2 for k, v in original(self, xs).items()}  # noqa: E731
    monkeypatch.setattr(Bundle, "outputs", shifted)
    report = check_model("toy_linear", tmp_path=tmp_path, formats=["onnx"])
    assert [(s.name, s.status) for s in report.steps] == [
        ("train", "passed"), ("build", "passed"), ("save_load", "passed"), ("export:onnx", "passed"),
        ("raw_inputs:onnx", "failed")]
    with pytest.raises(ConformanceError) as failed:
        report.assert_passed()
    message = str(failed.value)
    assert message.startswith("model 'toy_linear' fails conformance step 'raw_inputs:onnx': part 'model'")
    assert "differs from Keras by 0.01" in message and "\n" not in message


def test_a_failed_step_names_itself_and_the_steps_after_it_do_not_run(tmp_path):
    report = check_model("toy_linear", ["trainer.loss=hinge"], tmp_path, formats=["onnx"])
    assert [s.status for s in report.steps] == ["failed"] + ["not run"] * 4
    with pytest.raises(ConformanceError) as failed:
        report.assert_passed()
    expected = "model 'toy_linear' fails conformance step 'train': ZooError: loss 'hinge' is for generative"
    assert str(failed.value).startswith(expected)


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
    report = check_model("gan_mlp", tmp_path=tmp_path, formats=[])
    assert [(s.name, s.status) for s in report.steps] == [
        ("train", "passed"), ("build", "passed"), ("save_load", "passed"), ("samples", "failed")]
    with pytest.raises(ConformanceError, match=r"step 'samples': part 'generator': 64 samples lie 0 apart "
                                               r"on average, real test examples \d.*has collapsed"):
        report.assert_passed()


def test_the_toy_plugin_roles_reach_its_run(conformance):
    """The toy plugin declares a training part (macro-F1 as well) and an evaluator (the weights'
    norm as well), written from docs/plugins.md: both show in the kit's run."""
    import json

    metrics = json.loads((conformance("toy_linear").run_dir / "metrics.json").read_text())
    assert metrics["test"]["weight_norm"] > 0 and "f1" in metrics["train"], metrics
