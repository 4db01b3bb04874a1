import logging
from pathlib import Path

import keras
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from cxr_gan.models import weights
from cxr_gan.models.classifier import train_classifier
from cxr_gan.models.classifier_config import ClassifierConfig
from cxr_gan.models.classifier_input import extract_features, validation_mask
from cxr_gan.models.classifier_network import HEAD_LAYERS, build_classifier, feature_extractor
from cxr_gan.models.classifier_predict import predict
from cxr_gan.models.gradcam import gradcam_heatmaps
from cxr_gan.models.weights import WeightsUnavailableError

# ResNet50 at 32 px, random weights, tiny head: seconds instead of minutes, same code path
TINY_RESNET = ClassifierConfig(
    backbone="resnet50",
    weights=None,
    input_size=32,
    dense_units=8,
    batch_size=4,
    epochs=2,
    augmentation=None,
    validation_fraction=0,
    feature_batch_size=8,
)
SMALL_CNN = ClassifierConfig(
    backbone="small_cnn",
    input_size=32,
    dense_units=16,
    small_cnn_filters=(8, 16, 32),
    batch_size=16,
    epochs=12,
    learning_rate=0.01,
    momentum=0.9,
    batchnorm_momentum=0.9,
    augmentation=None,
    validation_fraction=0.25,
    log_every_epochs=4,
)


def validated(config: ClassifierConfig, **changes) -> ClassifierConfig:
    """A copy of config with changes, validated like a configured one (pydantic's model copy
    with an update skips validation, so a bad value would pass unnoticed)."""
    return ClassifierConfig(**{**config.model_dump(), **changes})


def toy_xrays(count: int, seed: int, height: int = 32, width: int = 32) -> tuple:
    """Noise images; class 1 is brighter, so any working classifier separates them."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 2
    images = rng.normal(90, 25, (count, height, width)) + 70 * labels[:, None, None]
    return np.clip(images, 0, 255).astype(np.uint8), labels


def test_config_refuses_bad_values_and_unknown_keys():
    config = ClassifierConfig.from_dict({"backbone": "small_cnn", "small_cnn_filters": [4, 8]})
    assert config.small_cnn_filters == (4, 8) and not config.uses_feature_cache
    assert ClassifierConfig().uses_feature_cache  # the study: frozen ResNet50
    assert not validated(ClassifierConfig(), fine_tune_layers=3).uses_feature_cache
    with pytest.raises(ValueError, match="unknown classifier parameter"):
        ClassifierConfig.from_dict({"epoch": 3})
    with pytest.raises(ValueError, match="backbone"):
        ClassifierConfig(backbone="vgg16")
    with pytest.raises(ValueError, match="weights"):
        ClassifierConfig(weights="resnet.pt")
    with pytest.raises(ValueError, match="unknown augmentation"):
        ClassifierConfig(augmentation="wild")


def test_imagenet_weights_offline_raise_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(weights, "RESNET50_WEIGHTS_ORIGIN", "http://127.0.0.1:9/")
    with pytest.raises(WeightsUnavailableError) as raised:
        build_classifier(validated(TINY_RESNET, weights="imagenet"))
    message = str(raised.value)
    expected = (
        tmp_path / "keras" / "models" / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    )
    assert str(expected) in message
    assert "weights: null" in message and "weights: /path/to/local/" in message
    assert not expected.exists()  # no half-downloaded file left behind


def test_missing_local_weights_file_is_named(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        build_classifier(validated(TINY_RESNET, weights=str(tmp_path / "nope.weights.h5")))


def test_local_weights_file_is_loaded_and_random_init_is_frozen(tmp_path):
    reference = keras.applications.ResNet50(
        include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg"
    )
    path = tmp_path / "resnet50_notop.weights.h5"
    reference.save_weights(path)
    loaded = build_classifier(validated(TINY_RESNET, weights=str(path)))
    random = build_classifier(TINY_RESNET, seed=5)
    for name in ("conv1_conv", "conv3_block2_2_conv", "conv5_block3_3_bn"):
        expected = reference.get_layer(name).get_weights()
        for ours, theirs in zip(loaded.get_layer(name).get_weights(), expected, strict=True):
            np.testing.assert_array_equal(ours, theirs)
    assert not np.array_equal(
        random.get_layer("conv1_conv").get_weights()[0],
        reference.get_layer("conv1_conv").get_weights()[0],
    )
    trainable = {weight.path.split("/")[0] for weight in random.trainable_weights}
    assert trainable == set(HEAD_LAYERS) - {"head_dropout"}  # backbone frozen


def test_preprocessing_is_resnets_preprocess_input_on_gray():
    model = build_classifier(TINY_RESNET)
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 1)).astype(np.float32)
    ours = keras.Model(model.input, model.get_layer("resnet50_preprocess").output)(images)
    theirs = keras.applications.resnet50.preprocess_input(np.repeat(images, 3, axis=-1))
    np.testing.assert_allclose(np.asarray(ours), theirs, atol=1e-4)


def test_fine_tune_unfreezes_only_the_last_layers_and_keeps_bn_frozen():
    model = build_classifier(validated(TINY_RESNET, fine_tune_layers=8))
    head = set(HEAD_LAYERS)
    unfrozen = [
        layer.name
        for layer in model.layers
        if layer.trainable and layer.weights and layer.name not in head
    ]
    assert unfrozen == ["conv5_block3_2_conv", "conv5_block3_3_conv"]  # the bn layers are not


def test_feature_cache_trains_the_same_head_as_end_to_end():
    images, labels = toy_xrays(12, seed=0)
    cached, cached_history = train_classifier(images, labels, TINY_RESNET, seed=3)
    direct, direct_history = train_classifier(
        images, labels, validated(TINY_RESNET, feature_cache=False), seed=3
    )
    for name in HEAD_LAYERS:
        pairs = zip(
            cached.get_layer(name).get_weights(), direct.get_layer(name).get_weights(), strict=True
        )
        for ours, theirs in pairs:
            np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(predict(cached, images), predict(direct, images), atol=1e-5)
    np.testing.assert_allclose(cached_history["loss"], direct_history["loss"], rtol=1e-4)
    assert cached_history["loss"][0] != cached_history["loss"][1]  # the head did learn


def test_augmented_feature_draws_are_seeded_and_batch_size_free():
    images, _ = toy_xrays(6, seed=1, height=40, width=36)
    extractor = feature_extractor(build_classifier(TINY_RESNET))
    features = extract_features(
        extractor, images, seed=4, augmentation="strong", draws=(0, 1, 2), batch_size=4
    )
    assert features.shape == (3, 6, 2048)
    plain = extract_features(extractor, images, seed=4, batch_size=5)[0]
    np.testing.assert_allclose(features[0], plain, rtol=1e-4, atol=1e-4)
    assert not np.allclose(features[1], features[0], atol=1e-3)
    assert not np.allclose(features[1], features[2], atol=1e-3)
    again = extract_features(extractor, images, seed=4, augmentation="strong", draws=(1,))
    np.testing.assert_allclose(again[0], features[1], rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_cached_training_with_augmentation_reports_history_and_saves(tmp_path, caplog):
    images, labels = toy_xrays(16, seed=2, height=36, width=36)
    config = validated(
        TINY_RESNET, augmentation="classical", augmentation_draws=2, validation_fraction=0.25
    )
    with caplog.at_level(logging.INFO, logger="cxr_gan.models"):
        model, history = train_classifier(images, labels, config, seed=0)
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == 2 for values in history.values())
    assert "Backbone features: 24/24 images" in caplog.text  # 12 train x 2 draws, then 4 val
    assert "Backbone features: 4/4 images" in caplog.text
    probabilities = predict(model, images)
    assert probabilities.shape == (16,) and ((probabilities >= 0) & (probabilities <= 1)).all()
    path = tmp_path / "classifier.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(predict(loaded, images), probabilities, atol=1e-5)


def test_small_cnn_inference_predictions_separate_the_classes(caplog):
    images, labels = toy_xrays(64, seed=3)
    with caplog.at_level(logging.INFO, logger="cxr_gan.models"):
        model, history = train_classifier(images, labels, SMALL_CNN, seed=1)
    assert "epoch 4/12" in caplog.text and "epoch 12/12" in caplog.text
    assert history["val_accuracy"][-1] >= 0.9
    test_images, test_labels = toy_xrays(40, seed=4)
    probabilities = predict(model, test_images)  # inference mode: BN moving stats, no dropout
    assert probabilities.std() > 0.1
    assert roc_auc_score(test_labels, probabilities) > 0.95
    assert ((probabilities >= 0.5) == test_labels).mean() >= 0.9


@pytest.mark.slow
def test_same_seed_same_model_other_seed_differs(tmp_path):
    images, labels = toy_xrays(32, seed=5)
    config = validated(SMALL_CNN, epochs=2, augmentation="strong")
    first, history = train_classifier(images, labels, config, seed=7)
    second, history_again = train_classifier(images, labels, config, seed=7)
    third, other_history = train_classifier(images, labels, config, seed=8)
    assert history == history_again and history != other_history
    np.testing.assert_array_equal(predict(first, images), predict(second, images))
    first.save(tmp_path / "small_cnn.keras")
    loaded = keras.saving.load_model(tmp_path / "small_cnn.keras", safe_mode=True)
    np.testing.assert_allclose(predict(loaded, images), predict(first, images), atol=1e-6)
    assert gradcam_heatmaps(loaded, images[:2]).shape == (2, 32, 32)  # works after reloading


def test_validation_mask_is_stratified_seeded_and_keeps_groups_together():
    labels = np.array([0] * 30 + [1] * 10)
    mask = validation_mask(labels, 0.2, seed=1)
    assert mask[labels == 0].sum() == 6 and mask[labels == 1].sum() == 2
    np.testing.assert_array_equal(mask, validation_mask(labels, 0.2, seed=1))
    groups = np.arange(40) // 2  # pairs of images of one patient
    grouped = validation_mask(labels, 0.2, seed=1, groups=groups)
    assert all(len(set(grouped[groups == g])) == 1 for g in np.unique(groups))
    assert not validation_mask(labels, 0, seed=1).any()
    with pytest.raises(ValueError, match="no validation"):
        validation_mask(np.array([0] * 10 + [1] * 2), 0.2, seed=0)


def test_training_refuses_one_class_and_bad_shapes():
    images, _ = toy_xrays(8, seed=0)
    with pytest.raises(ValueError, match="both 0 and 1"):
        train_classifier(images, np.zeros(8), SMALL_CNN)
    with pytest.raises(ValueError, match="grayscale"):
        predict(build_classifier(SMALL_CNN), np.zeros((2, 8, 8, 3)))


def test_keras_cache_dir_follows_keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert weights.keras_cache_dir() == Path(tmp_path)
    assert (tmp_path / "models").is_dir()
