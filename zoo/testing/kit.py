"""`check_model(name)`: a registered model through the whole life of a run, one named step at a time.

`train` (the plugin's builder and task on real data, one short epoch) -> `build` (the builder
again, from the run's config and `dataset.json`, gives the same architecture) -> `save_load` (the
reloaded run holds exactly the trained weights) -> `samples` (generative models only: the parts
that draw samples draw ones that differ, not one image for every latent) -> `export:<format>` for
each format the model declares (the exporter's own check against Keras included) ->
`raw_inputs:<format>` (the bundle, opened by the runtime `zoo predict` and `zoo serve` use, given raw
examples gives what Keras gives).
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zoo.core.errors import first_line
from zoo.testing.report import FAILED, NOT_RUN, PASSED, ConformanceReport, StepResult

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


class StepFailed(Exception):
    """A conformance check that does not hold (its message is the report's one line)."""


class _Case:
    """What the steps share: the config, the trained result, the reloaded run, the bundles."""

    def __init__(self, name: str, folder: Path):
        self.name, self.folder, self.run_dir = name, folder, folder / "run"
        self.cfg: Any = None
        self.result: Any = None
        self.loaded: tuple[Any, ...] | None = None
        self.bundles: dict[str, dict[str, str]] = {}
        self.references: dict[str, tuple[Any, list[np.ndarray], np.ndarray]] = {}
        self.parts: list[Any] | None = None
        self.texts: list[Any] | None = None

    def export_parts(self) -> list[Any]:
        """The reloaded run's export parts (built once)."""
        if self.parts is None:
            from zoo.tasks.export_parts import export_parts

            _, _, roles, splits, network = self.loaded
            self.parts = export_parts(network, roles.export, splits)
        return self.parts

    def reference(self, name: str) -> tuple[Any, list[np.ndarray], np.ndarray]:
        """Export part `name` of the reloaded run, its test inputs and the Keras outputs on them
        (computed once, for every format)."""
        if not self.references:
            from zoo.runtime.runners import KerasRunner, flatten_outputs

            for part in self.export_parts():
                inputs, _ = part.sample("test", EXAMPLES)
                runner = KerasRunner(None, [s.name for s in part.specs], model=part.model)
                self.references[part.name] = (part, inputs, flatten_outputs(runner.run_all(inputs)))
        return self.references[name]

    def raw_texts(self) -> list[Any]:
        if self.texts is None:
            self.texts = _raw_texts(self.cfg)
        return self.texts


def check_model(name: str, overrides: Sequence[str] = (), tmp_path: str | Path | None = None,
                formats: Sequence[str] | None = None) -> ConformanceReport:
    """Run every conformance step of registered model `name`; returns the report (never raises for
    a failed step: call `report.assert_passed()`).

    `overrides` go after the model's own tiny case (`ModelSpec.conformance`); `formats` (default:
    those the case declares) are exported; `tmp_path` holds the run and bundles (default: a new
    temporary folder).
    """
    from zoo.core.registry import get_registry
    from zoo.core.specs import GENERATIVE

    spec = get_registry().model(name)
    case_spec = spec.conformance
    chosen = tuple(case_spec.formats if formats is None else formats)
    folder = Path(tmp_path) if tmp_path else Path(tempfile.mkdtemp(prefix=f"zoo-conformance-{name}-"))
    case = _Case(name, folder)
    report = ConformanceReport(name, case.run_dir, chosen)
    _run(report, "train", lambda: _train(case, case_spec, overrides))
    trained = report.step("train").status == PASSED
    _run(report, "build", lambda: _build(case), trained)
    _run(report, "save_load", lambda: _save_load(case), trained)
    reloaded = report.step("save_load").status == PASSED
    if GENERATIVE in spec.tasks:
        _run(report, "samples", lambda: _diverse_samples(case), reloaded)
    for fmt in chosen:
        _run(report, f"export:{fmt}", lambda fmt=fmt: _export(case, fmt), trained)
        exported = report.step(f"export:{fmt}").status == PASSED
        _run(report, f"raw_inputs:{fmt}", lambda fmt=fmt: _raw_inputs(case, fmt), exported and reloaded)
    return report


def _run(report: ConformanceReport, name: str, check: Callable[[], None], ready: bool = True) -> None:
    if not ready:
        report.steps.append(StepResult(name, NOT_RUN, "an earlier step it needs failed"))
        return
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:  # any exception is this step's failure, reported in one line
        line = first_line(exc, typed=not isinstance(exc, StepFailed))
        report.steps.append(StepResult(name, FAILED, line, time.perf_counter() - started))
        return
    report.steps.append(StepResult(name, PASSED, "", time.perf_counter() - started))


def _train(case: _Case, spec_case: Any, overrides: Sequence[str]) -> None:
    import zoo

    data = list(spec_case.data(case.folder / "data")) if spec_case.data else []
    case.cfg = zoo.compose([f"model={case.name}", *data, *spec_case.overrides, *TINY, *overrides])
    case.result = zoo.train(case.cfg, case.run_dir)
    if not case.result.history:
        raise StepFailed("training recorded no history (no epoch ran)")
    for key, values in case.result.history.items():
        if not all(math.isfinite(v) for v in values):
            raise StepFailed(f"history {key!r} is not finite: {values}")
    for key, value in case.result.metrics["test"].items():
        if isinstance(value, float) and not math.isfinite(value):
            raise StepFailed(f"test metric {key!r} is {value}")
    if not (case.run_dir / "model.keras").is_file():
        raise StepFailed(f"the run saved no model.keras in {case.run_dir}")


def _shapes(model: Any) -> list[tuple[int, ...]]:
    return [tuple(w.shape) for w in model.weights]


def _build(case: _Case) -> None:
    import keras

    from zoo.core.registry import get_registry
    from zoo.data.base import DatasetInfo

    info = DatasetInfo.load(case.run_dir / "dataset.json")
    model = get_registry().model(case.name).build(case.cfg.model, info)
    if not isinstance(model, keras.Model):
        raise StepFailed(f"the builder returned a {type(model).__name__}, not a keras.Model")
    trained = case.result.model
    if model.built and _shapes(model) != _shapes(trained):
        raise StepFailed(f"built again from config.yaml and dataset.json, the model has weights "
                         f"{_shapes(model)[:4]}..., the trained one {_shapes(trained)[:4]}...")


def _save_load(case: _Case) -> None:
    from zoo.evaluation.evaluate import load_run

    case.loaded = load_run(case.run_dir, "final")
    network, trained = case.loaded[-1], case.result.model
    saved, kept = network.get_weights(), trained.get_weights()
    if len(saved) != len(kept):
        raise StepFailed(f"the reloaded model has {len(saved)} weight arrays, the trained one {len(kept)}")
    for i, (a, b) in enumerate(zip(saved, kept, strict=True)):
        if a.shape != b.shape or not np.array_equal(a, b):
            raise StepFailed(f"weight {i} ({trained.weights[i].path}) differs after save and reload")


def spread(examples: np.ndarray) -> float:
    """Mean Euclidean distance between two different examples of a set (0: all alike)."""
    from scipy.spatial.distance import pdist

    return float(pdist(np.asarray(examples, np.float64).reshape(len(examples), -1)).mean())


def _diverse_samples(case: _Case) -> None:
    """Each part that draws samples (a GAN generator, a VAE decoder: outputs kind `samples`, in the
    data's units) draws `SAMPLES` that lie at least `MIN_SPREAD` as far apart as real test examples
    do: a collapsed generator, one output for every latent, fails."""
    from zoo.runtime.runners import KerasRunner, flatten_outputs

    _, _, _, splits, _ = case.loaded
    parts = [p for p in case.export_parts() if p.outputs.get("kind") == "samples"]
    if not parts:
        raise StepFailed("a generative model must export a part that draws samples (ExportPart with "
                         "outputs kind 'samples', latent draws in, examples in the data's units out)")
    real = np.stack([np.asarray(x) for x, *_ in splits.test.take(SAMPLES).as_numpy_iterator()])
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
