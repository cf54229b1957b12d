"""`ConformanceTests`: the conformance kit as pytest tests, one per concern per model (timm style).

    from zoo.testing import ConformanceTests

    class TestMyModels(ConformanceTests):
        models = "my_*"          # a pattern or a list of registered model names

pytest then runs `test_train_step[my_net]`, `test_build[my_net]`, `test_save_load[my_net]`,
`test_evaluate[my_net]`, `test_samples[my_net]` (generative models), `test_export[my_net-onnx]`,
`test_raw_inputs[my_net-onnx]` and `test_training_mode[my_net-dp_sgd]` for each registered training
mode. Each model trains once per class (the `conformance_kit` fixture remembers every concern); a
test whose concern needs one that failed says so in one line instead of failing on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from zoo.testing.kit import Conformance
from zoo.testing.report import NOT_APPLICABLE


class ConformanceTests:
    """Subclass in a `Test...` class; set `models` (and optionally `overrides`, `formats`, `modes`)."""

    models: str | Sequence[str] = "*"
    overrides: tuple[str, ...] = ()
    formats: tuple[str, ...] | None = None  # None: the formats each model's case declares
    modes: tuple[str, ...] | None = None  # None: every registered training mode

    def kit(self) -> Conformance:
        """A kit with this class's settings (models' cases in new temporary folders)."""
        return Conformance(None, self.overrides, self.formats, self.modes)

    @pytest.fixture(scope="class")
    def conformance_kit(self, tmp_path_factory: pytest.TempPathFactory) -> Conformance:
        """One kit for the class: each model's case trained once, in pytest's temporary folders."""
        kit = self.kit()
        kit.folder = lambda name: tmp_path_factory.mktemp(f"conformance-{name}")
        return kit

    def model_names(self) -> list[str]:
        from zoo.testing import conformance_cases

        if isinstance(self.models, str):
            return conformance_cases(self.models)
        return list(self.models)

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Parametrise each test over the models (and formats, or training modes) it concerns."""
        if "model" not in metafunc.fixturenames:
            return
        kit, names = self.kit(), self.model_names()
        if "fmt" in metafunc.fixturenames:
            pairs = [(name, fmt) for name in names for fmt in kit.formats(name)]
            metafunc.parametrize(("model", "fmt"), pairs, ids=[f"{n}-{f}" for n, f in pairs])
        elif "mode" in metafunc.fixturenames:
            pairs = [(name, mode) for name in names for mode in kit.modes()]
            metafunc.parametrize(("model", "mode"), pairs, ids=[f"{n}-{m}" for n, m in pairs])
        elif metafunc.function.__name__ == "test_samples":
            metafunc.parametrize("model", [name for name in names if kit.generative(name)])
        else:
            metafunc.parametrize("model", names)

    def test_train_step(self, conformance_kit: Conformance, model: str) -> None:
        """`zoo.train` on the model's case finishes; history and test metrics are finite."""
        conformance_kit.require(model, "train")

    def test_build(self, conformance_kit: Conformance, model: str) -> None:
        """The builder, from the run's config and dataset.json, gives the trained weight shapes."""
        conformance_kit.require(model, "build")

    def test_save_load(self, conformance_kit: Conformance, model: str) -> None:
        """The reloaded run holds exactly the trained weights."""
        conformance_kit.require(model, "save_load")

    def test_evaluate(self, conformance_kit: Conformance, model: str) -> None:
        """`zoo.evaluate` of the finished run gives the test metrics training recorded."""
        conformance_kit.require(model, "evaluate")

    def test_samples(self, conformance_kit: Conformance, model: str) -> None:
        """A generative model's sampling parts draw samples that are not all alike."""
        conformance_kit.require(model, "samples")

    def test_export(self, conformance_kit: Conformance, model: str, fmt: str) -> None:
        """`zoo export` to the format passes its own check against Keras."""
        conformance_kit.require(model, f"export:{fmt}")
        assert list((Path(conformance_kit.case(model).folder) / "export" / fmt).rglob("export.json"))

    def test_raw_inputs(self, conformance_kit: Conformance, model: str, fmt: str) -> None:
        """The bundle given raw test examples gives what Keras gives."""
        conformance_kit.require(model, f"raw_inputs:{fmt}")

    def test_training_mode(self, conformance_kit: Conformance, model: str, mode: str) -> None:
        """The mode trains one short epoch on the model's case; its saved model, reloaded by
        `zoo.evaluate`, scores as training did (skipped, with the reason, where it does not apply)."""
        step = conformance_kit.require(model, f"mode:{mode}")
        if step.status == NOT_APPLICABLE:
            pytest.skip(step.message)
