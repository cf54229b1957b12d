"""Generative quality: sample grids, a domain classifier, Frechet distance and confidence.

The Frechet distance here is FID-style: it compares feature statistics of a small classifier
trained on the dataset's training split (not Inception-v3), so its values are comparable only
within one dataset. Samples, real held-out images and uniform noise are all measured against a
reference split that neither the generator nor the classifier trained on: real data is the floor,
noise the ceiling, and a generator that copies its training set gains nothing by it.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from scipy import linalg

log = logging.getLogger("zoo.generative")
FEATURES_LAYER = "features"


TILE_PIXELS = 96  # small images are enlarged to about this size, so a grid reads without zooming


def save_grid(images: np.ndarray, path: Path, cols: int = 8, tile: int = TILE_PIXELS) -> Path:
    """Tile images in [0, 1] of shape (n, h, w, c) or (n, d) into one PNG, 2 pixels apart.

    Each image is enlarged by a whole factor (nearest neighbour: pixels stay sharp squares) until
    its longer side reaches about `tile` pixels; images that large already keep their size.
    """
    from PIL import Image

    images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
    if images.ndim == 2:  # tabular vectors: one row of pixels per sample
        images = images[:, None, :, None]
    scale = max(1, tile // max(images.shape[1:3]))
    images = images.repeat(scale, axis=1).repeat(scale, axis=2)
    n, h, w, c = images.shape
    rows, gap = -(-n // cols), 2
    grid = np.ones((rows * (h + gap) + gap, cols * (w + gap) + gap, c), np.float32)
    for i, image in enumerate(images):
        r, k = divmod(i, cols)
        top, left = gap + r * (h + gap), gap + k * (w + gap)
        grid[top:top + h, left:left + w] = image
    pixels = (grid * 255).round().astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels[..., 0] if c == 1 else pixels).save(path)
    return path


def to_arrays(dataset: Any) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of a batched `(features, label)` dataset as numpy arrays."""
    xs, ys = [], []
    for x, y in dataset:
        xs.append(np.asarray(x))
        ys.append(np.asarray(y))
    return np.concatenate(xs), np.concatenate(ys).reshape(-1)


def build_classifier(input_shape: tuple[int, ...], num_classes: int) -> Any:
    """A small CNN (or MLP for vectors) whose `features` layer gives the embedding."""
    import keras

    inputs = keras.Input(input_shape)
    x = inputs
    if len(input_shape) == 3:
        for filters in (32, 64):
            x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
            if min(x.shape[1], x.shape[2]) >= 4:
                x = keras.layers.MaxPooling2D(2)(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
    else:
        x = keras.layers.Dense(128, activation="relu")(x)
    x = keras.layers.Dense(64, activation="relu", name=FEATURES_LAYER)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="domain_classifier")


def classifier_cache(x: np.ndarray, y: np.ndarray, value_range: tuple[float, float], seed: int) -> Path:
    """Where the classifier of exactly this training data is cached ($ZOO_CACHE_DIR or ~/.cache).

    Runs on the same data (same split, same scaling) share one classifier, so their scores
    are comparable and the classifier is trained once.
    """
    digest = hashlib.sha256(x.tobytes() + y.tobytes() + repr((x.shape, value_range, seed)).encode())
    root = Path(os.environ.get("ZOO_CACHE_DIR") or Path.home() / ".cache" / "keras-zoo")
    return root / "domain_classifiers" / f"{digest.hexdigest()[:20]}.keras"


def domain_classifier(x: np.ndarray, y: np.ndarray, num_classes: int, cache: Path | None,
                      epochs: int = 10, seed: int = 0) -> Any:
    """Train the classifier on the training split, or reload it from `cache`."""
    import keras

    if cache is not None and cache.exists():
        return keras.saving.load_model(cache)
    keras.utils.set_random_seed(seed)
    model = build_classifier(x.shape[1:], num_classes)
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y.astype("int32"), batch_size=64, epochs=epochs, verbose=0)
    log.info("domain classifier: training accuracy %.3f", history.history["accuracy"][-1])
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{os.getpid()}-{cache.name}")
        model.save(tmp)
        os.replace(tmp, cache)  # concurrent runs never read half a file
    return model


def embedder(classifier: Any) -> Any:
    """A model giving (penultimate features, class probabilities) of the classifier."""
    import keras

    return keras.Model(classifier.inputs[0], [classifier.get_layer(FEATURES_LAYER).output,
                                              classifier.outputs[0]])


def embed(model: Any, x: np.ndarray, batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Features and probabilities of `x` through an `embedder` (float64 for the statistics)."""
    outputs = [model(x[i:i + batch], training=False) for i in range(0, len(x), batch)]
    features = np.concatenate([np.asarray(f) for f, _ in outputs])
    probs = np.concatenate([np.asarray(p) for _, p in outputs])
    return features.astype(np.float64), probs.astype(np.float64)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (FID's formula)."""
    mu1, mu2 = a.mean(0), b.mean(0)
    eps = 1e-6 * np.eye(len(mu1))  # dead ReLU features make a covariance singular
    s1, s2 = np.cov(a, rowvar=False) + eps, np.cov(b, rowvar=False) + eps
    covmean = linalg.sqrtm(s1 @ s2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean.real))


DIVERSITY_EXAMPLES = 500  # pairwise distances of at most this many examples (125k pairs)


def diversity(x: np.ndarray) -> float:
    """Mean Euclidean distance between two different examples (model units; 0: all alike)."""
    from scipy.spatial.distance import pdist

    flat = np.asarray(x[:DIVERSITY_EXAMPLES], np.float64).reshape(min(len(x), DIVERSITY_EXAMPLES), -1)
    return float(pdist(flat).mean()) if len(flat) > 1 else 0.0


def distinct_classes(probs: np.ndarray) -> int:
    """How many classes are the top class of at least one example."""
    return int(len(np.unique(probs.argmax(1))))


def confidence_scores(probs: np.ndarray) -> tuple[float, float]:
    """Mean top-class probability and the Inception-Score-style exp(E[KL(p(y|x) || p(y))])."""
    marginal = probs.mean(0, keepdims=True)
    kl = (probs * (np.log(probs + 1e-12) - np.log(marginal + 1e-12))).sum(1)
    return float(probs.max(1).mean()), float(np.exp(kl.mean()))


def quality_metrics(classifier: Any, reference: np.ndarray, samples: np.ndarray, real: np.ndarray,
                    value_range: tuple[float, float], seed: int = 0) -> dict[str, float]:
    """Distances of samples, real held-out data and uniform noise to `reference`.

    `reference` must be data neither the generator nor `classifier` trained on (a held-out
    split): against the training split, samples close to it beat real held-out data.
    """
    noise = np.random.default_rng(seed).uniform(*value_range, size=real.shape).astype(np.float32)
    model = embedder(classifier)
    ref, _ = embed(model, reference)
    metrics: dict[str, float] = {}
    for name, x in (("", samples), ("_real", real), ("_noise", noise)):
        features, probs = embed(model, x)
        metrics[f"frechet_distance{name}"] = frechet_distance(features, ref)
        metrics[f"classifier_confidence{name}"], metrics[f"class_score{name}"] = confidence_scores(probs)
        metrics[f"diversity{name}"] = diversity(x)
        metrics[f"distinct_classes{name}"] = float(distinct_classes(probs))
    return metrics
