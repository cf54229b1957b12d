"""Typed schemas of the core config groups, checked by Hydra before any work starts.

`model` and `dataset` are typed by the dataclass each plugin registers with its spec
(stored as `schema/model/<name>` and `schema/dataset/<name>`); the rest is typed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from zoo.config.bounds import bounded, choice

CHECKPOINTS = ("final", "best", "last")  # a run's saved weights: `zoo evaluate`, `export`, `generate`


@dataclass
class ModelConfig:
    """Base of every model schema: `name` is the registered builder."""

    name: str = MISSING


@dataclass
class OptimizerConfig:
    """A Keras optimizer by name; the learning rate lives in `trainer`."""

    name: str = choice("adam", ("adam", "adamw", "sgd", "rmsprop"))
    weight_decay: float | None = bounded(None, ge=0)
    momentum: float = bounded(0.9, ge=0, le=1)  # sgd and rmsprop
    nesterov: bool = False  # sgd
    beta_1: float = bounded(0.9, ge=0, lt=1)  # adam, adamw
    beta_2: float = bounded(0.999, ge=0, lt=1)
    epsilon: float = bounded(1e-7, gt=0)
    clipnorm: float | None = bounded(None, gt=0)


@dataclass
class EarlyStoppingConfig:
    enabled: bool = False
    patience: int = bounded(5, ge=0)
    min_delta: float = bounded(0.0, ge=0)
    restore_best_weights: bool = True


@dataclass
class TrainerConfig:
    """How to fit: epochs, batch, learning rate and schedule, precision, callbacks."""

    epochs: int = bounded(30, ge=1)
    batch_size: int = bounded(32, ge=1)  # per replica; global batch = batch_size x replicas
    learning_rate: float = bounded(2e-3, gt=0)
    lr_schedule: str = choice("cosine", ("constant", "cosine", "linear", "plateau"))
    warmup_epochs: int = bounded(0, ge=0)
    steps_per_epoch: int | None = bounded(None, ge=1)  # cap the steps of an epoch (quick runs)
    loss: str | None = None  # registered loss; default by task
    metrics: list[str] | None = None  # registered metrics; default by task
    monitor: str = "val_loss"  # quantity for the best checkpoint and early stopping
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    terminate_on_nan: bool = True
    seed: int = bounded(42, ge=0)
    deterministic: bool = True  # TF op determinism: same seed, same result
    precision: str = choice("float32", ("float32", "mixed_float16", "mixed_bfloat16"))
    jit_compile: bool = False  # XLA
    resume: bool = True  # continue an interrupted run found in the run folder
    checkpoint_every_seconds: float = bounded(30.0, ge=0)  # save at most this often (0: every epoch)
    overwrite: bool = False  # replace a finished run in the run folder
    plots: bool = True
    tensorboard: bool = True
    verbose: int = bounded(0, ge=0, le=2)  # 0, 1: progress bar on a terminal (not in a pipe or CI); 2: none


@dataclass
class StrategyConfig:
    """Which tf.distribute strategy to train under."""

    name: str = choice("auto", ("auto", "mirrored", "one_device", "multi_worker"))
    cpu_devices: int = bounded(0, ge=0)  # N logical CPUs: mirrored's replicas, or each worker's (no GPUs)
    devices: list[str] | None = None  # mirrored: explicit devices, e.g. ["/gpu:0", "/gpu:1"]
    device: str | None = None  # one_device: e.g. "/gpu:0"; default first GPU, else CPU
    workers: list[str] | None = None  # multi_worker: ["host:port", ...]; default TF_CONFIG
    task_index: int = bounded(0, ge=0)  # multi_worker with `workers`: this process's index (0 = chief)


@dataclass
class DistillConfig:
    """Knowledge distillation (`experiment=distill`); the `distill` node is null otherwise."""

    teacher: str = MISSING  # a finished `zoo train` run folder of a classifier
    temperature: float = bounded(4.0, gt=0)  # softens both models' logits before they are compared
    alpha: float = bounded(0.1, ge=0, le=1)  # weight of the true labels' loss (1 - alpha: the teacher's)
    teacher_data: bool = True  # train on the teacher's dataset config (else the composed one, checked)


@dataclass
class PrivacyConfig:
    """Differentially private training (`privacy=dp_sgd`); the `privacy` node is null otherwise."""

    mechanism: str = "dp_sgd"  # per-example clipping + Gaussian noise (Abadi et al. 2016)
    l2_norm_clip: float = bounded(1.0, ge=0)  # bound C on each microbatch's gradient norm (the sensitivity)
    noise_multiplier: float | None = bounded(None, ge=0)  # noise std / C; or null with `epsilon` to solve it
    epsilon: float | None = bounded(None, gt=0)  # target epsilon at the end of training (solves the noise)
    delta: float | None = bounded(None, gt=0, lt=1)  # default 1 / (10 x training examples); must be < 1 / N
    microbatch_size: int = bounded(1, ge=1)  # examples per clipped unit; 1 = per-example clipping
    accountant: str = choice("rdp", ("rdp", "pld"))  # dp-accounting's Renyi DP or privacy-loss-distribution
    noise_seed: int | None = bounded(None, ge=0)  # null: from OS entropy, kept in checkpoints/ for resume
    public_preprocessing: bool = False  # normalisation/vocabulary from the training split is public
    unsafe_allow_zero_noise: bool = False  # tests only: noise 0 or no clipping gives no guarantee


@dataclass
class TrackingConfig:
    """Experiment tracking beside the run folder (`tracking=mlflow`); `tracking=none` logs nowhere."""

    backend: str = choice("none", ("none", "mlflow"))  # mlflow needs keras-zoo[tracking]
    uri: str | None = None  # mlflow: a server (http://host:5000) or store; default the file store ./mlruns
    experiment: str = "zoo"  # mlflow experiment the run is filed under
    run_name: str | None = None  # default: the run folder's name
    artifacts: bool = True  # log plots, sample grids and exported bundles as artifacts


@dataclass
class TrainConfig:
    """The composed config of `zoo train`."""

    model: Any = MISSING
    dataset: Any = MISSING
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    distill: DistillConfig | None = None  # set by experiment=distill
    privacy: PrivacyConfig | None = None  # set by privacy=dp_sgd
    run_dir: str | None = None  # set from Hydra's run folder on the command line
    description: str = ""


@dataclass
class EvaluateConfig:
    """The composed config of `zoo evaluate`."""

    run_dir: str = MISSING
    split: str = choice("test", ("test", "validation", "train"))
    batch_size: int = bounded(128, ge=1)
    checkpoint: str = choice("final", CHECKPOINTS)
    output: str | None = None  # default: <run_dir>/evaluation
