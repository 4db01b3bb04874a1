"""Where training runs, on this CPU: the device line of every training node, the warning when a
GPU is asked for and none is visible, mixed precision refused without a GPU and its policy kept
to the training, and GAN and classifier trained for a few steps under mixed_float16 (which runs,
slowly, on a CPU) keeping float32 outputs, unscaled gradients and float32 saved models."""

from __future__ import annotations

import logging

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import cxr_gan.models.gan_trainer as trainer
from cxr_gan.data.phantom import draw_phantom
from cxr_gan.datasets import KerasModelDataset
from cxr_gan.models import gan_checkpoints
from cxr_gan.models.classifier import train_classifier
from cxr_gan.models.classifier_config import ClassifierConfig
from cxr_gan.models.classifier_predict import predict
from cxr_gan.models.device import (
    dtype_policy,
    float32_copy,
    gpu_request,
    mixed_precision_problem,
    start_training,
    training_precision,
)
from cxr_gan.models.distribution_params import DistributionConfigError, DistributionParams
from cxr_gan.models.gan import ConditionalGAN
from cxr_gan.models.gan_config import GanConfig
from cxr_gan.pipelines.classification.nodes import train_and_evaluate
from cxr_gan.pipelines.classification.params import ClassificationParams
from cxr_gan.pipelines.gan_training.nodes import train_conditional_gan
from cxr_gan.pipelines.gan_training.params import GanTrainingParams

pytestmark = pytest.mark.skipif(
    bool(tf.config.list_physical_devices("GPU")), reason="tests the CPU-only behaviour"
)
MIXED = DistributionParams(mixed_precision=True)
DEVICE_LOGGER = "cxr_gan.models.device"


@pytest.fixture(autouse=True)
def _no_cuda_request(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


@pytest.fixture(scope="module")
def phantoms():
    images = np.stack([draw_phantom(label, i, 3, 32) for label in (0, 1) for i in range(8)])
    return images, np.repeat([0, 1], 8)


def _device_lines(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == DEVICE_LOGGER]


def test_the_log_line_names_device_strategy_replicas_and_precision(caplog):
    caplog.set_level(logging.INFO, DEVICE_LOGGER)
    strategy = start_training("gan_training", DistributionParams(), "gan_training.distribution")
    assert strategy is tf.distribute.get_strategy()
    [record] = _device_lines(caplog)
    assert record.levelno == logging.INFO
    assert record.getMessage() == (
        "Device for gan_training: CPU:0 | strategy default, 1 replica | precision float32 | "
        "TensorFlow sees CPU:0 (no GPU)"
    )


def test_a_gpu_asked_for_and_not_visible_is_warned_about(caplog, monkeypatch):
    caplog.set_level(logging.INFO, DEVICE_LOGGER)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    start_training("gan_training", DistributionParams(), "gan_training.distribution")
    [_, warning] = _device_lines(caplog)
    assert warning.levelno == logging.WARNING
    message = warning.getMessage()
    assert message.startswith("CUDA_VISIBLE_DEVICES=0,1 asks for GPUs, but TensorFlow sees none")
    assert "gan_training trains on the CPU" in message and "uv sync --extra gpu" in message
    assert "tf.config.list_physical_devices()" in message and "CXR_GAN_TF_STARTUP_LOG=1" in message

    caplog.clear()  # mirrored: a MirroredStrategy over the one CPU, and the same warning
    mirrored = DistributionParams(strategy="mirrored")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    start_training("classification (experiment real)", mirrored, "classification.distribution")
    [line, warning] = _device_lines(caplog)
    assert "classification (experiment real): CPU:0 | strategy mirrored, 1 replica" in (
        line.getMessage()
    )
    assert warning.getMessage().startswith(
        "classification.distribution.strategy is mirrored asks for GPUs, but TensorFlow sees none"
    )


@pytest.mark.parametrize("hidden", ["", "-1", " -1 "])
def test_gpus_hidden_on_purpose_are_no_request(caplog, monkeypatch, hidden):
    caplog.set_level(logging.INFO, DEVICE_LOGGER)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
    start_training("gan_training", DistributionParams(), "gan_training.distribution")
    assert [record.levelno for record in _device_lines(caplog)] == [logging.INFO]


def test_gpu_request_names_every_reason():
    assert gpu_request("default", "p", {}) == ""
    assert gpu_request("multi_worker", "p", {"CUDA_VISIBLE_DEVICES": "-1"}) == ""
    assert gpu_request("mirrored", "p", {"CUDA_VISIBLE_DEVICES": "2"}) == (
        "p.strategy is mirrored and CUDA_VISIBLE_DEVICES=2"
    )


def test_mixed_precision_is_refused_on_a_cpu_with_a_one_line_message():
    with pytest.raises(DistributionConfigError) as refused:
        start_training("gan_training", MIXED, "gan_training.distribution")
    message = str(refused.value)
    assert message.startswith(
        "gan_training.distribution.mixed_precision: true needs a GPU and TensorFlow sees none"
    )
    assert "set it to false" in message and "uv sync --extra gpu" in message
    assert "\n" not in message
    assert keras.config.dtype_policy().name == "float32"
    # the same check for a preflight, without starting anything
    assert mixed_precision_problem(MIXED, "gan_training.distribution") == message
    assert mixed_precision_problem(DistributionParams(), "gan_training.distribution") is None


def test_both_training_nodes_refuse_before_any_work(caplog):
    caplog.set_level(logging.INFO)
    gan_params = GanTrainingParams(distribution={"mixed_precision": True})
    with pytest.raises(DistributionConfigError, match="gan_training.distribution.mixed_prec"):
        # empty inputs: the refusal comes before the node reads them
        train_conditional_gan({}, pd.DataFrame(), gan_params)
    classification = ClassificationParams(distribution={"mixed_precision": True})
    with pytest.raises(DistributionConfigError, match="classification.distribution.mixed_pre"):
        train_and_evaluate("real", {}, {}, {}, classification)
    assert not caplog.records  # nothing logged, so nothing started
    assert keras.config.dtype_policy().name == "float32"


def test_the_policy_holds_for_the_training_only_and_is_restored_after_errors():
    assert keras.config.dtype_policy().name == "float32"
    with training_precision(DistributionParams()):
        assert keras.config.dtype_policy().name == "float32"
    with training_precision(MIXED):
        assert keras.config.dtype_policy().name == "mixed_float16"
        assert keras.layers.Dense(2).compute_dtype == "float16"
    assert keras.config.dtype_policy().name == "float32"
    with pytest.raises(RuntimeError, match="failed"), training_precision(MIXED):
        raise RuntimeError("training failed")
    assert keras.config.dtype_policy().name == "float32"
    with dtype_policy("bfloat16"):  # whatever was set before comes back, not float32
        with training_precision(MIXED):
            assert keras.config.dtype_policy().name == "mixed_float16"
        assert keras.config.dtype_policy().name == "bfloat16"
    assert keras.config.dtype_policy().name == "float32"


def _one_sgd_step(config: GanConfig, images, labels, policy: str | None):
    """Weight changes of one train_step with SGD (changes proportional to the gradients, so a
    loss scale that is not undone would show as a factor of 2**15)."""
    keras.utils.set_random_seed(1)
    with dtype_policy(policy):
        gan = ConditionalGAN(config)
        gan.compile(d_optimizer=keras.optimizers.SGD(0.1), g_optimizer=keras.optimizers.SGD(0.1))
        gan.build_optimizers()
        models = (gan.discriminator, gan.generator)
        before = [[np.asarray(w) for w in model.trainable_weights] for model in models]
        logs = gan.train_step((tf.constant(images), tf.constant(labels)))
        changes = [
            [np.asarray(w) - b for w, b in zip(model.trainable_weights, old, strict=True)]
            for model, old in zip(models, before, strict=True)
        ]
    return gan, logs, changes


def test_gan_under_mixed_precision_keeps_float32_outputs_and_unscaled_gradients(tmp_path):
    # a generator as narrow as the discriminator (8): one step's float16 rounding stays well
    # inside the 10% tolerance below (at the default width 32 a few weights' changes exceed it)
    config = GanConfig(
        gan_image_size=16,
        base_filters=8,
        generator_filters=None,
        batch_size=8,
        diffaugment=False,
        r1_gamma=100.0,
    )
    config = config.model_copy(update={"r1_every": 1})  # the R1 step runs too
    images = np.random.default_rng(0).uniform(-1, 1, (8, 16, 16, 1)).astype(np.float32)
    labels = np.tile(np.array([0, 1], np.int32), 4)
    _, logs32, changes32 = _one_sgd_step(config, images, labels, None)
    gan, logs16, changes16 = _one_sgd_step(config, images, labels, "mixed_float16")
    assert keras.config.dtype_policy().name == "float32"
    assert isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer)
    assert any(layer.compute_dtype == "float16" for layer in gan.generator.layers)
    for model in (gan.generator, gan.discriminator, gan.ema_generator):
        assert model.output.dtype == "float32"
    assert logs16["r1"] > 0 and all(np.isfinite(float(v)) for v in logs16.values())
    np.testing.assert_allclose(float(logs16["d_loss"]), float(logs32["d_loss"]), rtol=1e-2)
    for ours, reference in zip(changes16, changes32, strict=True):
        for change16, change32 in zip(ours, reference, strict=True):
            scale = np.abs(change32).max()
            assert scale > 0
            np.testing.assert_allclose(change16, change32, atol=0.1 * scale)

    # the generator that leaves training computes in float32, gives the same images, and loads
    generator = float32_copy(gan.ema_generator)
    assert {layer.dtype_policy.name for layer in generator.layers} == {"float32"}
    latent = np.random.default_rng(1).normal(size=(4, config.latent_dim)).astype(np.float32)
    sample_labels = np.array([[0], [1], [0], [1]], np.int32)
    expected = np.asarray(gan.ema_generator([latent, sample_labels], training=False))
    copied = np.asarray(generator([latent, sample_labels], training=False))
    np.testing.assert_allclose(copied, expected, atol=5e-3)
    dataset = KerasModelDataset(filepath=str(tmp_path / "generator.keras"))
    dataset.save(generator)
    loaded = dataset.load()
    assert {layer.dtype_policy.name for layer in loaded.layers} == {"float32"}
    np.testing.assert_allclose(np.asarray(loaded([latent, sample_labels])), copied, atol=1e-6)
    # a float32 model is returned as it is
    assert float32_copy(generator) is generator


def test_classifier_under_mixed_precision_trains_and_leaves_as_float32(phantoms):
    images, labels = phantoms
    config = ClassifierConfig(
        backbone="small_cnn",
        weights=None,
        input_size=16,
        small_cnn_filters=(4, 8),
        dense_units=8,
        epochs=2,
        batch_size=8,
        augmentation=None,
        batchnorm_momentum=0.5,
    )
    with training_precision(MIXED):
        model, history = train_classifier(images, labels, config, seed=3)
    assert keras.config.dtype_policy().name == "float32"
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    assert all(np.isfinite(history["loss"])) and len(history["loss"]) == 2
    probabilities = predict(model, images)
    assert probabilities.dtype == np.float32 and probabilities.shape == (16,)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    assert model.optimizer is not None  # compiled, as a float32-trained model is


def test_the_gan_node_logs_its_device_first(phantoms, caplog):
    images, labels = phantoms
    ids = np.array([f"x{i}" for i in range(len(labels))])
    arrays = {"images": images, "labels": labels, "ids": ids}
    split = pd.DataFrame({"id": ids, "label": labels, "role": "train"})
    params = GanTrainingParams(
        gan_image_size=16, base_filters=8, batch_size=8, epochs=1, checkpoint_dir=None
    )
    caplog.set_level(logging.INFO)
    generator, history, _ = train_conditional_gan(arrays, split, params)
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0].startswith("Device for gan_training: CPU:0 | strategy default, 1 replica")
    assert generator.output.dtype == "float32" and len(history["epochs"]) == 1


class _Killed(Exception):
    pass


@pytest.mark.slow
def test_a_float32_checkpoint_resumes_under_mixed_precision(tmp_path, phantoms, monkeypatch):
    """The loss scale is not part of a checkpoint, so a run can change precision on resume."""
    config = GanConfig(gan_image_size=16, base_filters=8, batch_size=8, epochs=2)
    save = gan_checkpoints.save_checkpoint

    def save_then_die(*args):
        save(*args)
        raise _Killed

    monkeypatch.setattr(gan_checkpoints, "save_checkpoint", save_then_die)
    with pytest.raises(_Killed):
        trainer.train_gan(*phantoms, config, tmp_path, sample_every=1, checkpoint_every=1)
    monkeypatch.setattr(gan_checkpoints, "save_checkpoint", save)
    with training_precision(MIXED):
        resumed = trainer.train_gan(*phantoms, config, tmp_path, sample_every=1)
    assert isinstance(resumed.gan.g_optimizer, keras.optimizers.LossScaleOptimizer)
    assert resumed.resumed_from_epoch == 1
    assert [record["epoch"] for record in resumed.history] == [1, 2]
    assert np.isfinite(resumed.history[-1]["g_loss"])
