"""The serving parts without a server or TensorFlow: input conversion, the batcher's bounds, drift."""

from __future__ import annotations

import asyncio
import base64
import io
import threading

import numpy as np
import pytest
from PIL import Image
from sklearn import datasets

from zoo.runtime.profile import build_profile, load_profile, write_training_profile
from zoo.serving.batcher import DynamicBatcher
from zoo.serving.codec import ApiError, to_array
from zoo.serving.drift import DriftMonitor, psi

DIGITS = datasets.load_digits()
IMAGE = {"name": "image", "dtype": "uint8", "shape": [None, 8, 8, 1]}
TEXT = {"name": "species", "dtype": "string", "shape": [None, 1]}


def png(pixels: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_b64_images_and_strings_become_the_inputs_a_bundle_takes():
    pixels = (DIGITS.images[:3] * 15).astype(np.uint8)  # 0..16 grey levels -> 0..240
    array = to_array([{"b64": png(p)} for p in pixels], IMAGE, "input 'image'")
    assert array.dtype == np.uint8 and array.shape == (3, 8, 8, 1)
    np.testing.assert_array_equal(array[..., 0], pixels)
    big = np.kron(pixels[0], np.ones((4, 4), np.uint8))  # a 32x32 photo is refused, as `zoo predict` does
    with pytest.raises(ApiError, match="is 32x32 pixels, the model takes 8x8") as caught:
        to_array([{"b64": png(big)}], IMAGE, "x")
    assert caught.value.status == 400
    names = to_array(["setosa", {"b64": base64.b64encode("virginica é".encode()).decode()}], TEXT, "x")
    assert names.dtype == object and names[:, 0].tolist() == ["setosa", "virginica é"]


@pytest.mark.parametrize(("values", "spec", "message"), [
    ([{"b64": "%%%"}], IMAGE, "invalid base64"),
    ([{"b64": base64.b64encode(b"not an image").decode()}], IMAGE, "not a readable image"),
    ([{"b64": base64.b64encode(b"\xff\xfe").decode()}], TEXT, "not UTF-8 text"),
    ([{"data": "x"}], TEXT, 'must be {"b64"'),
    ([3], TEXT, "must hold strings, got int"),
    ([[1.5] * 8] * 8, {"name": "ids", "dtype": "int32", "shape": [None, 8]}, "takes integers"),
    ([[1 << 40]], {"name": "ids", "dtype": "int32", "shape": [None, 1]}, "outside the range of int32"),
    ([[1, 2], [3]], {"name": "x", "dtype": "float32", "shape": [None, 2]}, "ragged"),
    ([[1, 2, 3]], {"name": "x", "dtype": "float32", "shape": [None, 2]}, "expected [2]"),
])
def test_bad_values_are_refused_with_a_named_400(values, spec, message):
    with pytest.raises(ApiError, match=None) as caught:
        to_array(values, spec, f"input {spec['name']!r}")
    assert caught.value.status == 400 and message in str(caught.value)


def test_the_batcher_refuses_a_full_queue_times_out_and_refuses_when_closed():
    release = threading.Event()
    shapes = []

    def run(inputs):
        release.wait(5)
        shapes.append(inputs[0].shape)
        return {"y": inputs[0] * 2}

    async def scenario():
        batcher = DynamicBatcher(run, max_batch=8, window_ms=0, max_queue=2, timeout_s=0.3, inline_ms=0)
        first = asyncio.ensure_future(batcher.submit([np.ones((1, 2))]))
        await asyncio.sleep(0.05)  # taken by the worker, which now blocks in `run`
        queued = [asyncio.ensure_future(batcher.submit([np.ones((1, 2))])) for _ in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(ApiError) as full:
            await batcher.submit([np.ones((1, 2))])
        assert full.value.status == 429 and full.value.headers == {"Retry-After": "1"}
        for waiting in queued:
            with pytest.raises(ApiError) as late:
                await waiting
            assert late.value.status == 504
        assert batcher.depth == 0  # timed-out requests leave the queue
        release.set()
        with pytest.raises(ApiError):
            await first  # it timed out too, while the model held it
        batcher.timeout = 5
        mixed = await asyncio.gather(batcher.submit([np.ones((2, 2))]), batcher.submit([np.ones((1, 3))]))
        assert [m["y"].shape for m in mixed] == [(2, 2), (1, 3)]  # shapes never share a call
        await batcher.close()
        with pytest.raises(ApiError) as closed:
            await batcher.submit([np.ones((1, 2))])
        assert closed.value.status == 503

    asyncio.run(scenario())
    assert (2, 2) in shapes and (1, 3) in shapes


def test_a_training_profile_scores_its_own_data_stable_and_a_shift_significant(tmp_path):
    wine = datasets.load_wine()
    x = wine.data.astype(np.float32)
    classes = np.asarray(wine.target_names, dtype=object)[wine.target][:, None]
    specs = [{"name": "features", "dtype": "float32", "shape": [None, 13]}, TEXT]
    write_training_profile(tmp_path, [x, classes], specs)
    profile = load_profile(tmp_path)
    assert set(profile["features"]) == {f"features[{j}]" for j in range(13)} | {"species"}
    assert profile["features"]["species"]["categories"] == ["class_1", "class_0", "class_2"]
    monitor = DriftMonitor(profile, specs)
    monitor.observe([x, classes])
    report = monitor.report()
    assert report["status"] == "stable" and report["max_psi"] < 1e-9
    shifted = DriftMonitor(profile, specs)
    shifted.observe([x * 1.3, np.full_like(classes, "class_0")])
    features = shifted.report()["features"]
    assert features["species"]["status"] == "significant" and features["features[0]"]["psi"] > 0.25
    images = build_profile([DIGITS.images[:, :, :, None]], [{"name": "image", "dtype": "float32",
                                                            "shape": [None, 8, 8, 1]}])
    assert set(images["features"]) == {"image:mean", "image:std"}  # wide inputs: summaries
    assert psi(np.array([0.5, 0.5]), np.array([50, 50])) == pytest.approx(0.0)


@pytest.mark.parametrize("value", ["²", "١", "-1", "3", "1.0", ""])
def test_a_class_id_is_a_name_or_ascii_digits_within_the_classes(value):
    """Other scripts' digits pass `str.isdigit` but not `int` (once an internal error); each of
    these is refused in one line naming the classes."""
    from zoo.core.errors import DataError
    from zoo.serving.inputs import class_id

    classes = ["setosa", "versicolor", "virginica"]
    assert class_id("2", classes, "label") == 2 and class_id("setosa", classes, "label") == 0
    with pytest.raises(DataError, match="unknown class .* expected one of setosa, versicolor, virginica"):
        class_id(value, classes, "label")
