"""The VAE family: convolutional and dense variational autoencoders (ELBO with beta and warm-up)."""

from __future__ import annotations

from dataclasses import dataclass, field

from zoo.sdk import GENERATIVE, ConformanceCase, ModelConfig, ModelSpec, hookimpl, lazy


@dataclass
class VAEConfig(ModelConfig):
    name: str = "vae"
    latent_dim: int = 8
    filters: list[int] = field(default_factory=lambda: [32, 64])  # conv encoder, one 2x stride each
    hidden_sizes: list[int] = field(default_factory=lambda: [256, 128])  # dense encoder (and conv head)
    beta: float = 1.0  # weight of the KL term (beta-VAE)
    kl_warmup_epochs: int = 0  # ramp the KL weight linearly from 0 to beta over these epochs
    reconstruction: str = "gaussian"  # gaussian | bernoulli (on grey levels it collapses the posterior)
    gaussian_sigma: float = 0.1  # fixed standard deviation of the Gaussian decoder
    holdout_class: int | None = None  # leave this class out of training (anomaly scoring)
    noise_seed: int = 0  # seed of the reparameterisation noise


@hookimpl
def zoo_models() -> list[ModelSpec]:
    task = lazy("zoo_plugins.vae.task:VAETask")
    build = lazy("zoo_plugins.vae.model:build_vae")
    small = ConformanceCase(("model.filters=[8]", "model.hidden_sizes=[16]"))
    return [
        ModelSpec("vae", build, "convolutional VAE for images (strided conv encoder, transposed-conv "
                  "decoder)", VAEConfig, tasks=(GENERATIVE,), modalities=("image",), task=task,
                  conformance=small),
        ModelSpec("vae_dense", build, "dense VAE for vectors or flattened images", VAEConfig,
                  tasks=(GENERATIVE,), modalities=("tabular", "image"), task=task, conformance=small),
    ]


@hookimpl
def zoo_config_dirs() -> list[str]:
    return ["pkg://zoo_plugins.vae.conf"]
