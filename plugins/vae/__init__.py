"""The VAE family: convolutional and dense variational autoencoders (ELBO with beta and warm-up)."""

from __future__ import annotations

from dataclasses import dataclass

from zoo.sdk import GENERATIVE, ConformanceCase, ModelConfig, ModelSpec, bounded, hookimpl, lazy


@dataclass
class VAEConfig(ModelConfig):
    name: str = "vae"
    latent_dim: int = bounded(8, ge=1)
    filters: list[int] = bounded(default_factory=lambda: [32, 64], ge=1)  # conv encoder, one 2x stride each
    hidden_sizes: list[int] = bounded(default_factory=lambda: [256, 128], ge=1)  # dense encoder, conv head
    beta: float = bounded(1.0, ge=0)  # weight of the KL term (beta-VAE)
    kl_warmup_epochs: int = bounded(0, ge=0)  # ramp the KL weight linearly from 0 to beta over these epochs
    reconstruction: str = "gaussian"  # gaussian | bernoulli (on grey levels it collapses the posterior)
    gaussian_sigma: float = bounded(0.1, gt=0)  # fixed standard deviation of the Gaussian decoder
    holdout_class: int | None = bounded(None, ge=0)  # leave this class out of training (anomaly scoring)
    noise_seed: int = bounded(0, ge=0)  # seed of the reparameterisation noise


@hookimpl
def zoo_models() -> list[ModelSpec]:
    roles = {"data": lazy("zoo_plugins.vae.task:VAEData"),
             "training": lazy("zoo_plugins.vae.task:VAETraining"),
             "evaluation": lazy("zoo_plugins.vae.task:VAEEvaluator"),
             "export": lazy("zoo_plugins.vae.task:VAEExport")}
    build = lazy("zoo_plugins.vae.model:build_vae")
    small = ConformanceCase(("model.filters=[8]", "model.hidden_sizes=[16]"))
    return [
        ModelSpec("vae", build, "convolutional VAE for images (strided conv encoder, transposed-conv "
                  "decoder)", VAEConfig, tasks=(GENERATIVE,), modalities=("image",), **roles,
                  conformance=small),
        ModelSpec("vae_dense", build, "dense VAE for vectors or flattened images", VAEConfig,
                  tasks=(GENERATIVE,), modalities=("tabular", "image"), **roles, conformance=small),
    ]


@hookimpl
def zoo_config_dirs() -> list[str]:
    return ["pkg://zoo_plugins.vae.conf"]
