"""The GAN task: two optimizers of the same settings, a sample grid per epoch, Frechet distance."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig
from zoo_plugins.generative.task import GenerativeTask

from zoo.sdk import DatasetInfo, RawSplits, Registry


class GANTask(GenerativeTask):
    """Two optimizers of the same settings, a sample grid per epoch, Frechet distance at the end."""

    def compile(self, model: Any, optimizer: Any, cfg: DictConfig, info: DatasetInfo,
                registry: Registry) -> None:
        import keras

        d_optimizer = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
        model.compile(optimizer=optimizer, d_optimizer=d_optimizer,
                      adversarial=registry.loss(self.loss_name(cfg, info)).build(info))

    def build_optimizers(self, model: Any) -> None:
        model.build_optimizers()  # the generator's and the discriminator's

    def callbacks(self, cfg: DictConfig, info: DatasetInfo, run: Any) -> list:
        from zoo_plugins.gan.samples import GeneratorSamples

        return [GeneratorSamples(run.path, info, cfg.trainer.seed)]

    def evaluate(self, model: Any, dataset: Any, info: DatasetInfo) -> Any:
        from zoo_plugins.gan.samples import generate
        from zoo_plugins.generative.quality import to_arrays

        from zoo.sdk import Evaluation

        real, labels = to_arrays(dataset)
        samples = generate(model, len(real), labels, seed=self.cfg.trainer.seed + 1)
        return Evaluation(self.quality(samples, real, info))

    def export_parts(self, model: Any, cfg: DictConfig, splits: RawSplits) -> list:
        """`zoo export` writes the generator (latent in, samples in the data range out)."""
        from zoo_plugins.gan.export import generator_part

        return [generator_part(model, cfg, splits, self.value_range)]
