"""The GAN roles: two optimizers of the same settings, a sample grid per epoch, Frechet distance,
the generator exported."""

from __future__ import annotations

from typing import Any

from zoo_plugins.generative.task import GenerativeEvaluator, GenerativeTraining

from zoo.sdk import DatasetInfo, ExportModule, Prepared

VALUE_RANGE = (-1.0, 1.0)  # the generator's tanh range, the data scaled to it (`ScaledData`)


class GANTraining(GenerativeTraining):
    """Two optimizers of the same settings, a sample grid per epoch."""

    def compile(self, model: Any, optimizer: Any, info: DatasetInfo) -> None:
        import keras

        d_optimizer = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
        model.compile(optimizer=optimizer, d_optimizer=d_optimizer,
                      adversarial=self.registry.loss(self.loss_name(info)).build(info))

    def build_optimizers(self, model: Any) -> None:
        model.build_optimizers()  # the generator's and the discriminator's

    def callbacks(self, prepared: Prepared) -> list:
        from zoo_plugins.gan.samples import GeneratorSamples

        return [GeneratorSamples(self.run.path, prepared.info, self.cfg.trainer.seed)]


class GANEvaluator(GenerativeEvaluator):
    """Frechet distance of generated samples (as many as the split holds, of its labels)."""

    value_range = VALUE_RANGE

    def evaluate(self, model: Any, dataset: Any, prepared: Prepared) -> Any:
        from zoo_plugins.gan.samples import generate
        from zoo_plugins.generative.quality import to_arrays

        from zoo.sdk import Evaluation

        real, labels = to_arrays(dataset)
        samples = generate(model, len(real), labels, seed=self.cfg.trainer.seed + 1)
        return Evaluation(self.quality(samples, real, prepared))


class GANExport(ExportModule):
    """`zoo export` writes the generator (latent in, samples in the data range out)."""

    def parts(self, model: Any, prepared: Prepared) -> list:
        from zoo_plugins.gan.export import generator_part

        return [generator_part(model, self.cfg, prepared, VALUE_RANGE)]
