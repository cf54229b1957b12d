"""Knowledge distillation as a training mode: a finished run is the teacher of a new student run.

`zoo train experiment=distill distill.teacher=RUN_DIR model=mlp_small` trains the student on the
teacher's data (its dataset config, split seed and normalisation) with a mix of the true labels'
loss (weight `alpha`) and the teacher's softened logits (weight `1 - alpha`, temperature `T`).
`DistillationTraining` wraps the student family's training part; the trainer fits its `fit_model`
(teacher + student) and saves the plain student, so the run folder is an ordinary one.
`TeacherData` replaces the student's data part: the teacher's `dataset.json` and fitted
preprocessor become the student's.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from zoo.core.errors import DataError, RunDirError, ZooError
from zoo.core.registry import Registry
from zoo.core.specs import CLASSIFICATION, ModeCase
from zoo.data.base import DatasetInfo, RawSplits
from zoo.data.prepared import SPLITS, Prepared
from zoo.tasks.preparer import DataPreparer
from zoo.tasks.select import build_part
from zoo.tasks.training import Training, TrainingWrapper

log = logging.getLogger("zoo.train")
# What must agree between the teacher's data and the student's, and how to say it.
SAME_DATA = ("name", "task", "modality", "input_shape", "input_dtype", "num_classes", "class_names",
             "num_examples")


def configure(cfg: DictConfig) -> DictConfig:
    """The distillation mode's config step (`TrainingModeSpec.configure`): a teacher is named,
    and the student trains on its data (`adopt_teacher_data`)."""
    if OmegaConf.is_missing(cfg.distill, "teacher") or not cfg.distill.teacher:
        raise ZooError("distillation needs a teacher: add distill.teacher=RUN_DIR (a finished "
                       "`zoo train` run folder of a classifier)")
    return adopt_teacher_data(cfg)


@dataclass
class Teacher:
    """A finished classification run: its folder, config and `dataset.json`."""

    run: Any  # RunDir
    cfg: DictConfig
    info: DatasetInfo

    @classmethod
    def load(cls, path: str | Path) -> Teacher:
        """The teacher run at `path`, read once while its files stay unchanged: the config check
        (`configure`) and the run's task share one reading."""
        from zoo.run.rundir import RunDir

        run = RunDir(Path(path).expanduser())
        stamp = (str(run.path.resolve()), *(_modified(p) for p in (run.config, run.dataset_info, run.model)))
        if _LAST_READ and _LAST_READ[0] == stamp:
            return _LAST_READ[1]
        teacher = cls.read(path)
        _LAST_READ[:] = [stamp, teacher]
        return teacher

    @classmethod
    def read(cls, path: str | Path) -> Teacher:
        """Read and check a teacher run folder (a RunDirError or ZooError names what is wrong)."""
        from zoo.run.rundir import RunDir

        run = RunDir(Path(path).expanduser())
        if not run.path.is_dir():
            raise RunDirError(f"distill.teacher={path} does not exist: pass a run folder that "
                              "`zoo train` printed")
        cfg = run.load_config()
        for needed in (run.dataset_info, run.model):
            if not needed.exists():
                raise RunDirError(f"distill.teacher={path} has no {needed.name}: the teacher run did "
                                  f"not finish; finish it (zoo train run_dir={path}) or pick another")
        info = DatasetInfo.load(run.dataset_info)
        if info.task != CLASSIFICATION:
            raise ZooError(f"distill.teacher={path} is a {info.task} run of {info.name!r}: "
                           "distillation needs a classification teacher")
        if info.modality == "text":
            raise ZooError(f"distill.teacher={path} reads text ({info.name!r}): distillation supports "
                           "numeric inputs (tabular, image, sequence) only, as a student must take "
                           "exactly the teacher's inputs")
        return cls(run, cfg, info)

    @property
    def seed(self) -> int:
        return int(self.cfg.trainer.seed)

    def preprocessor(self) -> Any:
        """The teacher's fitted preprocessor (None for a run that saved none)."""
        from zoo.preprocessing.assemble import PREPROCESSOR_FILE, load_preprocessor

        return load_preprocessor(self.run.path) if (self.run.path / PREPROCESSOR_FILE).exists() else None

    def build_model(self, registry: Registry) -> Any:
        """The teacher's network with its final weights (call inside the strategy scope)."""
        from zoo.preprocessing.assemble import load_final_weights

        model = registry.model(self.cfg.model.name).build(self.cfg.model, self.info)
        load_final_weights(model, self.run.model, self.preprocessor(), self.info.features)
        return model


_LAST_READ: list[Any] = []  # [stamp, Teacher] of the last teacher read


def _modified(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def adopt_teacher_data(cfg: DictConfig) -> DictConfig:
    """A copy of `cfg` that trains on the teacher's data: its dataset config (unless
    `distill.teacher_data=false`), and a check that the split seed is the teacher's."""
    teacher = Teacher.load(cfg.distill.teacher)
    if int(cfg.trainer.seed) != teacher.seed:
        raise ZooError(f"trainer.seed={cfg.trainer.seed} differs from the teacher's seed {teacher.seed}: "
                       "the seed draws the data splits, so the student would be tested on examples "
                       f"the teacher learnt; pass trainer.seed={teacher.seed}")
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        cfg.distill.teacher = str(teacher.run.path.resolve())
        if cfg.distill.teacher_data:
            cfg.dataset = OmegaConf.create(OmegaConf.to_container(teacher.cfg.dataset, resolve=True))
    return cfg


def check_same_data(student: DatasetInfo, teacher: DatasetInfo, teacher_dir: Any) -> None:
    """Fail when the student's data is not the teacher's (other classes, shapes or splits)."""
    for key in SAME_DATA:
        if teacher.features and key in ("input_shape", "input_dtype"):
            continue  # the teacher's are after preprocessing: its raw features are compared instead
        mine, theirs = getattr(student, key), getattr(teacher, key)
        if key == "input_shape":
            mine, theirs = tuple(mine), tuple(theirs)
        if mine != theirs:
            raise DataError(f"the student's dataset does not match the teacher's ({teacher_dir}): "
                            f"{key} is {mine!r}, the teacher's is {theirs!r}; train on the teacher's "
                            "data (distill.teacher_data=true)")
    if teacher.features:
        from zoo.preprocessing.prepare import raw_features

        mine = [f["name"] for f in raw_features(student)]
        theirs = [f["name"] for f in teacher.features]
        if mine != theirs:
            raise DataError(f"the student's dataset does not match the teacher's ({teacher_dir}): its "
                            f"inputs are {mine}, the teacher's {theirs}; train on the teacher's data "
                            "(distill.teacher_data=true)")


class TeacherData(DataPreparer):
    """The teacher's preprocessing: its `dataset.json` and fitted preprocessor become the student's
    (the distillation mode's `TrainingModeSpec.data`, in place of the student family's own)."""

    def __init__(self, inner: DataPreparer):
        super().__init__(inner.cfg, inner.run, inner.registry)
        self.teacher = Teacher.load(self.cfg.distill.teacher)

    def prepare(self, splits: RawSplits, fit: bool) -> Prepared:
        from zoo.preprocessing.assemble import preprocess, save_preprocessor

        if fit:
            check_same_data(splits.info, self.teacher.info, self.teacher.run.path)
            info = DatasetInfo.from_dict(self.teacher.info.to_dict())
            info.save(self.run.dataset_info)
        else:
            info = DatasetInfo.load(self.run.dataset_info)
        preprocessor = self.teacher.preprocessor()
        if preprocessor is None:
            return Prepared(splits.train, splits.validation, splits.test, info)
        save_preprocessor(preprocessor, self.run.path)
        raw = {split: getattr(splits, split) for split in SPLITS}
        return Prepared(**{split: preprocess(raw[split], preprocessor, info.features) for split in SPLITS},
                        info=info, preprocessor=preprocessor, raw=raw)


class DistillationTraining(TrainingWrapper):
    """The student family's training part, trained against a teacher's soft targets."""

    def __init__(self, inner: Training):
        super().__init__(inner)
        self.settings = self.cfg.distill
        self.teacher = Teacher.load(self.settings.teacher)
        self.teacher_evaluator = build_part("evaluation", self.teacher.cfg, self.teacher.run, self.registry)
        self.teacher_model: Any = None
        self.distiller: Any = None
        if type(inner).compile is not Training.compile:
            raise ZooError(f"model {self.model_name!r} trains with its own training step: a student "
                           "must be a classifier trained with Keras compile/fit (`zoo list models`)")
        if not 0.0 <= float(self.settings.alpha) <= 1.0 or float(self.settings.temperature) <= 0:
            raise ZooError(f"distill.alpha={self.settings.alpha}, distill.temperature="
                           f"{self.settings.temperature}: expected 0 <= alpha <= 1 and temperature > 0")

    def compile(self, model: Any, optimizer: Any, info: DatasetInfo) -> None:
        """Compile teacher + student for `fit`, and the student with the same optimizer."""
        from zoo.training.distiller import SoftmaxDistiller

        registry = self.registry
        self.teacher_model = self.teacher.build_model(registry)
        self.distiller = SoftmaxDistiller(self.teacher_model, model, self.settings.temperature,
                                          self.settings.alpha)
        loss = registry.loss(self.loss_name(info)).build(info)
        metrics = [registry.metric(n).build(info) for n in self.metric_names(info)]
        self.distiller.compile(optimizer=optimizer, loss=loss, metrics=metrics,
                               jit_compile=self.cfg.trainer.jit_compile)
        # The student shares the (possibly loss-scaled) optimizer: its checkpoints hold its state.
        self.inner.compile(model, self.distiller.optimizer, info)
        log.info("distilling from %s (%s, %s parameters): temperature %g, alpha %g",
                 self.teacher.run.path, self.teacher.cfg.model.name,
                 f"{self.teacher_model.count_params():,}", self.settings.temperature,
                 self.settings.alpha)

    def fit_model(self, model: Any) -> Any:
        """What the trainer fits: the distiller around `model`."""
        return self.distiller

    def extra_metrics(self, model: Any, test_ds: Any, prepared: Prepared, evaluation: Any
                      ) -> dict[str, Any]:
        """`metrics.json["distillation"]`: teacher vs student size and test metrics."""
        teacher_test = self.teacher_evaluator.evaluate(self.teacher_model, test_ds, prepared).metrics
        teacher_params, student_params = self.teacher_model.count_params(), model.count_params()
        return {"distillation": {
            "teacher": str(self.teacher.run.path),
            "teacher_model": str(self.teacher.cfg.model.name),
            "temperature": float(self.settings.temperature),
            "alpha": float(self.settings.alpha),
            "teacher_params": int(teacher_params),
            "student_params": int(student_params),
            "size_ratio": round(teacher_params / max(student_params, 1), 2),
            "teacher_test": teacher_test,
            "student_test": evaluation.metrics,
        }}


def conformance_case(case: ModeCase) -> list[str] | None:
    """The conformance kit's distillation case: the model learns from its own trained case (the
    teacher) on the teacher's data; None unless that case is a numeric classification."""
    if (case.info.task != CLASSIFICATION or case.info.modality == "text"
            or CLASSIFICATION not in case.spec.tasks):
        return None
    return ["experiment=distill", f"distill.teacher={case.run_dir}"]
