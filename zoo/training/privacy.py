"""Differential privacy as a training mode: `zoo train ... privacy=dp_sgd`.

`PrivateTraining` wraps any supervised family's training part: the family compiles its model as usual, then
the model's `train_step` becomes DP-SGD's (`zoo.training.dp_sgd`) and a ledger logs epsilon
after every epoch (`zoo.training.accounting`). Whatever would void the guarantee is refused
before training starts, one line each.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
from typing import Any

from omegaconf import DictConfig, OmegaConf

from zoo.core.errors import ZooError
from zoo.core.specs import TASKS, ModeCase
from zoo.data.base import DatasetInfo
from zoo.data.prepared import Prepared
from zoo.tasks.training import Training, TrainingWrapper
from zoo.training.accounting import ACCOUNTANTS, PrivacyPlan, default_delta, solve_noise

log = logging.getLogger("zoo.train")
PRIVACY_FILE = "privacy.json"
NOISE_SEED_FILE = "noise_seed.json"
LEARNED_FROM_DATA = ("tabular", "image", "sequence")  # normalised with training-split statistics


def check_privacy(cfg: DictConfig) -> None:
    """Refuse settings that give no guarantee (no TensorFlow: runs before any work starts)."""
    p = cfg.privacy
    if p.mechanism != "dp_sgd":
        raise ZooError(f"privacy.mechanism={p.mechanism!r}: expected dp_sgd")
    if p.accountant not in ACCOUNTANTS:
        raise ZooError(f"privacy.accountant={p.accountant!r}: expected one of {', '.join(ACCOUNTANTS)}")
    if (p.noise_multiplier is None) == (p.epsilon is None):
        raise ZooError("privacy: set exactly one of privacy.noise_multiplier and privacy.epsilon "
                       f"(got {p.noise_multiplier} and {p.epsilon}); privacy=dp_sgd_epsilon "
                       "solves the noise for privacy.epsilon")
    if not p.unsafe_allow_zero_noise:
        if p.noise_multiplier is not None and not p.noise_multiplier > 0:
            raise ZooError(f"privacy.noise_multiplier={p.noise_multiplier} gives no privacy "
                           "guarantee: use a positive value (about 0.5 to 2), or privacy.epsilon")
        if not math.isfinite(float(p.l2_norm_clip)) or not p.l2_norm_clip > 0:
            raise ZooError(f"privacy.l2_norm_clip={p.l2_norm_clip}: expected a positive finite "
                           "bound on each example's gradient norm (e.g. 1.0)")
    if p.epsilon is not None and not float(p.epsilon) > 0:
        raise ZooError(f"privacy.epsilon={p.epsilon}: expected a positive target (1 to 10 is usual)")
    if p.microbatch_size < 1 or p.microbatch_size > cfg.trainer.batch_size:
        raise ZooError(f"privacy.microbatch_size={p.microbatch_size}: expected 1 (per-example "
                       f"clipping) to trainer.batch_size={cfg.trainer.batch_size}")
    if cfg.trainer.precision != "float32":
        raise ZooError(f"privacy=dp_sgd with trainer.precision={cfg.trainer.precision}: loss scaling "
                       "would change the clipped norms; use trainer.precision=float32")
    if OmegaConf.select(cfg, "distill") is not None:
        raise ZooError("privacy=dp_sgd with experiment=distill: the teacher saw the private data "
                       "without noise, so the student would carry no guarantee; train one or the other")


def check_delta(delta: float, train_examples: int) -> None:
    if not 0 < delta < 1.0 / train_examples:
        raise ZooError(f"privacy.delta={delta:g} must be below 1/N = {1.0 / train_examples:.3g} "
                       f"(N={train_examples} training examples): a delta of 1/N allows releasing "
                       f"one whole record; pass e.g. privacy.delta={default_delta(train_examples):.2g}")


class PrivateTraining(TrainingWrapper):
    """A supervised family's training part, trained with DP-SGD and an epsilon ledger."""

    def __init__(self, inner: Training):
        super().__init__(inner)
        self.settings = self.cfg.privacy
        self.plan: PrivacyPlan | None = None
        self.ledger: Any = None
        if type(inner).compile is not Training.compile or type(inner).fit_model is not Training.fit_model:
            raise ZooError(f"privacy=dp_sgd: model {self.model_name!r} trains with its own step "
                           "(a generative or pre-training family); DP-SGD is for supervised "
                           "classifiers and regressors trained with Keras compile/fit")

    def check(self, info: DatasetInfo) -> None:
        self.check_public(info)
        if info.task not in TASKS:
            raise ZooError(f"privacy=dp_sgd: dataset {info.name!r} is {info.task}; DP-SGD needs a "
                           "labelled (classification or regression) dataset")
        self.inner.check(info)
        n = self.train_examples(info)
        check_delta(self.delta(n), n)

    def check_public(self, info: DatasetInfo) -> None:
        """Refuse preprocessing learnt from the private split (unless declared public)."""
        if not self.settings.public_preprocessing:
            if info.modality == "text":
                raise ZooError(f"privacy=dp_sgd on text ({info.name!r}): the vocabulary is learnt "
                               "from the private training split, which DP-SGD does not protect; "
                               "pass privacy.public_preprocessing=true if it may be disclosed")
            if self.cfg.dataset.get("normalize") and info.modality in LEARNED_FROM_DATA:
                raise ZooError("privacy=dp_sgd with dataset.normalize=true: the mean/std come from "
                               "the private training split, which DP-SGD does not protect; pass "
                               "dataset.normalize=false, or privacy.public_preprocessing=true if "
                               "those statistics are public")
            from zoo.data.features import is_table

            if is_table(info.features):
                raise ZooError(f"privacy=dp_sgd on the table {info.name!r}: its category vocabularies and "
                               "blank-cell fill values are learnt from the private training split, which "
                               "DP-SGD does not protect; pass privacy.public_preprocessing=true if they may "
                               "be disclosed")
            if info.task == "regression":
                raise ZooError(f"privacy=dp_sgd on the regression {info.name!r}: the target's mean and std "
                               "(by which the network learns it standardised) come from the private "
                               "training split; pass privacy.public_preprocessing=true if they may be "
                               "disclosed")

    def train_examples(self, info: DatasetInfo) -> int:
        n = int(info.num_examples.get("train") or 0)
        if n <= 0:
            raise ZooError(f"privacy=dp_sgd: dataset {info.name!r} does not say how many training "
                           "examples it has, which the accountant needs")
        return n

    def delta(self, train_examples: int) -> float:
        d = self.settings.delta
        return default_delta(train_examples) if d is None else float(d)

    def make_plan(self, info: DatasetInfo, replicas: int) -> PrivacyPlan:
        """Sampling rate, steps, delta and the noise (solved for a target epsilon if asked)."""
        t, p = self.cfg.trainer, self.settings
        n = self.train_examples(info)
        global_batch = int(t.batch_size) * replicas
        steps_per_epoch = math.ceil(n / global_batch)
        if t.steps_per_epoch:
            steps_per_epoch = min(steps_per_epoch, int(t.steps_per_epoch))
        planned = steps_per_epoch * int(t.epochs)
        rate, delta = min(1.0, global_batch / n), self.delta(n)
        noise = p.noise_multiplier
        if noise is None:
            noise = solve_noise(float(p.epsilon), planned, rate, delta, p.accountant)
        return PrivacyPlan(l2_norm_clip=float(p.l2_norm_clip), noise_multiplier=float(noise),
                           delta=delta, sampling_rate=rate, global_batch=global_batch,
                           train_examples=n, steps_per_epoch=steps_per_epoch, planned_steps=planned,
                           microbatch_size=int(p.microbatch_size), accountant=str(p.accountant),
                           target_epsilon=None if p.epsilon is None else float(p.epsilon),
                           replicas=replicas)

    def check_same_plan(self, path: Any) -> None:
        """A resumed run must keep the accountant's parameters, or its epsilon would be wrong."""
        if not path.exists():
            return
        before, now = json.loads(path.read_text()), self.plan.to_dict()
        for key in ("l2_norm_clip", "noise_multiplier", "delta", "sampling_rate", "microbatch_size",
                    "accountant"):
            if before.get(key) != now[key]:
                raise ZooError(f"this run folder's privacy.json has {key}={before.get(key)}, the "
                               f"resumed config gives {now[key]}: resume with the run's own privacy "
                               "settings (its config.yaml), or start a new run folder")

    def noise_seed(self) -> int:
        """The secret seed of the noise: kept in `checkpoints/` so a resumed run draws the same."""
        from zoo.run.rundir import write_json

        path = self.run.checkpoints / NOISE_SEED_FILE
        if path.exists():
            return int(json.loads(path.read_text())["noise_seed"])
        seed = self.settings.noise_seed
        seed = secrets.randbits(62) if seed is None else int(seed)
        write_json(path, {"noise_seed": seed})
        return seed

    def compile(self, model: Any, optimizer: Any, info: DatasetInfo) -> None:
        """The family's compile, then DP-SGD's step on the model (inside the strategy scope)."""
        from zoo.core.lazy import import_tensorflow
        from zoo.training.dp_sgd import install_dp_sgd

        self.inner.compile(model, optimizer, info)
        replicas = import_tensorflow().distribute.get_strategy().num_replicas_in_sync
        self.plan = self.make_plan(info, replicas)
        self.check_same_plan(self.run.path / PRIVACY_FILE)
        install_dp_sgd(model, self.plan, self.noise_seed())
        plan = self.plan
        log.info("DP-SGD: clip %g, noise multiplier %.4g%s, sampling rate %.4g (global batch %d of "
                 "%d), %d steps planned, delta %.3g, %s accountant: epsilon %.4g at the end",
                 plan.l2_norm_clip, plan.noise_multiplier,
                 "" if plan.target_epsilon is None else f" (solved for epsilon {plan.target_epsilon:g})",
                 plan.sampling_rate, plan.global_batch, plan.train_examples, plan.planned_steps,
                 plan.delta, plan.accountant, plan.epsilon(plan.planned_steps))

    def log_callbacks(self, prepared: Prepared) -> list:
        """The epsilon ledger (first, so history.csv and the epoch log line show epsilon)."""
        from zoo.training.dp_sgd import PrivacyLedger

        path = self.run.path / PRIVACY_FILE
        previous = json.loads(path.read_text()).get("epochs", []) if path.exists() else []
        self.ledger = PrivacyLedger(self.plan, path, previous)
        return [self.ledger, *self.inner.log_callbacks(prepared)]

    def extra_metrics(self, model: Any, test_ds: Any, prepared: Prepared, evaluation: Any
                      ) -> dict[str, Any]:
        """`metrics.json["privacy"]`: the final epsilon, its parameters and the per-epoch values."""
        from zoo.training.dp_sgd import steps_taken

        plan = self.plan
        steps = steps_taken(model)
        epsilon = plan.epsilon(steps)
        report = {"mechanism": "dp_sgd", "epsilon": epsilon, "delta": plan.delta, "steps": steps,
                  "noise_multiplier": plan.noise_multiplier, "l2_norm_clip": plan.l2_norm_clip,
                  "sampling_rate": plan.sampling_rate, "microbatch_size": plan.microbatch_size,
                  "accountant": plan.accountant, "target_epsilon": plan.target_epsilon,
                  "guarantee": math.isfinite(epsilon),
                  "epsilon_per_epoch": [e["epsilon"] for e in self.ledger.epochs]}
        log.info("privacy: epsilon %.4g at delta %.3g after %d DP-SGD steps (noise multiplier %.4g, "
                 "clip %g, sampling rate %.4g, %s accountant)", epsilon, plan.delta, steps,
                 plan.noise_multiplier, plan.l2_norm_clip, plan.sampling_rate, plan.accountant)
        return {**self.inner.extra_metrics(model, test_ds, prepared, evaluation), "privacy": report}


def conformance_case(case: ModeCase) -> list[str] | None:
    """The conformance kit's DP-SGD case: the model's own case, trained privately. None for a
    family that trains with its own step, unlabelled data, or a network with layers DP-SGD refuses
    (batch normalisation, activity regularisers). Its preprocessing is declared public, as the kit
    checks the plumbing of every supervised family, text and tables included."""
    from zoo.training.dp_sgd import check_per_example

    if case.info.task not in TASKS or not set(case.spec.tasks) & set(TASKS):
        return None
    try:
        check_per_example(case.network)
    except ZooError:
        return None
    return ["privacy=dp_sgd", "privacy.public_preprocessing=true"]
