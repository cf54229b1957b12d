"""The conformance kit: every registered model, built-in or third party, passes the same checks.

One pytest test per concern per model (a test file of a plugin, the whole of it):

    from zoo.testing import ConformanceTests

    class TestMyModels(ConformanceTests):
        models = "my_*"

or the whole life of one model as a report:

    check_model("my_net", tmp_path=tmp_path).assert_passed()

Concerns (`zoo.testing.kit`): train, build, save_load, evaluate (`zoo.evaluate` gives the recorded
test metrics), samples (generative models: samples that are not all alike), export:<format> and
raw_inputs:<format> for each format the model's `ModelSpec.conformance` declares, and
mode:<name> for each registered training mode that applies (`TrainingModeSpec.conformance`).
Importing this module imports no TensorFlow (nor pytest, until `ConformanceTests` is used).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.core.specs import ConformanceCase, ModeCase
from zoo.testing.kit import TINY, Conformance, check_model
from zoo.testing.report import ConformanceError, ConformanceReport, StepResult

__all__ = ["TINY", "Conformance", "ConformanceCase", "ConformanceError", "ConformanceReport",
           "ConformanceTests", "ModeCase", "ModelConformance", "StepResult", "check_model",
           "conformance_cases"]


def __getattr__(name: str) -> Any:
    if name == "ConformanceTests":  # imports pytest: only a test suite asks for it
        from zoo.testing.suite import ConformanceTests

        return ConformanceTests
    raise AttributeError(f"module 'zoo.testing' has no attribute {name!r}")


def conformance_cases(pattern: str = "*") -> list[str]:
    """The registered model names matching `pattern`, to parametrise a test over (as timm's tests
    run over `list_models()`)."""
    import zoo

    return zoo.list_models(pattern)


class ModelConformance:
    """A pytest base class: set `model` (and optionally `overrides`, `formats`) in a subclass named
    `Test...`, and pytest runs the whole kit on it as one test with its `tmp_path` fixture
    (`ConformanceTests` gives one test per concern)."""

    model: str = ""
    overrides: tuple[str, ...] = ()
    formats: tuple[str, ...] | None = None

    def test_conformance(self, tmp_path: Path) -> None:
        check_model(self.model, self.overrides, tmp_path, self.formats).assert_passed()
