"""TensorBoard beyond Keras's scalars: hyper-parameters, sample grids, the confusion matrix.

Keras's `TensorBoard` callback writes `tensorboard/train` and `tensorboard/validation`; this adds
the run's config to the HParams dashboard (`tensorboard.plugins.hparams.api`), every per-epoch
image a family writes as `samples/epoch_NNN[_kind].png` (GAN and VAE grids) to the Images
dashboard, and after the test evaluation the test metrics and, for classifiers, the confusion
matrix as an image (`tensorboard/test`).
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import keras
import numpy as np

from zoo.run.tracking import flat_params

HPARAM_GROUPS = ("model", "dataset", "optimizer", "trainer", "strategy", "privacy", "distill")


def hparams_of(cfg: Any) -> dict[str, bool | int | float | str]:
    """The config's settings that matter to compare runs, typed as the HParams plugin takes them."""
    from omegaconf import OmegaConf

    flat: dict[str, bool | int | float | str] = {}
    for key, text in flat_params(cfg).items():
        if key.split(".")[0] not in HPARAM_GROUPS or text == "None":
            continue
        value = OmegaConf.select(cfg, key)
        flat[key] = value if isinstance(value, bool | int | float | str) else text
    return flat


def hparams_callback(cfg: Any, logdir: Path) -> keras.callbacks.Callback:
    """The HParams plugin's own Keras callback: the session's hyper-parameters at train start."""
    from tensorboard.plugins.hparams import api as hp

    return hp.KerasCallback(str(logdir), hparams_of(cfg), trial_id=Path(logdir).parent.name)


def png_image(path_or_bytes: Path | bytes) -> np.ndarray:
    """An image file (or PNG bytes) as a uint8 batch of one, (1, h, w, c), for `tf.summary.image`."""
    from PIL import Image

    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    with Image.open(source) as image:
        pixels = np.asarray(image.convert("L" if image.mode in ("L", "1", "P") else "RGB"))
    return (pixels[..., None] if pixels.ndim == 2 else pixels)[None]


class SampleGrids(keras.callbacks.Callback):
    """After each epoch, the grids `samples/epoch_NNN[_kind].png` of that epoch into TensorBoard
    (tag `samples` or `samples/<kind>`, step = epoch); runs after the family's own callbacks."""

    def __init__(self, samples: Path, logdir: Path):
        super().__init__()
        self.samples, self.logdir, self.writer = Path(samples), Path(logdir), None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        grids = sorted(self.samples.glob(f"epoch_{epoch + 1:03d}*.png")) if self.samples.is_dir() else []
        if not grids:
            return
        import tensorflow as tf

        self.writer = self.writer or tf.summary.create_file_writer(str(self.logdir))
        with self.writer.as_default():
            for grid in grids:
                kind = re.sub(r"^epoch_\d+_?", "", grid.stem)
                tf.summary.image(f"samples/{kind}" if kind else "samples", png_image(grid), step=epoch)
        self.writer.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.writer is not None:
            self.writer.close()


def write_test_summaries(logdir: Path, metrics: dict[str, Any], evaluation: Any, info: Any) -> None:
    """Test metrics as scalars and the test confusion matrix as an image (step = epochs trained)."""
    import tensorflow as tf

    from zoo.run.tracking import numbers

    step = int(metrics.get("epochs") or 0)
    writer = tf.summary.create_file_writer(str(logdir))
    with writer.as_default():
        for name, value in numbers(metrics.get("test", {})).items():
            tf.summary.scalar(f"test_{name}", value, step=step)
        if getattr(evaluation, "confusion", None) is not None:
            from zoo.evaluation.plots import confusion_matrix

            names = info.class_names or [str(i) for i in range(info.num_classes)]
            buffer = io.BytesIO()
            if confusion_matrix(np.asarray(evaluation.confusion), names, buffer) is not None:
                tf.summary.image("confusion_matrix", png_image(buffer.getvalue()), step=step)
    writer.close()
