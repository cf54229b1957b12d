"""The conformance kit: a registered model through the whole life of a run, one named concern at a time.

`train` (the plugin's builder and roles on real data, one short epoch) -> `build` (the builder
again, from the run's config and `dataset.json`, gives the same architecture) -> `save_load` (the
reloaded run holds exactly the trained weights) -> `evaluate` (the finished run scored again by
`zoo.evaluate` gives the test metrics training recorded) -> `samples` (generative models only: the
parts that draw samples draw ones that differ, not one image for every latent) -> `export:<format>`
for each format the model declares (the exporter's own check against Keras included) ->
`raw_inputs:<format>` (the bundle, opened by the runtime `zoo predict` and `zoo serve` use, given raw
examples gives what Keras gives) -> `mode:<name>` for each registered training mode (DP-SGD,
distillation, a third party's) that applies to the model (one short epoch on the model's case; the
saved model, reloaded by `zoo.evaluate`, scores as training did).

`Conformance` runs each concern once per model and remembers it, so one test per concern (the
parametrised tests of `zoo.testing.ConformanceTests`) shares one training; `check_model` runs them
all and returns the report.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.core.errors import first_line
from zoo.testing.report import (
    FAILED,
    NOT_APPLICABLE,
    NOT_RUN,
    PASSED,
    ConformanceError,
    ConformanceReport,
    StepResult,
)

# One epoch of two steps, nothing drawn: a case is about the plumbing, not the accuracy.
TINY = ("trainer.epochs=1", "trainer.steps_per_epoch=2", "trainer.batch_size=16", "trainer.plots=false",
        "trainer.tensorboard=false", "trainer.warmup_epochs=0")
EXAMPLES = 16  # raw test examples given to each bundle
PROMPT_WORDS, NEW_TOKENS = 3, 3  # a language model completes short prompts greedily
SAMPLES = 64  # latent draws whose spread the `samples` step compares with real test examples'
# Samples closer together than this fraction of real test examples' spread are taken as one: the
# generator ignores its latent. Two training steps leave a DCGAN or a VAE at about 5% (measured),
# so the tiny case can hold no more; quality after real training is the family's own tests' job.
MIN_SPREAD = 0.01
# A run scored again by `zoo.evaluate` (other batches, a fresh process's graph) gives its recorded
# test metrics up to float32 summation order.
METRIC_RTOL, METRIC_ATOL = 1e-4, 1e-6

# What each concern needs to have passed first (`export:onnx` needs `train`; `raw_inputs:onnx`
# needs `export:onnx` and `save_load`).
NEEDS = {"train": (), "build": ("train",), "save_load": ("train",), "evaluate": ("train",),
         "samples": ("save_load",), "export": ("train",), "raw_inputs": ("export:{arg}", "save_load"),
         "mode": ("train",)}


class StepFailed(Exception):
    """A conformance check that does not hold (its message is the report's one line)."""


class NotApplicable(Exception):
    """The concern does not apply to this model (a training mode its case cannot take)."""


@dataclass
class Reloaded:
    """A finished run rebuilt through its family's roles: the network, the test split, export parts."""

    network: Any
    test: Any
    parts: Callable[[], list[Any]]


def reload_run(run_dir: str | Path) -> Reloaded:
    """The run rebuilt as `zoo evaluate` and `zoo export` rebuild it. The kit's one use of the
    family's internals (re-point it here when the roles change)."""
    from zoo.evaluation.evaluate import load_run
    from zoo.tasks.export_parts import export_parts

    _, _, roles, prepared, network = load_run(run_dir, "final")
    built: list[list[Any]] = []

    def parts() -> list[Any]:
        if not built:
            built.append(export_parts(network, roles.export, prepared))
        return built[0]

    return Reloaded(network, prepared.test, parts)


@dataclass
class _Case:
    """What one model's concerns share: its config, the trained result, the reloaded run, bundles."""

    name: str
    folder: Path
    spec: Any
    overrides: list[str] = field(default_factory=list)  # the composed case, for the modes' runs
    cfg: Any = None
    result: Any = None
    reloaded: Reloaded | None = None
    bundles: dict[str, dict[str, str]] = field(default_factory=dict)
    references: dict[str, tuple[Any, list[np.ndarray], np.ndarray]] = field(default_factory=dict)
    texts: list[Any] | None = None
    steps: dict[str, StepResult] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return self.folder / "run"

    def reload(self) -> Reloaded:
        if self.reloaded is None:
            self.reloaded = reload_run(self.run_dir)
        return self.reloaded

    def reference(self, name: str) -> tuple[Any, list[np.ndarray], np.ndarray]:
        """Export part `name` of the reloaded run, its test inputs and the Keras outputs on them
        (computed once, for every format)."""
        if not self.references:
            from zoo.runtime.runners import KerasRunner, flatten_outputs

            for part in self.reload().parts():
                inputs, _ = part.sample("test", EXAMPLES)
                runner = KerasRunner(None, [s.name for s in part.specs], model=part.model)
                self.references[part.name] = (part, inputs, flatten_outputs(runner.run_all(inputs)))
        return self.references[name]

    def raw_texts(self) -> list[Any]:
        if self.texts is None:
            self.texts = _raw_texts(self.cfg)
        return self.texts


class Conformance:
    """Each concern of each registered model, run once and remembered (share one per test session).

    `folder(name)` gives the folder a model's case lives in (default: a new temporary folder);
    `overrides` go after every model's own tiny case; `formats` (default: those each case declares)
    are exported; `modes` (default: every registered training mode) are trained.
    """

    def __init__(self, folder: Callable[[str], str | Path] | None = None, overrides: Sequence[str] = (),
                 formats: Sequence[str] | None = None, modes: Sequence[str] | None = None):
        self.folder = folder or (lambda name: tempfile.mkdtemp(prefix=f"zoo-conformance-{name}-"))
        self.overrides = tuple(overrides)
        self.chosen_formats = None if formats is None else tuple(formats)
        self.chosen_modes = None if modes is None else tuple(modes)
        self.cases: dict[str, _Case] = {}

    # What a model's concerns are (no training: test ids are made from these at collection).
    def formats(self, name: str) -> tuple[str, ...]:
        from zoo.core.registry import get_registry

        declared = get_registry().model(name).conformance.formats
        return tuple(declared if self.chosen_formats is None else self.chosen_formats)

    def modes(self) -> tuple[str, ...]:
        from zoo.core.registry import get_registry

        registered = tuple(mode.name for mode in get_registry().training_modes())
        return registered if self.chosen_modes is None else self.chosen_modes

    def generative(self, name: str) -> bool:
        from zoo.core.registry import get_registry
        from zoo.core.specs import GENERATIVE

        return GENERATIVE in get_registry().model(name).tasks

    def concerns(self, name: str, modes: bool = True) -> list[str]:
        """Model `name`'s concerns in the order `check_model` runs them."""
        names = ["train", "build", "save_load", "evaluate"] + ["samples"] * self.generative(name)
        names += [f"{kind}:{fmt}" for fmt in self.formats(name) for kind in ("export", "raw_inputs")]
        return names + [f"mode:{mode}" for mode in self.modes()] * modes

    # Running them.
    def case(self, name: str) -> _Case:
        if name not in self.cases:
            from zoo.core.registry import get_registry

            self.cases[name] = _Case(name, Path(self.folder(name)), get_registry().model(name))
        return self.cases[name]

    def check(self, name: str, concern: str) -> StepResult:
        """Concern `concern` of model `name` (run once, after the concerns it needs)."""
        case = self.case(name)
        if concern not in case.steps:
            kind, _, arg = concern.partition(":")
            if kind not in NEEDS:
                raise ValueError(f"unknown conformance concern {concern!r}: expected one of "
                                 f"{', '.join(NEEDS)} (export, raw_inputs and mode take ':NAME')")
            needs = [need.format(arg=arg) for need in NEEDS[kind]]
            blocked = next((need for need in needs if self.check(name, need).status != PASSED), None)
            if blocked is not None:
                before = case.steps[blocked]
                why = f": {before.message}" if before.message else ""
                case.steps[concern] = StepResult(concern, NOT_RUN,
                                                 f"it needs step {blocked!r}, which {before.status}{why}")
            else:
                case.steps[concern] = _timed(concern, lambda: self._run(case, kind, arg))
        return case.steps[concern]

    def require(self, name: str, concern: str) -> StepResult:
        """`check`, raising `ConformanceError` (one line naming the model and the concern) unless the
        concern passed or does not apply to the model (then the result says why)."""
        step = self.check(name, concern)
        if step.status == FAILED:
            raise ConformanceError(f"model {name!r} fails conformance step {concern!r}: {step.message}")
        if step.status == NOT_RUN:
            raise ConformanceError(f"model {name!r}: conformance step {concern!r} did not run: "
                                   f"{step.message}")
        return step

    def report(self, name: str, modes: bool = True) -> ConformanceReport:
        """Every concern of model `name` (the training modes too unless `modes=False`)."""
        case = self.case(name)
        report = ConformanceReport(name, case.run_dir, self.formats(name))
        report.steps = [self.check(name, concern) for concern in self.concerns(name, modes)]
        return report

    def _run(self, case: _Case, kind: str, arg: str) -> None:
        if kind == "train":
            _train(case, self.overrides)
        elif kind == "build":
            _build(case)
        elif kind == "save_load":
            _same_weights(case.reload().network, case.result.model, "the reloaded")
        elif kind == "evaluate":
            _evaluate(case.run_dir, case.result.metrics, case.folder / "evaluate")
        elif kind == "samples":
            _diverse_samples(case)
        elif kind == "export":
            _export(case, arg)
        elif kind == "raw_inputs":
            _raw_inputs(case, arg)
        else:
            _mode(case, arg)


def check_model(name: str, overrides: Sequence[str] = (), tmp_path: str | Path | None = None,
                formats: Sequence[str] | None = None, modes: Sequence[str] | None = None
                ) -> ConformanceReport:
    """Run every conformance concern of registered model `name`; returns the report (never raises
    for a failed step: call `report.assert_passed()`).

    `overrides` go after the model's own tiny case (`ModelSpec.conformance`); `formats` (default:
    those the case declares) are exported; `modes` (default: every registered training mode) are
    trained where they apply; `tmp_path` holds the run and bundles (default: a new temporary folder).
    """
    folder = (lambda _: Path(tmp_path)) if tmp_path else None
    return Conformance(folder, overrides, formats, modes).report(name)


def _timed(name: str, check: Callable[[], None]) -> StepResult:
    started = time.perf_counter()
    try:
        check()
    except NotApplicable as exc:
        return StepResult(name, NOT_APPLICABLE, str(exc), time.perf_counter() - started)
    except Exception as exc:  # any exception is this step's failure, reported in one line
        line = first_line(exc, typed=not isinstance(exc, StepFailed))
        return StepResult(name, FAILED, line, time.perf_counter() - started)
    return StepResult(name, PASSED, "", time.perf_counter() - started)


def _trained(cfg: Any, run_dir: Path) -> Any:
    """`zoo.train(cfg, run_dir)`, checked: history and test metrics finite, `model.keras` written."""
    import zoo

    result = zoo.train(cfg, run_dir)
    if not result.history:
        raise StepFailed("training recorded no history (no epoch ran)")
    for key, values in result.history.items():
        if not all(math.isfinite(v) for v in values):
            raise StepFailed(f"history {key!r} is not finite: {values}")
    for key, value in result.metrics["test"].items():
        if isinstance(value, float) and not math.isfinite(value):
            raise StepFailed(f"test metric {key!r} is {value}")
    if not (run_dir / "model.keras").is_file():
        raise StepFailed(f"the run saved no model.keras in {run_dir}")
    return result


def _train(case: _Case, overrides: Sequence[str]) -> None:
    import zoo

    spec_case = case.spec.conformance
    data = list(spec_case.data(case.folder / "data")) if spec_case.data else []
    case.overrides = [f"model={case.name}", *data, *spec_case.overrides, *TINY, *overrides]
    case.cfg = zoo.compose(case.overrides)
    case.result = _trained(case.cfg, case.run_dir)


def _shapes(model: Any) -> list[tuple[int, ...]]:
    return [tuple(w.shape) for w in model.weights]


def _build(case: _Case) -> None:
    import keras

    from zoo.data.base import DatasetInfo

    info = DatasetInfo.load(case.run_dir / "dataset.json")
    model = case.spec.build(case.cfg.model, info)
    if not isinstance(model, keras.Model):
        raise StepFailed(f"the builder returned a {type(model).__name__}, not a keras.Model")
    trained = case.result.model
    if model.built and _shapes(model) != _shapes(trained):
        raise StepFailed(f"built again from config.yaml and dataset.json, the model has weights "
                         f"{_shapes(model)[:4]}..., the trained one {_shapes(trained)[:4]}...")


def _same_weights(network: Any, trained: Any, what: str) -> None:
    """`network` (a run reloaded) holds exactly `trained`'s weights."""
    saved, kept = network.get_weights(), trained.get_weights()
    if len(saved) != len(kept):
        raise StepFailed(f"{what} model has {len(saved)} weight arrays, the trained one {len(kept)}")
    for i, (a, b) in enumerate(zip(saved, kept, strict=True)):
        if a.shape != b.shape or not np.array_equal(a, b):
            raise StepFailed(f"weight {i} ({trained.weights[i].path}) differs after save and reload")


def _evaluate(run_dir: Path, recorded: dict[str, Any], output: Path) -> None:
    """`zoo.evaluate` of the finished run gives the test metrics its training recorded."""
    import zoo

    scored = zoo.evaluate(run_dir, output=output)["test"]
    want = recorded["test"]
    if sorted(scored) != sorted(want):
        raise StepFailed(f"zoo.evaluate gives metrics {sorted(scored)}, training recorded {sorted(want)}")
    for key, value in want.items():
        got = scored[key]
        same = (np.isclose(got, value, rtol=METRIC_RTOL, atol=METRIC_ATOL)
                if isinstance(value, float | int) and isinstance(got, float | int) else got == value)
        if not same:
            raise StepFailed(f"zoo.evaluate scores test {key}={got!r}, training recorded {value!r} "
                             f"(in {run_dir / 'metrics.json'})")


def spread(examples: np.ndarray) -> float:
    """Mean Euclidean distance between two different examples of a set (0: all alike)."""
    from scipy.spatial.distance import pdist

    return float(pdist(np.asarray(examples, np.float64).reshape(len(examples), -1)).mean())


def _diverse_samples(case: _Case) -> None:
    """Each part that draws samples (a GAN generator, a VAE decoder: outputs kind `samples`, in the
    data's units) draws `SAMPLES` that lie at least `MIN_SPREAD` as far apart as real test examples
    do: a collapsed generator, one output for every latent, fails."""
    from zoo.runtime.runners import KerasRunner, flatten_outputs

    reloaded = case.reload()
    parts = [p for p in reloaded.parts() if p.outputs.get("kind") == "samples"]
    if not parts:
        raise StepFailed("a generative model must export a part that draws samples (ExportPart with "
                         "outputs kind 'samples', latent draws in, examples in the data's units out)")
    real = np.stack([np.asarray(x) for x, *_ in reloaded.test.take(SAMPLES).as_numpy_iterator()])
    for part in parts:
        inputs, _ = part.sample("test", SAMPLES)
        runner = KerasRunner(None, [s.name for s in part.specs], model=part.model)
        samples = flatten_outputs(runner.run_all(inputs))
        if samples[0].size != real[0].size:
            raise StepFailed(f"part {part.name!r}: samples of shape {samples.shape[1:]}, real test "
                             f"examples {real.shape[1:]}")
        drawn, anchor = spread(samples), spread(real)
        if not np.isfinite(drawn) or drawn < MIN_SPREAD * anchor:
            raise StepFailed(f"part {part.name!r}: {len(samples)} samples lie {drawn:.3g} apart on average, "
                             f"real test examples {anchor:.3g}: the generator has collapsed (needs at "
                             f"least {MIN_SPREAD:g} of the real spread)")


def _export(case: _Case, fmt: str) -> None:
    from zoo.export.exporter import export

    meta = export(case.run_dir, format=fmt, output=case.folder / "export" / fmt)
    parts = meta["parts"] if "parts" in meta else {meta["part"]: meta}
    for part, part_meta in parts.items():
        if not part_meta["verification"]["passed"]:
            raise StepFailed(f"part {part!r}: {part_meta['verification'].get('failure')}")
    case.bundles[fmt] = {part: part_meta["bundle"] for part, part_meta in parts.items()}


def _raw_inputs(case: _Case, fmt: str) -> None:
    from zoo.runtime.bundle import load_bundle

    for part, path in case.bundles[fmt].items():
        bundle = load_bundle(path)
        if bundle.output_kind == "causal_lm":
            _same_completions(case, path, case.raw_texts())
        _same_outputs(case, bundle, part)


def _raw_texts(cfg: Any) -> list[Any]:
    """The first raw test examples as the dataset loader gives them: texts, or pairs of texts."""
    from zoo.core.registry import get_registry

    raw = get_registry().dataset(cfg.dataset.source).load(cfg.dataset, seed=cfg.trainer.seed)
    texts = []
    for features, _ in raw.test.take(EXAMPLES):
        items = features if isinstance(features, tuple) else (features,)
        decoded = tuple(np.asarray(t).item().decode("utf-8") for t in items)
        texts.append(decoded if len(decoded) > 1 else decoded[0])
    return texts


def _same_outputs(case: _Case, bundle: Any, name: str) -> None:
    """The bundle on raw inputs (texts through its own tokenizer, data before normalisation) against
    the Keras part on the inputs training gave it."""
    from zoo.runtime.runners import flatten_outputs

    part, inputs, want = case.reference(name)
    if bundle.takes_text:
        raw = bundle.encode_texts(case.raw_texts()[:len(inputs[0])])
        for spec, ids, trained in zip(bundle.inputs, raw, inputs, strict=True):
            rows = np.flatnonzero((np.asarray(ids) != np.asarray(trained)).reshape(len(trained), -1).any(1))
            if len(rows):
                raise StepFailed(f"part {name!r}: the bundle's tokenizer gives other {spec['name']} than "
                                 f"training for test text {int(rows[0])}")
    elif bundle.mean is not None:  # what a user holds: the data before the training split's scaling
        raw = [inputs[0] * bundle.std + bundle.mean, *inputs[1:]]
    else:
        raw = inputs
    got = flatten_outputs(bundle.outputs(raw))
    scale = 1e-4 * max(1.0, part.tolerance_scale, float(np.abs(want).max()))
    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-4, atol=scale):
        diff = (f"{np.abs(got - want).max():.3g}" if got.shape == want.shape
                else f"shape {got.shape} vs {want.shape}")
        raise StepFailed(f"part {name!r}: on {len(want)} raw test examples the bundle differs from Keras "
                         f"by {diff} (allowed {scale:.2g})")


def _same_completions(case: _Case, bundle_path: str, texts: list[Any]) -> None:
    """A language model's bundle completes raw prompts greedily as its run does."""
    import zoo

    prompts = [" ".join(str(t).split()[:PROMPT_WORDS]) for t in texts[:2]]
    options = {"max_new_tokens": NEW_TOKENS, "sampler": "greedy"}
    got = zoo.generate(prompts, bundle=bundle_path, **options)
    want = zoo.generate(prompts, run_dir=case.run_dir, **options)
    if got != want:
        raise StepFailed(f"greedy completions of {prompts!r}: the bundle gives {got!r}, Keras {want!r}")


def _mode(case: _Case, mode_name: str) -> None:
    """Training mode `mode_name` on the model's case: one short epoch with the overrides the mode's
    `TrainingModeSpec.conformance` gives for the trained case; `zoo.evaluate` reloads the saved model
    (rebuilt by the family, its final weights loaded) and scores it as training did."""
    import zoo
    from zoo.core.registry import get_registry
    from zoo.core.specs import ModeCase
    from zoo.data.base import DatasetInfo

    mode = next((m for m in get_registry().training_modes() if m.name == mode_name), None)
    if mode is None:
        raise StepFailed(f"no training mode {mode_name!r} is registered (zoo list modes)")
    if mode.conformance is None:
        raise StepFailed(f"training mode {mode_name!r} declares no conformance case: set "
                         "TrainingModeSpec.conformance (ModeCase -> overrides, None where it does not apply)")
    info = DatasetInfo.load(case.run_dir / "dataset.json")
    overrides = mode.conformance(ModeCase(case.spec, case.cfg, info, case.run_dir, case.result.model))
    if overrides is None:
        raise NotApplicable(f"training mode {mode_name!r} does not apply to the case of model "
                            f"{case.name!r} ({info.modality} {info.task}, dataset {info.name!r}): its "
                            "TrainingModeSpec.conformance gave None")
    folder = case.folder / "modes" / mode_name
    run_dir = folder / "run"
    result = _trained(zoo.compose([*case.overrides, *overrides]), run_dir)
    _evaluate(run_dir, result.metrics, folder / "evaluate")  # reloaded as the family's own run
