"""The VAE roles: data scaled to [0, 1], KL warm-up, image callbacks, ELBO and anomaly scores."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import numpy as np
from zoo_plugins.generative.task import (
    GenerativeEvaluator,
    GenerativeTraining,
    ScaledData,
    split_arrays,
)

from zoo.sdk import DatasetInfo, ExportModule, Prepared, RawSplits, ZooError

PERCENTILES = (50, 90, 99)
VALUE_RANGE = (0.0, 1.0)  # the decoder's sigmoid range, the data scaled to it


def without_class(dataset: Any, label: int) -> Any:
    """`dataset` minus the examples of class `label`."""
    import tensorflow as tf

    return dataset.filter(lambda x, y: tf.not_equal(tf.cast(tf.reshape(y, []), tf.int64), label))


class VAEData(ScaledData):
    """Data scaled to [0, 1], without `model.holdout_class` in the training and validation splits."""

    value_range = VALUE_RANGE

    def prepare(self, splits: RawSplits, fit: bool) -> Prepared:
        import tensorflow as tf

        holdout = self.cfg.model.holdout_class
        if holdout is not None:
            classes = splits.info.num_classes or 0
            if not 0 <= holdout < classes:
                raise ZooError(f"model.holdout_class={holdout} is not a class of {splits.info.name!r} "
                               f"(0..{classes - 1}): pick one of its classes or set it to null")
            info, kept = copy.deepcopy(splits.info), {}
            for split in ("train", "validation"):
                rest = without_class(getattr(splits, split), holdout)
                count = int(rest.reduce(0, lambda c, _: c + 1))
                kept[split] = rest.apply(tf.data.experimental.assert_cardinality(count))
                info.num_examples[split] = count
            splits = dataclasses.replace(splits, info=info, **kept)
        return super().prepare(splits, fit)


class VAETraining(GenerativeTraining):
    """ELBO training (the model's own loss), KL warm-up, sample and reconstruction images."""

    def check(self, info: DatasetInfo) -> None:
        if self.cfg.trainer.loss:
            raise ZooError(f"trainer.loss={self.cfg.trainer.loss!r}: a VAE trains on its ELBO; unset "
                           "trainer.loss and choose model.reconstruction=bernoulli|gaussian")

    def loss_name(self, info: DatasetInfo) -> str:
        return "elbo"

    def compile(self, model: Any, optimizer: Any, info: DatasetInfo) -> None:
        model.compile(optimizer=optimizer)

    def callbacks(self, prepared: Prepared) -> list:
        from zoo_plugins.vae.images import KLWarmup, VAEImages

        cfg = self.cfg
        inputs = split_arrays(prepared)[0][:32]
        return [KLWarmup(cfg.model.kl_warmup_epochs), VAEImages(self.run.path, inputs, cfg.trainer.seed)]


class VAEEvaluator(GenerativeEvaluator):
    """ELBO (the headline), reconstruction errors, anomaly scores, Frechet distance of samples."""

    value_range = VALUE_RANGE

    def evaluate(self, model: Any, dataset: Any, prepared: Prepared) -> Any:
        from zoo_plugins.generative import quality as generative

        from zoo.sdk import Evaluation

        x, labels = generative.to_arrays(dataset)
        nll, kl = (np.asarray(v) for v in model.per_example(x.astype(np.float32), 0, training=False))
        errors = ((np.asarray(model(x)) - x) ** 2).reshape(len(x), -1).mean(1)
        metrics = {"elbo": float(-(nll + kl).mean()), "reconstruction_nll": float(nll.mean()),
                   "kl": float(kl.mean()), "reconstruction_error": float(errors.mean()),
                   "reconstruction_error_std": float(errors.std()),
                   **{f"reconstruction_error_p{p}": float(np.percentile(errors, p)) for p in PERCENTILES},
                   "reconstruction_error_max": float(errors.max())}
        metrics.update(self.anomaly(errors, labels))
        holdout = self.cfg.model.holdout_class
        real = x if holdout is None else x[labels.astype(int) != holdout]
        z = np.random.default_rng(self.cfg.trainer.seed + 1).normal(size=(len(real), model.latent_dim))
        samples = np.asarray(model.decoder.predict(z.astype(np.float32), batch_size=256, verbose=0))
        metrics.update(self.quality(samples, real, prepared))
        return Evaluation(metrics)

    def anomaly(self, errors: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        """ROC AUC of reconstruction error for telling the held-out class from the rest."""
        from sklearn.metrics import roc_auc_score

        holdout = self.cfg.model.holdout_class
        if holdout is None:
            return {}
        positive = labels.astype(int) == holdout
        if positive.all() or not positive.any():
            return {}
        return {"anomaly_auc": float(roc_auc_score(positive, errors)),
                "anomaly_fraction": float(positive.mean())}

    def headline(self, info: DatasetInfo) -> str:
        return "elbo"


class VAEExport(ExportModule):
    """`zoo export` writes the encoder and the decoder, one bundle each."""

    def parts(self, model: Any, prepared: Prepared) -> list:
        from zoo_plugins.vae.export import decoder_part, encoder_part

        cfg = self.cfg
        return [encoder_part(model, cfg, prepared), decoder_part(model, cfg, prepared, VALUE_RANGE)]
