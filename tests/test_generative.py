"""GAN and VAE end to end on scikit-learn digits: quality improves, PNGs, mirrored, resume."""

from __future__ import annotations

import io
import json

import keras
import numpy as np
import pytest
from conftest import train_interrupted
from omegaconf import OmegaConf
from PIL import Image
from sklearn import datasets
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from zoo_plugins.generative import quality as generative

import zoo
from zoo.core.errors import ZooError
from zoo.data.base import DatasetInfo

QUICK = ["trainer.plots=false", "trainer.tensorboard=false"]
GRID_SIDE = 8 * (8 * 12 + 2) + 2  # 8x8 tiles of 8x8 digits enlarged 12 times (96 pixels), 2 pixels apart


@pytest.fixture(scope="module", autouse=True)
def _classifier_cache(tmp_path_factory):
    """One domain-classifier cache for this module's runs (they share data), none from outside."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZOO_CACHE_DIR", str(tmp_path_factory.mktemp("zoo-cache")))
        yield


def weights_of(model: keras.Model) -> list[np.ndarray]:
    return [np.asarray(w) for w in model.get_weights()]


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("gan") / "run"
    cfg = zoo.compose(["experiment=gan_digits", "trainer.epochs=12", "trainer.plots=false"])
    return cfg, zoo.train(cfg, run_dir)


def frechet_at_initialisation(cfg, run_dir) -> float:
    """The Frechet distance of the same generator before any training step."""
    info = DatasetInfo.load(run_dir / "dataset.json")
    keras.utils.set_random_seed(cfg.trainer.seed)
    untrained = zoo.build_model("dcgan", info=info)
    splits = zoo.load_dataset("digits", seed=cfg.trainer.seed, as_image=True)
    scale = lambda x: (np.asarray(x, np.float32) - info.scaling.offset[0]) / info.scaling.scale[0]  # noqa: E731
    train = scale([x for x, _ in splits.train.as_numpy_iterator()])
    z = np.random.default_rng(1).normal(size=(360, untrained.latent_dim)).astype(np.float32)
    classifier = keras.saving.load_model(run_dir / "domain_classifier.keras")
    embedder = generative.embedder(classifier)
    reference, _ = generative.embed(embedder, train)
    samples, _ = generative.embed(embedder, np.asarray(untrained.generator(z)))
    return generative.frechet_distance(samples, reference)


def test_gan_frechet_distance_falls_well_below_its_initial_value(gan_run):
    cfg, result = gan_run
    test = result.metrics["test"]
    initial = frechet_at_initialisation(cfg, result.run_dir)
    assert test["frechet_distance"] < 0.5 * initial, (test, initial)
    assert test["frechet_distance_real"] < test["frechet_distance"] < test["frechet_distance_noise"]
    assert test["classifier_confidence_real"] > 0.9
    assert result.metrics["headline"] == "frechet_distance"
    saved = json.loads((result.run_dir / "metrics.json").read_text())
    assert saved["test"]["frechet_distance"] == pytest.approx(test["frechet_distance"])


def test_gan_writes_a_grid_per_epoch_and_a_standalone_generator(gan_run):
    _, result = gan_run
    grids = sorted((result.run_dir / "samples").glob("epoch_*.png"))
    assert [g.name for g in grids] == [f"epoch_{e:03d}.png" for e in range(1, 13)]
    with Image.open(grids[-1]) as image:
        assert image.format == "PNG" and image.size == (GRID_SIDE, GRID_SIDE) and image.mode == "L"
        assert np.asarray(image).std() > 10  # not a blank grid
    generator = keras.saving.load_model(result.run_dir / "generator.keras")
    z = np.random.default_rng(0).normal(size=(4, generator.inputs[0].shape[-1])).astype("float32")
    np.testing.assert_allclose(generator(z), result.model.generator(z), atol=1e-5)
    assert np.abs(np.asarray(generator(z))).max() <= 1.0


def test_copies_of_the_training_set_score_worse_than_real_held_out_digits(gan_run):
    """The reference is the validation split, which neither the generator nor the classifier saw:
    the scores' real anchor is the test split against it, and memorising the training set gains nothing."""
    cfg, result = gan_run
    test = result.metrics["test"]
    splits = zoo.load_dataset("digits", seed=cfg.trainer.seed, as_image=True)
    info = DatasetInfo.load(result.run_dir / "dataset.json")
    offset, scale = info.scaling.offset[0], info.scaling.scale[0]
    scaled = {name: (np.stack([x for x, _ in getattr(splits, name).as_numpy_iterator()]).astype(np.float32)
                     - offset) / scale for name in ("train", "validation", "test")}
    copies = scaled["train"][np.random.default_rng(0).choice(len(scaled["train"]), len(scaled["test"]))]
    classifier = keras.saving.load_model(result.run_dir / "domain_classifier.keras")
    scores = generative.quality_metrics(classifier, scaled["validation"], copies, scaled["test"], (-1, 1))
    assert scores["frechet_distance_real"] == pytest.approx(test["frechet_distance_real"], rel=1e-4)
    assert scores["frechet_distance_real"] < scores["frechet_distance"], scores


def test_sample_grids_reach_tensorboard_every_epoch_at_full_size(gan_run):
    import tensorflow as tf

    _, result = gan_run
    with Image.open(result.run_dir / "samples/epoch_012.png") as image:
        assert image.size == (GRID_SIDE, GRID_SIDE)
        on_disk = np.asarray(image)
    board = EventAccumulator(str(result.run_dir / "tensorboard/samples"), size_guidance={"tensors": 0})
    board.Reload()
    events = board.Tensors("samples")
    assert [e.step for e in events] == list(range(12))
    width, height, png = tf.make_ndarray(events[-1].tensor_proto)
    assert (int(width), int(height)) == (GRID_SIDE, GRID_SIDE)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png)).convert("L")), on_disk)


@pytest.fixture(scope="module")
def digit_pngs(tmp_path_factory):
    """scikit-learn's 1,797 digits as a folder of 16x16 grey PNGs, one sub-folder per class
    (enlarged from 8x8 by bilinear resampling, as a user's scans would be at another size)."""
    root = tmp_path_factory.mktemp("digit_pngs")
    data = datasets.load_digits()
    for i, (image, label) in enumerate(zip(data.images, data.target, strict=True)):
        folder = root / f"digit_{label}"
        folder.mkdir(exist_ok=True)
        pixels = Image.fromarray((image * 255 / 16).astype(np.uint8), mode="L")
        pixels.resize((16, 16), Image.BILINEAR).save(folder / f"{i:04d}.png")
    return root


def test_dcgan_on_an_image_folder_draws_diverse_samples_near_real_images(digit_pngs, tmp_path):
    """The model's defaults on a user's image folder (issue 21: the discriminator won by epoch 3
    and every sample was one pattern). Samples sit far nearer the real images than noise does
    (before: 0.26 of the noise distance), spread almost as widely as real images and are read as
    most of the ten digits (before: 5)."""
    cfg = zoo.compose(["model=dcgan", "dataset=image_folder", f"dataset.path={digit_pngs}",
                       "dataset.image_size=[16,16]", "dataset.color_mode=grayscale", "trainer.epochs=6",
                       *QUICK])
    test = zoo.train(cfg, tmp_path / "run").metrics["test"]
    assert test["frechet_distance_real"] < test["frechet_distance"], test
    assert test["frechet_distance"] < 0.15 * test["frechet_distance_noise"], test
    assert test["diversity"] > 0.6 * test["diversity_real"], test
    assert test["distinct_classes"] >= 8 and test["class_score"] > 1.5 * test["class_score_noise"], test


def test_vae_test_elbo_improves_and_scores_a_held_out_class(tmp_path):
    cfg = zoo.compose(["experiment=vae_digits", "trainer.epochs=10", "trainer.batch_size=16",
                       "model.kl_warmup_epochs=2", "model.holdout_class=0", "trainer.plots=false"])
    result = zoo.train(cfg, tmp_path / "run")
    info = DatasetInfo.load(tmp_path / "run/dataset.json")
    keras.utils.set_random_seed(cfg.trainer.seed)
    params = {k: v for k, v in OmegaConf.to_container(cfg.model).items() if k != "name"}
    untrained = zoo.build_model("vae", info=info, **params)
    splits = zoo.load_dataset("digits", seed=cfg.trainer.seed, as_image=True)
    x = np.stack([x for x, _ in splits.test.as_numpy_iterator()]).astype(np.float32)
    nll, kl = untrained.per_example((x - info.scaling.offset[0]) / info.scaling.scale[0], 0, training=False)
    initial_elbo = -float(np.mean(nll + kl))
    test = result.metrics["test"]
    assert test["elbo"] > initial_elbo + 5.0, (test["elbo"], initial_elbo)
    assert test["anomaly_auc"] > 0.6
    assert test["reconstruction_error_p50"] <= test["reconstruction_error_p90"]
    assert test["frechet_distance_real"] < test["frechet_distance"] < test["frechet_distance_noise"]
    samples = tmp_path / "run/samples"
    with Image.open(samples / "epoch_010_reconstructions.png") as image:
        assert image.format == "PNG" and image.size == (GRID_SIDE, GRID_SIDE)
    with Image.open(samples / "interpolation.png") as image:
        assert image.size == (GRID_SIDE, 4 * (8 * 12 + 2) + 2)
    board = EventAccumulator(str(tmp_path / "run/tensorboard/samples"), size_guidance={"tensors": 0})
    board.Reload()
    assert {"samples/reconstructions", "samples/samples"} <= set(board.Tags()["tensors"])
    assert len(board.Tensors("samples/samples")) == 10
    decoder = keras.saving.load_model(tmp_path / "run/decoder.keras")
    z = np.zeros((2, decoder.inputs[0].shape[-1]), "float32")
    np.testing.assert_allclose(decoder(z), result.model.decoder(z), atol=1e-6)


def test_mirrored_gan_matches_one_device_of_the_same_global_batch(tmp_path):
    common = ["experiment=gan_digits", "trainer.epochs=1", "trainer.steps_per_epoch=6", *QUICK]
    one = zoo.train(zoo.compose([*common, "strategy=one_device", "trainer.batch_size=32"]),
                    tmp_path / "one")
    two = zoo.train(zoo.compose([*common, "strategy=mirrored", "strategy.cpu_devices=2",
                                 "trainer.batch_size=16"]), tmp_path / "two")
    assert two.metrics["replicas"] == 2 and "global batch 32" in (tmp_path / "two/train.log").read_text()
    # Summation order differs (two half-batch sums vs one), and Adam's normalised steps can
    # amplify that float noise on near-zero gradients up to about one step (lr = 1e-3).
    diffs = [np.abs(a - b) for a, b in zip(weights_of(one.model.generator),
                                           weights_of(two.model.generator), strict=True)]
    assert max(d.max() for d in diffs) < 1e-3
    assert np.mean(np.concatenate([d.ravel() for d in diffs])) < 1e-5
    assert one.metrics["train"]["d_loss"] == pytest.approx(two.metrics["train"]["d_loss"], abs=1e-3)


def test_resumed_gan_restores_both_optimizers_and_the_epoch(tmp_path, monkeypatch):
    overrides = ["experiment=gan_digits", "trainer.epochs=2", "trainer.steps_per_epoch=4",
                 "trainer.loss=wgan_gp", *QUICK]
    whole = zoo.train(zoo.compose(overrides), tmp_path / "whole")
    train_interrupted(zoo.compose(overrides), tmp_path / "resumed", monkeypatch)
    resumed = zoo.train(zoo.compose(overrides), tmp_path / "resumed")
    assert "resumed from epoch 1" in (tmp_path / "resumed/train.log").read_text()
    assert int(resumed.model.d_optimizer.iterations) == int(whole.model.d_optimizer.iterations) == 8
    for a, b in zip(whole.model.d_optimizer.variables, resumed.model.d_optimizer.variables, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
    for a, b in zip(weights_of(whole.model), weights_of(resumed.model), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("name", ["gan_bce", "hinge", "wgan_gp"])
def test_adversarial_losses_reward_the_right_side(name):
    loss = zoo.core.registry.get_registry().loss(name).build(None)
    confident_real, confident_fake = np.array([4.0, 3.0], "float32"), np.array([-4.0, -3.0], "float32")
    good = np.mean(loss.discriminator(confident_real, confident_fake))
    bad = np.mean(loss.discriminator(confident_fake, confident_real))
    assert np.isfinite(good) and good < bad
    assert np.mean(loss.generator(confident_real)) < np.mean(loss.generator(confident_fake))


def test_frechet_distance_is_zero_for_equal_sets_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 4))
    assert generative.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert generative.frechet_distance(a, a + 2.0) == pytest.approx(16.0, rel=1e-3)


def test_bad_generative_configs_fail_with_advice(tmp_path):
    with pytest.raises(ZooError, match="not a generative loss"):
        zoo.train(zoo.compose(["experiment=gan_digits", "trainer.loss=cross_entropy", *QUICK]),
                  tmp_path / "a")
    with pytest.raises(ZooError, match="model=gan_mlp"):
        zoo.build_model("dcgan", input_shape=(5,), num_classes=2)
    with pytest.raises(ZooError, match="holdout_class=12"):
        zoo.train(zoo.compose(["experiment=vae_digits", "model.holdout_class=12", *QUICK]),
                  tmp_path / "b")
