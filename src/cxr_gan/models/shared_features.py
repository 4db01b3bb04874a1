"""Frozen-backbone features every experiment shares: each distinct input the experiments need
(training parts and their augmented draws, validation, test, external; borders-only for the
probe) computed once (compute_shared_features), and one experiment's features read back
(features_for). The keys are models.feature_cache's.

Plain module (no Kedro); TensorFlow is imported when features are computed, not at import.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from cxr_gan.data.experiments import ImageSubset
from cxr_gan.models.classifier_config import ClassifierConfig
from cxr_gan.models.experiments import ExperimentPlan
from cxr_gan.models.feature_cache import (
    FeatureCache,
    FeatureKey,
    augmentation_name,
    backbone_identity,
    images_identity,
    view_name,
)

logger = logging.getLogger(__name__)


def feature_keys(
    cache: FeatureCache,
    name: str,
    subset: ImageSubset,
    plan: ExperimentPlan,
    preset: str | None,
    draws: tuple[int, ...],
    pool_seed: int,
) -> list[FeatureKey]:
    """One key per draw for one input as one experiment sees it (see models.feature_cache)."""
    images = images_identity(name, subset.ids.tolist(), tuple(subset.images.shape))
    view = view_name(plan.view_fraction)
    return [
        FeatureKey(cache.backbone, images, view, augmentation_name(preset, pool_seed, d), d)
        for d in draws
    ]


def no_shared_features(config: ClassifierConfig) -> FeatureCache | None:
    """An empty cache saying why, when the configured backbone is not a frozen ResNet50
    (small_cnn, fine_tune_layers > 0, feature_cache: false); None when features apply."""
    if config.uses_feature_cache:
        return None
    reason = (
        f"no shared backbone features: the {config.backbone} backbone "
        + ("trains end to end" if config.backbone != "resnet50" else "is not frozen")
        + " (feature_cache needs a frozen ResNet50)"
    )
    logger.info("Classification: %s", reason)
    return FeatureCache(reason=reason)


def compute_shared_features(
    plans: list[ExperimentPlan], config: ClassifierConfig, seed: int, n_seeds: int
) -> FeatureCache:
    """Features of every distinct input of every plan, computed once through the configured
    frozen backbone. A random backbone (weights: null) is initialised with `seed` (the first
    seed), which also seeds the augmented draws. n_seeds is only logged."""
    import keras  # TensorFlow: imported when features are computed, not at start-up

    from cxr_gan.models.classifier_input import augmentation_draws, extract_features
    from cxr_gan.models.classifier_network import (
        backbone_fingerprint,
        build_classifier,
        feature_extractor,
    )

    started = time.perf_counter()
    keras.utils.set_random_seed(seed)
    model = build_classifier(config, seed)
    fingerprint = backbone_fingerprint(model)
    cache = FeatureCache(
        backbone_identity(config.backbone, config.weights, config.input_size, fingerprint),
        fingerprint,
    )
    requests: dict[tuple[str, str, str | None], dict[str, Any]] = {}

    def want(name: str, subset: ImageSubset, plan: ExperimentPlan, preset, draws) -> None:
        key = feature_keys(cache, name, subset, plan, preset, draws, seed)[0]
        entry = requests.setdefault(
            (key.images, key.view, preset),
            {"name": name, "subset": subset, "plan": plan, "draws": set()},
        )
        entry["draws"].update(draws)

    for plan in plans:
        for name, subset in [*plan.images.pretraining, *plan.images.parts]:
            want(name, subset, plan, plan.preset, augmentation_draws(plan.config))
        for name, subset in plan.images.seen().items():
            if subset is not None and len(subset):
                want(name, subset, plan, None, (0,))
    extractor = feature_extractor(model)
    for (_, view, preset), entry in requests.items():
        draws = tuple(sorted(entry["draws"]))
        logger.info(
            "Backbone features of %s (%d images, %s view, draws %s)",
            entry["name"],
            len(entry["subset"]),
            view,
            ", ".join(map(str, draws)),
        )
        features = extract_features(
            extractor,
            entry["subset"].images,
            seed,
            augmentation=preset,
            draws=draws,
            batch_size=config.feature_batch_size,
        )
        cache.computed_images += len(draws) * len(entry["subset"])
        keys = feature_keys(
            cache, entry["name"], entry["subset"], entry["plan"], preset, draws, seed
        )
        for index, key in enumerate(keys):
            cache.put(key, features[index])
    cache.seconds = time.perf_counter() - started
    logger.info(
        "Backbone features: %d images and augmented copies computed once in %.0f s (%d inputs), "
        "shared by %d experiments x %d seeds",
        cache.computed_images,
        cache.seconds,
        len(requests),
        len(plans),
        n_seeds,
    )
    return cache


def features_for(
    cache: FeatureCache | None, plan: ExperimentPlan, pool_seed: int
) -> dict[str, Any] | None:
    """The plan's features from the shared cache ({"fingerprint", "train", "validation",
    "test", "external", "pretraining"}), or None when the cache does not hold every one of them
    for exactly this backbone, view and augmentation. "train" and "pretraining" (None when the
    plan has no pre-training parts) are float32 (draws, n, d) in the order of the parts'
    images."""
    config = plan.config
    if cache is None or not len(cache) or not config.uses_feature_cache:
        return None
    expected = backbone_identity(
        config.backbone, config.weights, config.input_size, cache.fingerprint
    )
    if expected != cache.backbone:
        return None
    from cxr_gan.models.classifier_input import augmentation_draws  # TensorFlow

    draws = augmentation_draws(config)
    part_keys = [
        feature_keys(cache, name, subset, plan, plan.preset, draws, pool_seed)
        for name, subset in plan.images.parts
    ]
    train = cache.stacked([[keys[d] for keys in part_keys] for d in range(len(draws))])
    found: dict[str, Any] = {"fingerprint": cache.fingerprint, "train": train, "pretraining": None}
    if plan.images.pretraining:
        pretraining_keys = [
            feature_keys(cache, name, subset, plan, plan.preset, draws, pool_seed)
            for name, subset in plan.images.pretraining
        ]
        found["pretraining"] = cache.stacked(
            [[keys[d] for keys in pretraining_keys] for d in range(len(draws))]
        )
        if found["pretraining"] is None:
            return None
    for name, subset in plan.images.seen().items():
        if subset is None or not len(subset):
            found[name] = None
            continue
        key = feature_keys(cache, name, subset, plan, None, (0,), pool_seed)[0]
        found[name] = cache.get(key)
        if found[name] is None:
            return None
    return None if train is None else found
