"""The GAN family: DCGAN-style (images) and MLP (vectors) GANs, optionally class-conditional."""

from __future__ import annotations

from dataclasses import dataclass

from zoo.sdk import GENERATIVE, ConformanceCase, LossSpec, ModelConfig, ModelSpec, bounded, hookimpl, lazy


@dataclass
class GANConfig(ModelConfig):
    name: str = "dcgan"
    latent_dim: int = bounded(32, ge=1)
    generator_filters: list[int] = bounded(default_factory=lambda: [64, 32], ge=1)  # one 2x upsampling each
    discriminator_filters: list[int] = bounded(default_factory=lambda: [32, 64], ge=1)  # one 2x stride each
    hidden_sizes: list[int] = bounded(default_factory=lambda: [128, 128], ge=1)  # gan_mlp layers
    batch_norm: bool = True  # in the generator (synchronised across replicas)
    leaky_slope: float = bounded(0.2, ge=0, lt=1)
    conditional: bool = False  # feed the class label to both networks
    label_dim: int = bounded(16, ge=1)
    discriminator_steps: int = bounded(1, ge=1)  # discriminator updates per generator update (5 for WGAN-GP)
    noise_seed: int = bounded(0, ge=0)  # seed of the training latent noise


@hookimpl
def zoo_models() -> list[ModelSpec]:
    roles = {"data": lazy("zoo_plugins.generative.task:ScaledData"),
             "training": lazy("zoo_plugins.gan.task:GANTraining"),
             "evaluation": lazy("zoo_plugins.gan.task:GANEvaluator"),
             "export": lazy("zoo_plugins.gan.task:GANExport")}
    build = lazy("zoo_plugins.gan.model:build_gan")
    small = ("model.latent_dim=4", "model.generator_filters=[8]", "model.discriminator_filters=[8]",
             "model.hidden_sizes=[8]", "model.label_dim=4")
    return [
        ModelSpec("dcgan", build, "DCGAN: transposed-conv generator, strided-conv discriminator "
                  "(8x8 to 64x64, grey or colour)", GANConfig, tasks=(GENERATIVE,),
                  modalities=("image",), **roles,
                  conformance=ConformanceCase(("model.conditional=true",))),
        ModelSpec("gan_mlp", build, "GAN of two MLPs for tabular vectors", GANConfig,
                  tasks=(GENERATIVE,), modalities=("tabular",), **roles,
                  conformance=ConformanceCase(("dataset=iris", *small))),
    ]


@hookimpl
def zoo_losses() -> list[LossSpec]:
    def spec(name: str, description: str) -> LossSpec:
        return LossSpec(name, lazy(f"zoo_plugins.gan.losses:{name}"), description, (GENERATIVE,))

    return [
        spec("gan_bce", "GAN: non-saturating binary cross-entropy"),
        spec("hinge", "GAN: hinge loss"),
        spec("wgan_gp", "GAN: Wasserstein loss with gradient penalty (weight 10)"),
    ]


@hookimpl
def zoo_config_dirs() -> list[str]:
    return ["pkg://zoo_plugins.gan.conf"]
