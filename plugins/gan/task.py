"""The GAN task: two optimizers of the same settings, a sample grid per epoch, Frechet distance."""

from __future__ import annotations

from typing import Any

from zoo_plugins.generative.task import GenerativeTask

from zoo.sdk import DatasetInfo, RawSplits


class GANTask(GenerativeTask):
    """Two optimizers of the same settings, a sample grid per epoch, Frechet distance at the end."""

    def compile(self, model: Any, optimizer: Any, info: DatasetInfo) -> None:
        import keras

        d_optimizer = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
        model.compile(optimizer=optimizer, d_optimizer=d_optimizer,
                      adversarial=self.registry.loss(self.loss_name(info)).build(info))

    def build_optimizers(self, model: Any) -> None:
        model.build_optimizers()  # the generator's and the discriminator's

    def callbacks(self, splits: RawSplits) -> list:
        from zoo_plugins.gan.samples import GeneratorSamples

        return [GeneratorSamples(self.run.path, splits.info, self.cfg.trainer.seed)]

    def evaluate(self, model: Any, dataset: Any, splits: RawSplits) -> Any:
        from zoo_plugins.gan.samples import generate
        from zoo_plugins.generative.quality import to_arrays

        from zoo.sdk import Evaluation

        real, labels = to_arrays(dataset)
        samples = generate(model, len(real), labels, seed=self.cfg.trainer.seed + 1)
        return Evaluation(self.quality(samples, real, splits))

    def export_parts(self, model: Any, splits: RawSplits) -> list:
        """`zoo export` writes the generator (latent in, samples in the data range out)."""
        from zoo_plugins.gan.export import generator_part

        return [generator_part(model, self.cfg, splits, self.value_range)]
