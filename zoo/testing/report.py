"""What `check_model` returns: one result per named step, and a one-line failure to assert on."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

PASSED, FAILED, NOT_RUN, NOT_APPLICABLE = "passed", "failed", "not run", "not applicable"
DONE = (PASSED, NOT_APPLICABLE)  # what a model that conforms shows for each step


class ConformanceError(AssertionError):
    """A model failed a conformance step (an AssertionError, so pytest reports it as a failure)."""


@dataclass
class StepResult:
    """One named check: `train`, `build`, `save_load`, `evaluate`, `samples`, `export:<format>`,
    `raw_inputs:<format>`, `mode:<training mode>` (`not applicable`: a mode the model's case cannot take)."""

    name: str
    status: str
    message: str = ""
    seconds: float = 0.0

    def line(self) -> str:
        detail = f": {self.message}" if self.message else ""
        return f"{self.name:<20} {self.status:<14} {self.seconds:6.1f} s{detail}"


@dataclass
class ConformanceReport:
    """The steps a model went through, in order; `assert_passed()` raises on the first failure."""

    model: str
    run_dir: Path
    formats: tuple[str, ...]
    steps: list[StepResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(step.status in DONE for step in self.steps)

    @property
    def failures(self) -> list[StepResult]:
        return [step for step in self.steps if step.status == FAILED]

    def step(self, name: str) -> StepResult:
        return next(s for s in self.steps if s.name == name)

    def summary(self) -> str:
        return "\n".join([f"conformance of model {self.model!r} (run {self.run_dir}):",
                          *("  " + s.line() for s in self.steps)])

    def assert_passed(self) -> None:
        """Raise `ConformanceError` naming the model and its first failed step, in one line."""
        failed = self.failures
        if failed:
            first = failed[0]
            more = f" (and {len(failed) - 1} more failed step(s))" if len(failed) > 1 else ""
            raise ConformanceError(f"model {self.model!r} fails conformance step {first.name!r}: "
                                   f"{first.message}{more}")
        missing = [s.name for s in self.steps if s.status not in DONE]
        if missing:
            raise ConformanceError(f"model {self.model!r}: steps {', '.join(missing)} did not run")
