"""The conformance kit: every registered model, built-in or third party, passes the same steps.

    import pytest
    from zoo.testing import check_model, conformance_cases

    @pytest.mark.parametrize("name", conformance_cases("my_*"))
    def test_conformance(name, tmp_path):
        check_model(name, tmp_path=tmp_path).assert_passed()

Steps (`zoo.testing.kit`): train, build, save_load, samples (generative models: samples that are not
all alike), export:<format> and raw_inputs:<format> for each format the model's
`ModelSpec.conformance` declares. Importing this module imports no TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

from zoo.core.specs import ConformanceCase
from zoo.testing.kit import TINY, check_model
from zoo.testing.report import ConformanceError, ConformanceReport, StepResult

__all__ = ["TINY", "ConformanceCase", "ConformanceError", "ConformanceReport", "ModelConformance",
           "StepResult", "check_model", "conformance_cases"]


def conformance_cases(pattern: str = "*") -> list[str]:
    """The registered model names matching `pattern`, to parametrise a test over (as timm's tests
    run over `list_models()`)."""
    import zoo

    return zoo.list_models(pattern)


class ModelConformance:
    """A pytest base class: set `model` (and optionally `overrides`, `formats`) in a subclass named
    `Test...`, and pytest runs the kit on it with its `tmp_path` fixture."""

    model: str = ""
    overrides: tuple[str, ...] = ()
    formats: tuple[str, ...] | None = None

    def test_conformance(self, tmp_path: Path) -> None:
        check_model(self.model, self.overrides, tmp_path, self.formats).assert_passed()
