"""Heads trained on shared, precomputed backbone features are the heads trained end to end on
the same frozen backbone; features from another backbone are refused."""

from __future__ import annotations

import numpy as np
import pytest

from cxr_gan.data.phantom import draw_phantom
from cxr_gan.models.classifier import train_classifier
from cxr_gan.models.classifier_config import ClassifierConfig
from cxr_gan.models.classifier_input import augmentation_draws, extract_features
from cxr_gan.models.classifier_network import (
    backbone_fingerprint,
    build_classifier,
    feature_extractor,
)
from cxr_gan.models.classifier_predict import predict, predict_from_features
from cxr_gan.models.feature_cache import FeatureCache, FeatureKey

CONFIG = ClassifierConfig(
    backbone="resnet50",
    weights=None,
    input_size=32,
    epochs=3,
    batch_size=8,
    batchnorm_momentum=0.9,
    augmentation="classical",
    augmentation_draws=2,
    validation_fraction=0.0,
)


def _images():
    images = np.stack([draw_phantom(c, i, 5, 32) for c in (0, 1) for i in range(12)])
    return images, np.repeat([0, 1], 12)


def _backbone(seed: int):
    import keras

    keras.utils.set_random_seed(seed)
    return build_classifier(CONFIG, seed)


@pytest.mark.slow
def test_shared_features_give_the_same_model_as_computing_them_inside():
    images, labels = _images()
    is_val = np.zeros(len(labels), bool)
    is_val[[0, 1, 12, 13]] = True
    backbone = _backbone(42)
    extractor = feature_extractor(backbone)
    draws = augmentation_draws(CONFIG)
    shared = {
        "fingerprint": backbone_fingerprint(backbone),
        "train": extract_features(
            extractor, images[~is_val], 42, augmentation="classical", draws=draws
        ),
        "validation": extract_features(extractor, images[is_val], 42)[0],
    }
    runs = [
        train_classifier(
            images,
            labels,
            CONFIG,
            seed=7,
            is_validation=is_val,
            backbone_seed=42,
            augmentation_seed=42,
            features=features,
        )
        for features in (None, shared)
    ]
    (inside, inside_history), (cached, cached_history) = runs
    np.testing.assert_allclose(inside_history["loss"], cached_history["loss"], rtol=1e-5)
    probabilities = predict(inside, images)
    np.testing.assert_allclose(probabilities, predict(cached, images), atol=1e-5)
    test_features = extract_features(extractor, images, 0)[0]
    np.testing.assert_allclose(
        predict_from_features(cached, test_features), probabilities, atol=1e-4
    )
    # another seed shares the backbone (backbone_seed) but trains another head
    other, _ = train_classifier(
        images,
        labels,
        CONFIG,
        seed=8,
        is_validation=is_val,
        backbone_seed=42,
        augmentation_seed=42,
        features=shared,
    )
    assert backbone_fingerprint(other) == shared["fingerprint"]
    assert not np.allclose(predict(other, images), probabilities, atol=1e-4)


@pytest.mark.slow
def test_features_of_another_backbone_are_refused():
    images, labels = _images()
    stranger = _backbone(1)  # another random initialisation
    features = {
        "fingerprint": backbone_fingerprint(stranger),
        "train": extract_features(
            feature_extractor(stranger),
            images,
            42,
            augmentation="classical",
            draws=augmentation_draws(CONFIG),
        ),
    }
    with pytest.raises(ValueError, match="came from another backbone"):
        train_classifier(images, labels, CONFIG, seed=7, backbone_seed=42, features=features)
    assert backbone_fingerprint(_backbone(42)) == backbone_fingerprint(_backbone(42))
    assert backbone_fingerprint(_backbone(42)) != features["fingerprint"]


def test_cache_keys_keep_every_difference_apart():
    cache = FeatureCache("resnet50|weights=random|32px|abc", "abc")
    base = FeatureKey(cache.backbone, "test:40x32x32:1", "full", "none", 0)
    cache.put(base, np.zeros((40, 4)))
    for changed in (
        FeatureKey("resnet50|weights=imagenet|32px|def", base.images, "full", "none", 0),
        FeatureKey(cache.backbone, base.images, "masked(0.70)", "none", 0),
        FeatureKey(cache.backbone, base.images, "full", "classical(seed=42)", 1),
        FeatureKey(cache.backbone, "external:40x32x32:2", "full", "none", 0),
    ):
        assert cache.get(changed) is None
    assert cache.get(base) is not None
    with pytest.raises(ValueError, match="already cached"):
        cache.put(base, np.ones((40, 4)))
    assert cache.stacked([[base, base]]).shape == (1, 80, 4)
    assert cache.stacked([[base, FeatureKey("x", "y", "full", "none", 0)]]) is None
