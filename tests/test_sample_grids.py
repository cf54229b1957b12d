"""Sample grids readable without zooming (the GAN's scores and TensorBoard grids: test_generative.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from zoo_plugins.generative import quality as generative

DIGIT_GRID = 8 * (8 * 12 + 2) + 2  # 8 tiles of 8x8 digits enlarged 12 times, 2 pixels apart


@pytest.mark.parametrize(("shape", "side"), [((8, 8, 1), DIGIT_GRID), ((28, 28, 1), 8 * 86 + 2),
                                             ((64, 64, 3), 8 * 66 + 2)])
def test_grids_enlarge_small_images_to_a_readable_size(tmp_path, shape, side):
    images = np.random.default_rng(0).uniform(size=(64, *shape)).astype(np.float32)
    path = generative.save_grid(images, tmp_path / "grid.png")
    with Image.open(path) as image:
        assert image.size == (side, side)
        pixels = np.asarray(image, np.float32) / 255
    scale = max(1, generative.TILE_PIXELS // shape[0])
    first = pixels[2:2 + shape[0] * scale:scale, 2:2 + shape[1] * scale:scale]  # nearest neighbour
    np.testing.assert_allclose(first.reshape(shape), images[0], atol=1 / 255)
