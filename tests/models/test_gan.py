"""Both GAN architectures for real, at 16-32 px: training, saving, resuming, repeatability."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

import cxr_gan.models.gan_trainer as trainer
from cxr_gan.data.phantom import draw_phantom
from cxr_gan.datasets import KerasModelDataset
from cxr_gan.models import gan_checkpoints, gan_monitor
from cxr_gan.models.gan_config import GanConfig
from cxr_gan.models.synthesis import sample_generator

TINY = {"gan_image_size": 16, "base_filters": 8, "batch_size": 8, "epochs": 2}


@pytest.fixture(scope="module")
def phantoms():
    images = np.stack([draw_phantom(label, i, 3, 32) for label in (0, 1) for i in range(12)])
    return images, np.repeat([0, 1], 12)


def _weights(model):
    return [np.asarray(w) for w in model.get_weights()]


@pytest.mark.parametrize("architecture", ["dcgan", "dense"])
def test_architectures_train_save_and_reload(tmp_path, phantoms, architecture):
    config = GanConfig(
        architecture=architecture,
        generator_widths=(32, 32, 32, 32),
        discriminator_widths=(32, 32, 32, 32),
        **TINY,
    )
    run = trainer.train_gan(*phantoms, config, checkpoint_root=None, sample_every=1)
    assert len(run.history) == 2 and np.isfinite(run.history[-1]["g_loss"])
    assert sorted(run.grids) == [1, 2] and run.grids[2].shape == (2 * 16 + 2, 6 * 16 + 10)
    dataset = KerasModelDataset(filepath=str(tmp_path / "generator.keras"))
    dataset.save(run.gan.ema_generator)
    loaded = dataset.load()  # safe_mode: a plain functional model of built-in layers
    assert loaded.source_path.endswith("generator.keras")
    first, _ = sample_generator(run.gan.ema_generator, 1, 3, seed=5)
    again, indices = sample_generator(loaded, 1, 3, seed=5)
    np.testing.assert_array_equal(first, again)
    assert first.shape == (3, 16, 16) and indices.tolist() == [0, 1, 2]


def test_dense_generator_at_the_study_size_has_the_study_parameter_count():
    from cxr_gan.models.gan_networks import build_dense_generator

    generator = build_dense_generator(GanConfig(architecture="dense", gan_image_size=446))
    # ~205.6 M measured for the study's dense generator: the last layer alone is 1024 x 446^2
    assert 200e6 < generator.count_params() < 210e6


def test_dcgan_refuses_sizes_it_cannot_make():
    with pytest.raises(ValidationError, match="power of two"):
        GanConfig(gan_image_size=48)
    GanConfig(architecture="dense", gan_image_size=48)  # dense makes any size


@pytest.mark.slow
def test_same_seed_same_generator_other_seed_differs(phantoms):
    config = GanConfig(**TINY)
    first = trainer.train_gan(*phantoms, config)
    second = trainer.train_gan(*phantoms, config)
    for a, b in zip(
        _weights(first.gan.ema_generator), _weights(second.gan.ema_generator), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    other = trainer.train_gan(*phantoms, config.model_copy(update={"seed": 7}))
    assert not np.array_equal(_weights(first.gan.generator)[0], _weights(other.gan.generator)[0])


class Killed(Exception):
    pass


@pytest.mark.slow
def test_killed_run_resumes_from_its_checkpoint_and_matches_an_uninterrupted_one(
    tmp_path, phantoms, monkeypatch
):
    config = GanConfig(**{**TINY, "epochs": 4})
    settings = {"sample_every": 1, "checkpoint_every": 2}
    uninterrupted = trainer.train_gan(*phantoms, config, tmp_path / "a", **settings)

    save = gan_checkpoints.save_checkpoint

    def save_then_die(*args):
        save(*args)
        raise Killed  # as if the process were killed right after the checkpoint

    monkeypatch.setattr(gan_checkpoints, "save_checkpoint", save_then_die)
    with pytest.raises(Killed):
        trainer.train_gan(*phantoms, config, tmp_path / "b", **settings)
    monkeypatch.setattr(gan_checkpoints, "save_checkpoint", save)
    state_files = list((tmp_path / "b").rglob(gan_checkpoints.STATE_FILE))
    assert len(state_files) == 1 and not list((tmp_path / "b").rglob("*.partial"))

    resumed = trainer.train_gan(*phantoms, config, tmp_path / "b", **settings)
    assert resumed.resumed_from_epoch == 2
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3, 4]
    assert sorted(resumed.grids) == [1, 2, 3, 4]
    for a, b in zip(
        _weights(uninterrupted.gan.ema_generator), _weights(resumed.gan.ema_generator), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    assert state_files[0].exists()  # the final state waits until the results are saved
    gan_checkpoints.discard_checkpoint(state_files[0].parent)
    assert not state_files[0].exists()


def test_changed_parameters_start_afresh(tmp_path, phantoms):
    config = GanConfig(**TINY)
    images, labels = phantoms
    key = trainer.run_key(config, images, labels)
    assert key != trainer.run_key(config.model_copy(update={"learning_rate": 0.01}), images, labels)
    assert key != trainer.run_key(config, images[:-1], labels[:-1])
    assert key == trainer.run_key(GanConfig(**TINY), images.copy(), labels.copy())


def test_epoch_lines_are_throttled_but_first_and_last_always_shown(phantoms, caplog, monkeypatch):
    config = GanConfig(architecture="dcgan", **{**TINY, "epochs": 4})
    monkeypatch.setattr(gan_monitor, "EPOCH_LOG_SECONDS", 3600.0)  # every epoch here is far shorter
    with caplog.at_level("INFO", logger="cxr_gan.models"):
        trainer.train_gan(*phantoms, config, checkpoint_root=None, sample_every=4)
    epochs = [r.getMessage().split(":")[0] for r in caplog.records if "GAN epoch" in r.message]
    assert epochs == ["GAN epoch 1/4", "GAN epoch 4/4"]

    caplog.clear()
    monkeypatch.setattr(gan_monitor, "EPOCH_LOG_SECONDS", 0.0)
    with caplog.at_level("INFO", logger="cxr_gan.models"):
        trainer.train_gan(*phantoms, config, checkpoint_root=None, sample_every=4)
    assert sum("GAN epoch" in r.getMessage() for r in caplog.records) == 4


FEW_SHOT = {
    "loss": "hinge",
    "spectral_norm": True,
    "minibatch_std": True,
    "discriminator_head": "flatten",
    "lecam_weight": 0.1,
    "r1_gamma": 1.0,
    "r1_every": 2,
    "generator_filters": 12,
    "d_learning_rate": 0.0004,
    "mode_seeking_weight": 0.1,
    "imle_weight": 1.0,
    "imle_samples": 2,
    "generator_norm": "none",
}


def test_few_shot_ingredients_train_and_the_generator_still_loads_safely(
    tmp_path, phantoms, caplog
):
    config = GanConfig(**{**TINY, **FEW_SHOT, "epochs": 2})
    with caplog.at_level("INFO", logger="cxr_gan.models"):
        run = trainer.train_gan(*phantoms, config, checkpoint_root=None, sample_every=1)
    lines = [r.getMessage() for r in caplog.records if "GAN diversity at epoch" in r.getMessage()]
    assert len(lines) == 2 and "label 0" in lines[0] and "(real 0." in lines[0]
    assert set(run.real_diversity) == {0, 1}
    records = run.history
    assert all(np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"]) for r in records)
    # lazy R1 ran on some steps (3 steps an epoch, every 2nd step), so the epoch mean is > 0
    assert records[-1]["r1"] > 0
    assert float(run.gan.lecam_real.numpy()) != 0.0  # LeCam's moving averages moved
    assert run.gan.d_optimizer.learning_rate.numpy() == pytest.approx(0.0004)
    layers = [type(layer).__name__ for layer in run.gan.discriminator.layers]
    assert "SpectralNormalization" in layers and "MinibatchStdDev" in layers
    assert "GlobalAveragePooling2D" not in layers  # the flatten head keeps the 4x4 layout
    # per-class diversity lines in the history every sample_every epochs
    assert 0 < records[-1]["ms_ssim_class_0"] <= 1 and 0 < records[-1]["ms_ssim_class_1"] <= 1
    dataset = KerasModelDataset(filepath=str(tmp_path / "generator.keras"))
    dataset.save(run.gan.ema_generator)
    assert dataset.load().output_shape == (None, 16, 16, 1)


def test_minibatch_std_feature_is_the_batch_spread():
    from cxr_gan.models.gan_networks import MinibatchStdDev

    same = np.ones((4, 2, 2, 3), np.float32)
    spread = np.concatenate([same, -same])
    assert np.allclose(np.asarray(MinibatchStdDev()(same))[..., -1], 1e-4, atol=1e-4)
    out = np.asarray(MinibatchStdDev()(spread))
    assert out.shape == (8, 2, 2, 4) and np.allclose(out[..., -1], 1.0, atol=1e-4)


def test_hinge_loss_values():
    gan = trainer.ConditionalGAN(GanConfig(**{**TINY, "loss": "hinge"}))
    real, fake = np.array([2.0, 0.5], np.float32), np.array([-2.0, 0.5], np.float32)
    np.testing.assert_allclose(np.asarray(gan._d_losses(real, fake)), [0.0, 2.0])
    np.testing.assert_allclose(np.asarray(gan._g_losses(fake)), [2.0, -0.5])


def test_training_images_are_resized_once_not_every_batch(phantoms, monkeypatch):
    calls = []
    resize = trainer.resize_for_gan
    monkeypatch.setattr(
        trainer, "resize_for_gan", lambda *a, **k: calls.append(1) or resize(*a, **k)
    )
    converted = []
    to_range = trainer.to_gan_range
    monkeypatch.setattr(
        trainer,
        "to_gan_range",
        lambda images, size: converted.append(images.shape) or to_range(images, size),
    )
    trainer.train_gan(*phantoms, GanConfig(**{**TINY, "epochs": 3}), sample_every=3)
    assert calls == [1]
    assert converted and all(shape[1:] == (16, 16) for shape in converted)  # already GAN size


def test_imle_term_is_the_distance_to_the_nearest_candidate_and_reaches_the_generator():
    import tensorflow as tf

    config = GanConfig(**{**TINY, "imle_weight": 2.0, "imle_samples": 3, "imle_pool": 4})
    gan = trainer.ConditionalGAN(config)
    real = tf.random.uniform((4, 16, 16, 1), -1, 1)
    labels = tf.zeros((4, 1), tf.int32)
    with tf.GradientTape() as tape:
        terms = gan._imle(real, labels)
    assert terms.shape == (4,) and bool(tf.reduce_all(terms > 0))
    gradients = tape.gradient(terms, gan.generator.trainable_weights)  # of their sum
    assert any(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in gradients)
    off = trainer.ConditionalGAN(GanConfig(**TINY))
    assert float(off._imle(real, labels)) == 0.0


def test_mode_seeking_pairs_share_their_class():
    import tensorflow as tf

    gan = trainer.ConditionalGAN(GanConfig(**TINY))
    labels = tf.constant([[0], [1], [1], [0], [1], [0], [0]])
    paired = gan._paired_labels(labels).numpy()[:, 0]
    # pairs (k, k + 3) share their class; the odd one out keeps its own label
    assert paired.tolist() == [0, 1, 1, 0, 1, 1, 0]
    off = trainer.ConditionalGAN(GanConfig(**{**TINY, "mode_seeking_weight": 0.0}))
    assert off._paired_labels(labels).numpy()[:, 0].tolist() == [0, 1, 1, 0, 1, 0, 0]


def test_is_diverse_is_the_training_lines_rule():
    real = {0: 0.44, 1: 0.45}
    assert gan_monitor.is_diverse({0: 0.49, 1: 0.30}, real)  # within real + 0.05
    assert not gan_monitor.is_diverse({0: 0.50, 1: 0.30}, real)  # one class collapsing is enough
    assert not gan_monitor.is_diverse({0: 0.30}, {})  # no reference: never called diverse


def _scripted_diversity(monkeypatch, per_epoch: list[float]) -> None:
    """The training line reads per_epoch[e - 1] for every class at epoch e (a real collapse
    takes minutes of training; the rule that acts on it is what is tested)."""
    calls = iter(value for value in per_epoch for _ in range(2))  # two classes per epoch
    monkeypatch.setattr(gan_monitor, "class_diversity", lambda images: next(calls))


def test_a_run_that_drifts_into_collapse_returns_its_latest_diverse_generator(
    phantoms, monkeypatch, caplog
):
    config = GanConfig(**{**TINY, "epochs": 4})
    at_epoch_2 = trainer.train_gan(*phantoms, GanConfig(**TINY), keep_generator="last")
    _scripted_diversity(monkeypatch, [0.0, 0.0, 1.0, 1.0])  # MS-SSIM 1.0: one image repeated
    with caplog.at_level("WARNING", logger="cxr_gan.models"):
        kept = trainer.train_gan(*phantoms, config, sample_every=1)
    assert kept.kept_epoch == 2
    for a, b in zip(
        _weights(at_epoch_2.gan.ema_generator), _weights(kept.gan.ema_generator), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    assert "keeping the moving-average generator of epoch 2" in caplog.text

    _scripted_diversity(monkeypatch, [0.0, 0.0, 1.0, 1.0])
    last = trainer.train_gan(*phantoms, config, sample_every=1, keep_generator="last")
    assert last.kept_epoch is None
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(
            _weights(at_epoch_2.gan.ema_generator), _weights(last.gan.ema_generator), strict=True
        )
    )


def test_a_run_diverse_at_its_end_keeps_its_last_generator(phantoms, monkeypatch):
    config = GanConfig(**{**TINY, "epochs": 3})
    _scripted_diversity(monkeypatch, [1.0, 0.0, 0.0])
    kept = trainer.train_gan(*phantoms, config, sample_every=1)
    _scripted_diversity(monkeypatch, [1.0, 0.0, 0.0])
    last = trainer.train_gan(*phantoms, config, sample_every=1, keep_generator="last")
    assert kept.kept_epoch == 3
    for a, b in zip(
        _weights(last.gan.ema_generator), _weights(kept.gan.ema_generator), strict=True
    ):
        np.testing.assert_array_equal(a, b)


def test_never_diverse_keeps_the_last_generator_and_says_so(phantoms, monkeypatch, caplog):
    _scripted_diversity(monkeypatch, [1.0, 1.0])
    with caplog.at_level("WARNING", logger="cxr_gan.models"):
        run = trainer.train_gan(*phantoms, GanConfig(**TINY), sample_every=1)
    assert run.kept_epoch is None
    assert "no sampled epoch of the second half of training" in caplog.text


def test_a_run_diverse_only_in_its_first_half_keeps_its_last_generator(
    phantoms, monkeypatch, caplog
):
    # early generators read "diverse" because they are still noise: never fall back to them
    config = GanConfig(**{**TINY, "epochs": 5})
    _scripted_diversity(monkeypatch, [0.0, 0.0, 1.0, 1.0, 1.0])
    with caplog.at_level("WARNING", logger="cxr_gan.models"):
        kept = trainer.train_gan(*phantoms, config, sample_every=1)
    _scripted_diversity(monkeypatch, [0.0, 0.0, 1.0, 1.0, 1.0])
    last = trainer.train_gan(*phantoms, config, sample_every=1, keep_generator="last")
    assert kept.kept_epoch is None and kept.generator_epoch == 5
    for a, b in zip(
        _weights(last.gan.ema_generator), _weights(kept.gan.ema_generator), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    assert "(from epoch 3)" in caplog.text


def test_the_kept_generator_survives_a_checkpoint(tmp_path, phantoms):
    run = trainer.train_gan(*phantoms, GanConfig(**TINY), keep_generator="last")
    run.kept_epoch = 1
    run.kept_weights = [w + 1.0 for w in _weights(run.gan.ema_generator)]
    gan_checkpoints.save_checkpoint(run, tmp_path, 2)
    gan = trainer.ConditionalGAN(GanConfig(**TINY))
    gan.compile()
    gan.build_optimizers()
    fresh = gan_checkpoints.GanRun(gan)
    gan_checkpoints.restore_or_start(fresh, tmp_path)
    assert fresh.kept_epoch == 1 and fresh.resumed_from_epoch == 2
    for a, b in zip(run.kept_weights, fresh.kept_weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_keep_generator_accepts_only_its_two_choices(phantoms):
    from cxr_gan.pipelines.gan_training.params import GanTrainingParams

    with pytest.raises(ValidationError, match="keep_generator"):
        GanTrainingParams(keep_generator="best")
    with pytest.raises(ValueError, match="latest_diverse or last"):
        trainer.train_gan(*phantoms, GanConfig(**TINY), keep_generator="best")


def test_a_run_killed_after_its_final_checkpoint_still_returns_the_kept_generator(
    tmp_path, phantoms, monkeypatch
):
    config = GanConfig(**{**TINY, "epochs": 4})
    at_epoch_2 = trainer.train_gan(*phantoms, GanConfig(**TINY), keep_generator="last")
    _scripted_diversity(monkeypatch, [0.0, 0.0, 1.0, 1.0])
    save = gan_checkpoints.save_checkpoint

    def save_then_die(*args):
        save(*args)
        raise Killed  # killed after the final checkpoint, before the run could finish

    monkeypatch.setattr(gan_checkpoints, "save_checkpoint", save_then_die)
    settings = {"sample_every": 1, "checkpoint_every": 4}
    with pytest.raises(Killed):
        trainer.train_gan(*phantoms, config, tmp_path, **settings)
    monkeypatch.setattr(gan_checkpoints, "save_checkpoint", save)
    resumed = trainer.train_gan(*phantoms, config, tmp_path, **settings)  # nothing left to train
    assert resumed.resumed_from_epoch == 4 and resumed.kept_epoch == 2
    for a, b in zip(
        _weights(at_epoch_2.gan.ema_generator), _weights(resumed.gan.ema_generator), strict=True
    ):
        np.testing.assert_array_equal(a, b)
