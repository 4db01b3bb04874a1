"""Nodes of classification: assemble each experiment's data, train over seeds, evaluate, compare."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cxr_gan.data.annotations import read_source_column
from cxr_gan.data.experiments import (
    ImageSubset,
    as_seen_by,
    joined_parts,
    match_resolution,
    resolution_plan,
    split_real_images,
    synthetic_generator_size,
    training_parts,
)
from cxr_gan.data.ingest import OK, ingest_collection
from cxr_gan.data.lazy_rows import LazyRows
from cxr_gan.data.sources import RawXrayCollection
from cxr_gan.metrics.classification import (
    classification_metrics,
    compare_auc,
    roc_curve_points,
    summarize_seeds,
)
from cxr_gan.metrics.shortcuts import (
    per_source_metrics,
    probe_reading,
    shortcut_warning,
    source_gap_sentence,
    source_matched_auc,
    sources_confounded,
)
from cxr_gan.models import KerasModel
from cxr_gan.models.classifier_config import ClassifierConfig
from cxr_gan.models.feature_cache import (
    FeatureCache,
    FeatureKey,
    augmentation_name,
    backbone_identity,
    images_identity,
    view_name,
)
from cxr_gan.pipelines.classification.params import SHORTCUT_PROBE, ClassificationParams
from cxr_gan.pipelines.data_processing.params import DataProcessingParams
from cxr_gan.reporting.classification_figures import (
    METRICS,
    plot_comparison,
    plot_roc,
    plot_training_curves,
)

logger = logging.getLogger(__name__)
BASELINE, CANDIDATE = "real", "real_plus_synthetic"
SOURCE_CONFOUND = (
    "Every image source in the test set holds one class only: disease and source cannot be told "
    "apart here, so no metric in this report can show that a model detects disease rather than "
    "the archive an image came from."
)


def prepare_classification_data(
    xray_arrays: dict[str, np.ndarray],
    xray_split: pd.DataFrame,
    raw_manifest: pd.DataFrame,
    params: ClassificationParams,
    synthetic_xrays: dict[str, Any] | None = None,
    synthetic_balanced_xrays: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Real train / validation / test images shared by every experiment, and each test image's
    source (params.source_column of the raw manifest) when the manifest has one.

    When the synthetic sets' generator works below the classifier's input size and
    params.match_synthetic_resolution is on, every real image is read through the GAN's size and
    back (match_resolution), as the synthetic ones are; data["resolution"] says what was done.
    """
    data = split_real_images(xray_arrays, xray_split, params.validation_fraction, params.seeds[0])
    data["resolution"] = resolution_plan(
        params.match_synthetic_resolution,
        synthetic_generator_size(synthetic_xrays, synthetic_balanced_xrays),
        int(data["test"].images.shape[1]),
        params.input_size,
    )
    if data["resolution"]["matched"]:
        for part in ("train", "validation", "test"):
            images = match_resolution(data[part].images, data["resolution"]["generator_size"])
            data[part] = dataclasses.replace(data[part], images=images)
    logger.info(data["resolution"]["sentence"])
    column = params.source_column
    if column and column in raw_manifest.columns:
        source_of = dict(zip(raw_manifest["id"], raw_manifest[column].astype(str), strict=True))
        data["test_sources"] = np.array(
            [source_of.get(i, "") or "unknown" for i in data["test"].ids]
        )
    else:
        data["test_sources"] = None
        if column:
            logger.info(
                "The raw manifest has no column '%s' (classification.source_column): "
                "per-source metrics skipped; add it to the patient CSV to get them",
                column,
            )
    logger.info(
        "Classification data: %d real training, %d validation, %d test images",
        len(data["train"]),
        len(data["validation"]),
        len(data["test"]),
    )
    return data


def experiment_names(params: ClassificationParams) -> list[str]:
    """The experiments a run trains: params.experiments, then the shortcut probe unless off."""
    return [*params.experiments, *([SHORTCUT_PROBE] if params.shortcut_probe else [])]


def _external_subset(external_data: dict[str, Any]) -> ImageSubset | None:
    if not external_data:
        return None
    labels = external_data["labels"]
    return ImageSubset(
        external_data["images"], labels, external_data["ids"], np.zeros(len(labels), bool)
    )


def _experiment_inputs(
    experiment: str,
    classification_data: dict[str, Any],
    synthetic_xrays: dict[str, Any],
    synthetic_balanced_xrays: dict[str, Any],
    external_data: dict[str, Any],
    params: ClassificationParams,
) -> tuple[list[tuple[str, ImageSubset]], ClassifierConfig, dict[str, ImageSubset | None]]:
    """(training parts, the experiment's classifier config, {validation, test, external} as the
    experiment sees them)."""
    parts, augmentation = training_parts(
        experiment,
        classification_data,
        synthetic_xrays,
        synthetic_balanced_xrays,
        params.mask_fraction,
    )
    config = params.classifier_config(**({"augmentation": augmentation} if augmentation else {}))
    external = _external_subset(external_data)
    seen = {
        "validation": as_seen_by(
            experiment, classification_data["validation"], params.mask_fraction
        ),
        "test": as_seen_by(experiment, classification_data["test"], params.mask_fraction),
        "external": None
        if external is None
        else as_seen_by(experiment, external, params.mask_fraction),
    }
    return parts, config, seen


def _keys(
    cache: FeatureCache,
    name: str,
    subset: ImageSubset,
    experiment: str,
    params: ClassificationParams,
    preset: str | None,
    draws: tuple[int, ...],
) -> list[FeatureKey]:
    """One key per draw for one input as one experiment sees it (see models.feature_cache)."""
    view = view_name(params.mask_fraction if experiment == SHORTCUT_PROBE else None)
    images = images_identity(name, subset.ids.tolist(), tuple(subset.images.shape))
    pool_seed = params.seeds[0]
    return [
        FeatureKey(cache.backbone, images, view, augmentation_name(preset, pool_seed, d), d)
        for d in draws
    ]


def _preset(config: ClassifierConfig) -> str | None:
    return config.augmentation if config.augmentation_params is not None else None


def compute_backbone_features(
    classification_data: dict[str, Any],
    synthetic_xrays: dict[str, Any],
    synthetic_balanced_xrays: dict[str, Any],
    external_data: dict[str, Any],
    params: ClassificationParams,
) -> FeatureCache:
    """Frozen-backbone features of every distinct input every experiment needs (training parts
    and their augmented draws, validation, test, external; borders-only for the probe), computed
    once and shared by all experiments and seeds (models.feature_cache). An empty cache, with
    the reason, when the backbone is not frozen (small_cnn, fine_tune_layers > 0,
    feature_cache: false). A random backbone (weights: null) is initialised with the first seed."""
    config = params.classifier_config()
    if not config.uses_feature_cache:
        reason = (
            f"no shared backbone features: the {config.backbone} backbone "
            + ("trains end to end" if config.backbone != "resnet50" else "is not frozen")
            + " (feature_cache needs a frozen ResNet50)"
        )
        logger.info("Classification: %s", reason)
        return FeatureCache(reason=reason)
    import keras  # TensorFlow: imported when features are computed, not at start-up

    from cxr_gan.models.classifier_input import augmentation_draws, extract_features
    from cxr_gan.models.classifier_network import (
        backbone_fingerprint,
        build_classifier,
        feature_extractor,
    )

    started = time.perf_counter()
    backbone_seed = params.seeds[0]
    keras.utils.set_random_seed(backbone_seed)
    model = build_classifier(config, backbone_seed)
    fingerprint = backbone_fingerprint(model)
    cache = FeatureCache(
        backbone_identity(config.backbone, config.weights, config.input_size, fingerprint),
        fingerprint,
    )
    requests: dict[tuple[str, str, str | None], dict[str, Any]] = {}

    def want(name: str, subset: ImageSubset, experiment: str, preset, draws) -> None:
        key = _keys(cache, name, subset, experiment, params, preset, draws)[0]
        entry = requests.setdefault(
            (key.images, key.view, preset),
            {"name": name, "subset": subset, "experiment": experiment, "draws": set()},
        )
        entry["draws"].update(draws)

    for experiment in experiment_names(params):
        parts, exp_config, seen = _experiment_inputs(
            experiment,
            classification_data,
            synthetic_xrays,
            synthetic_balanced_xrays,
            external_data,
            params,
        )
        for name, subset in parts:
            want(name, subset, experiment, _preset(exp_config), augmentation_draws(exp_config))
        for name, subset in seen.items():
            if subset is not None and len(subset):
                want(name, subset, experiment, None, (0,))
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
            backbone_seed,
            augmentation=preset,
            draws=draws,
            batch_size=config.feature_batch_size,
        )
        cache.computed_images += len(draws) * len(entry["subset"])
        keys = _keys(
            cache, entry["name"], entry["subset"], entry["experiment"], params, preset, draws
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
        len(experiment_names(params)),
        len(params.seeds),
    )
    return cache


def _cached_for_experiment(
    cache: FeatureCache | None,
    experiment: str,
    parts: list[tuple[str, ImageSubset]],
    config: ClassifierConfig,
    seen: dict[str, ImageSubset | None],
    params: ClassificationParams,
) -> dict[str, Any] | None:
    """The experiment's features from the shared cache ({"fingerprint", "train", "validation",
    "test", "external"}), or None when the cache does not hold every one of them for exactly
    this backbone, view and augmentation."""
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
        _keys(cache, name, subset, experiment, params, _preset(config), draws)
        for name, subset in parts
    ]
    train = cache.stacked([[keys[d] for keys in part_keys] for d in range(len(draws))])
    found: dict[str, Any] = {"fingerprint": cache.fingerprint, "train": train}
    for name, subset in seen.items():
        if subset is None or not len(subset):
            found[name] = None
            continue
        found[name] = cache.get(_keys(cache, name, subset, experiment, params, None, (0,))[0])
        if found[name] is None:
            return None
    return None if train is None else found


def _scored(
    model: KerasModel, cached: dict[str, Any] | None, subset: ImageSubset | None, part: str
) -> np.ndarray | None:
    """p(covid) of a test part: from the cached features when there are, else from images."""
    if subset is None or not len(subset):
        return None
    from cxr_gan.models.classifier_predict import predict, predict_from_features  # TensorFlow

    if cached is not None:
        return predict_from_features(model, cached[part])
    return predict(model, subset.images)


def train_and_evaluate(
    experiment: str,
    classification_data: dict[str, Any],
    synthetic_xrays: dict[str, Any],
    synthetic_balanced_xrays: dict[str, Any],
    params: ClassificationParams,
    external_data: dict[str, Any] | None = None,
    backbone_features: FeatureCache | None = None,
) -> tuple[KerasModel, list[dict[str, Any]], dict[str, Any]]:
    """Train the experiment once per seed; evaluate every model on the real test split and,
    when there is one, the external folder.

    With a frozen backbone, the heads train on and predict from the shared backbone features
    (compute_backbone_features; a random backbone and the augmented copies follow the first
    seed), so a seed costs only its head. Returns the first seed's model, the histories, and the
    evaluation (metrics with 95% bootstrap intervals per seed, their mean and std across seeds,
    every seed's test and external probabilities per image).
    Logs the device, strategy and precision first (cxr_gan.models.device.start_training);
    raises DistributionConfigError when classification.distribution asks for mixed precision
    and TensorFlow sees no GPU.
    """
    from cxr_gan.models.classifier import train_classifier  # TensorFlow
    from cxr_gan.models.device import start_training, training_precision

    strategy = start_training(
        f"classification (experiment {experiment})",
        params.distribution,
        "classification.distribution",
    )
    external_data = external_data or {}
    parts, config, seen = _experiment_inputs(
        experiment,
        classification_data,
        synthetic_xrays,
        synthetic_balanced_xrays,
        external_data,
        params,
    )
    train = joined_parts(parts, classification_data)  # the parts once, not built again
    validation, test, external = seen["validation"], seen["test"], seen["external"]
    images = LazyRows.concatenate(train.images, validation.images)  # read batch by batch
    labels = np.concatenate([train.labels, validation.labels])
    is_validation = np.r_[np.zeros(len(train), bool), np.ones(len(validation), bool)]
    cached = _cached_for_experiment(backbone_features, experiment, parts, config, seen, params)
    if config.uses_feature_cache and cached is None:
        logger.info("Experiment %s: features not in the shared cache, computed here", experiment)
    logger.info("Experiment %s: training set %s", experiment, train.counts())
    first_model, histories, per_seed = None, [], []
    for seed in params.seeds:
        with training_precision(params.distribution):
            model, history = train_classifier(
                images,
                labels,
                config,
                seed=seed,
                is_validation=is_validation,
                strategy=strategy,
                backbone_seed=params.seeds[0],
                augmentation_seed=params.seeds[0],
                features=cached,
            )

        probabilities = _scored(model, cached, test, "test")
        metrics = classification_metrics(
            test.labels, probabilities, n_bootstrap=params.n_bootstrap, seed=seed
        )
        logger.info(
            "Experiment %s, seed %d: test AUC %.3f [%.3f, %.3f], accuracy %.3f",
            experiment,
            seed,
            *(metrics["roc_auc"][k] or float("nan") for k in ("value", "ci_low", "ci_high")),
            metrics["accuracy"]["value"],
        )
        histories.append({"seed": seed, "history": history})
        run = {
            "seed": seed,
            "metrics": metrics,
            "roc": roc_curve_points(test.labels, probabilities),
            "probabilities": probabilities.astype(float).round(6).tolist(),
        }
        external_probabilities = _scored(model, cached, external, "external")
        if external_probabilities is not None:
            run["external_probabilities"] = external_probabilities.astype(float).round(6).tolist()
        per_seed.append(run)
        if first_model is None:
            first_model = model
    evaluation = {
        "experiment": experiment,
        "training_set": train.counts(),
        "validation_images": len(validation),
        "test_images": len(test),
        "test_ids": test.ids.tolist(),
        "test_labels": test.labels.tolist(),
        "settings": {**params.model_dump(), "augmentation": config.augmentation},
        "features": "shared cache"
        if cached is not None
        else "computed per seed"
        if config.uses_feature_cache
        else "none (end-to-end training)",
        "per_seed": per_seed,
        "across_seeds": summarize_seeds([run["metrics"] for run in per_seed]),
        "external": None
        if external is None
        else {
            "root": external_data["root"],
            "ids": external.ids.tolist(),
            "labels": external.labels.astype(int).tolist(),
            "sources": None
            if external_data.get("sources") is None
            else [str(s) for s in external_data["sources"]],
        },
    }
    return first_model, histories, evaluation


def prepare_external_data(
    external_xrays: RawXrayCollection | None,
    data_params: DataProcessingParams,
    classification_data: dict[str, Any] | None = None,
    params: ClassificationParams | None = None,
) -> dict[str, Any]:
    """An optional external test folder, processed exactly like the raw data ({} if absent),
    and read through the GAN's size and back when the real test images are
    (classification_data["resolution"]), so the models see it as they saw their own data.

    Each image's source (params.source_column, e.g. source_repo) comes from a CSV at the
    folder's root that names the files (read_source_column); "sources" is None without one.
    """
    if external_xrays is None:
        logger.info("No external validation folder (catalog entry external_xrays): skipped")
        return {}
    result = ingest_collection(external_xrays, data_params.classes, **data_params.ingest_options())
    usable = result.manifest[result.manifest["status"] == OK].sort_values("array_index")
    logger.info("External validation: %d usable images from %s", len(usable), external_xrays.root)
    images = result.images
    resolution = (classification_data or {}).get("resolution") or {}
    if resolution.get("matched"):
        images = match_resolution(images, resolution["generator_size"])
    column = params.source_column if params is not None else None
    sources = None
    if column:
        found = read_source_column(
            external_xrays.csv_files,
            external_xrays.root,
            usable["relative_path"].astype(str).tolist(),
            column,
        )
        if found is None:
            logger.info(
                "No CSV at the root of %s names each image's %s: external per-source metrics "
                "and the source-matched AUC skipped",
                external_xrays.root,
                column,
            )
        else:
            sources = np.array(found)
    return {
        "images": images,
        "labels": usable["label"].to_numpy(np.int32),
        "ids": usable["id"].to_numpy(str),
        "root": external_xrays.root,
        "sources": sources,
    }


PREDICTION_COLUMNS = ["experiment", "seed", "id", "label", "source", "probability"]


def score_external(
    classification_evaluation: dict[str, Any], params: ClassificationParams
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The experiment's models (every seed) on the external folder: metrics of the
    seed-averaged predictions with 95% bootstrap intervals, the AUC per seed, per-source
    metrics and the source-matched AUC when sources are known; and the per-image, per-seed
    predictions as a table (PREDICTION_COLUMNS; empty without an external folder)."""
    external = (classification_evaluation or {}).get("external")
    if not external:
        return {"skipped": "no external validation folder"}, pd.DataFrame(
            columns=PREDICTION_COLUMNS
        )
    labels = np.array(external["labels"], int)
    per_seed = classification_evaluation["per_seed"]
    ensemble = np.mean([run["external_probabilities"] for run in per_seed], axis=0)
    seed = params.seeds[0]
    metrics = classification_metrics(labels, ensemble, n_bootstrap=params.n_bootstrap, seed=seed)
    sources = external.get("sources")
    result: dict[str, Any] = {
        "source": external["root"],
        "images": len(labels),
        "seeds": [run["seed"] for run in per_seed],
        "metrics": metrics,
        "roc_auc_per_seed": [
            roc_curve_points(labels, np.array(run["external_probabilities"]))["roc_auc"]
            for run in per_seed
        ],
        "per_source": None,
        "source_matched": None,
    }
    if sources is not None:
        result["per_source"] = per_source_metrics(
            labels, ensemble, np.array(sources), params.min_source_images, params.n_bootstrap, seed
        )
        result["source_matched"] = source_matched_auc(
            labels,
            ensemble,
            np.array(sources),
            params.min_source_images,
            n_bootstrap=params.n_bootstrap,
            seed=seed,
        )
        result["source_matched"]["sentence"] = source_gap_sentence(
            metrics["roc_auc"]["value"], result["source_matched"]
        )
    rows = [
        {
            "experiment": classification_evaluation["experiment"],
            "seed": run["seed"],
            "id": image_id,
            "label": int(label),
            "source": "" if sources is None else sources[index],
            "probability": float(probability),
        }
        for run in per_seed
        for index, (image_id, label, probability) in enumerate(
            zip(external["ids"], labels, run["external_probabilities"], strict=True)
        )
    ]
    return result, pd.DataFrame(rows, columns=PREDICTION_COLUMNS)


def plot_experiment_curves(classification_history: list[dict[str, Any]], experiment: str) -> Figure:
    return plot_training_curves(classification_history, experiment)


def plot_experiment_roc(classification_evaluation: dict[str, Any]) -> Figure:
    return plot_roc(classification_evaluation)


def explain_with_gradcam(
    experiment: str,
    classifier: KerasModel,
    classification_data: dict[str, Any],
    params: ClassificationParams,
) -> Figure:
    """Grad-CAM on the first test images of each class: does the model look at the lungs, or at
    borders and text markers?"""
    from cxr_gan.models.classifier_predict import predict  # TensorFlow
    from cxr_gan.models.gradcam import gradcam_figure, gradcam_heatmaps

    test = as_seen_by(experiment, classification_data["test"], params.mask_fraction)
    per_class = max(1, params.gradcam_images // 2)
    chosen = np.concatenate([np.flatnonzero(test.labels == c)[:per_class] for c in (0, 1)])
    images = test.images[chosen]
    heatmaps = gradcam_heatmaps(classifier, images)
    return gradcam_figure(
        images, heatmaps, probabilities=predict(classifier, images), labels=test.labels[chosen]
    )


def _ensemble_probabilities(evaluation: dict[str, Any], key: str = "probabilities") -> np.ndarray:
    """Mean over seeds of each image's probability (key: "probabilities" for the test split,
    "external_probabilities" for the external folder)."""
    return np.mean([run[key] for run in evaluation["per_seed"]], axis=0)


def _effect_numbers(effect: dict[str, Any]) -> str:
    low, high = effect["ci_low"], effect["ci_high"]
    interval = (
        "CI undefined"
        if low is None
        else f"{effect['confidence']:.0%} CI {low:+.3f} to {high:+.3f}"
    )
    return f"AUC difference {effect['difference']:+.3f} ({interval})"


def synthetic_verdict(
    internal: dict[str, Any], external: dict[str, Any] | None, external_root: str | None = None
) -> dict[str, Any]:
    """The answer to "did the synthetic images help?" and the set it rests on.

    internal, external: compare_auc results on the internal test split and the external folder
    (None when there is none). The external set decides when there is one (more images, other
    patients, never used to choose anything); the sentence names the set, gives the paired
    difference with its CI, and says plainly when the internal test set points the other way
    (its point difference has the opposite sign, or its verdict is the opposite one).
    Returns {"rests_on": "external" | "internal", "verdict", "internal_disagrees", "sentence"}.
    """
    if external is None:
        return {
            "rests_on": "internal",
            "verdict": internal["verdict"],
            "internal_disagrees": False,
            "sentence": (
                f"Answer, from the internal test set ({internal['n_images']} images; no "
                f"external folder was given): {internal['verdict']}, "
                f"{_effect_numbers(internal)}."
            ),
        }
    opposite = {"helped": "hurt", "hurt": "helped"}.get(external["verdict"])
    disagrees = internal["verdict"] == opposite or (
        internal["difference"] * external["difference"] < 0
    )
    where = f", {external_root}" if external_root else ""
    sentence = (
        f"Answer, from the external set ({external['n_images']} images{where}), which decides: "
        f"{external['verdict']}, {_effect_numbers(external)}."
    )
    if disagrees:
        sentence += (
            f" The internal test set ({internal['n_images']} images) points the other way: "
            f"{internal['verdict']}, {_effect_numbers(internal)}."
        )
    elif internal["difference"] == 0 or external["difference"] == 0:
        sentence += (
            f" On the internal test set ({internal['n_images']} images): "
            f"{internal['verdict']}, {_effect_numbers(internal)}."
        )
    else:
        sentence += (
            f" The internal test set ({internal['n_images']} images) agrees in direction: "
            f"{_effect_numbers(internal)}."
        )
    return {
        "rests_on": "external",
        "verdict": external["verdict"],
        "internal_disagrees": bool(disagrees),
        "sentence": sentence,
    }


def gan_quality_line(gan_quality_report: dict[str, Any] | None) -> dict[str, Any]:
    """The synthesis report's verdict on the GAN ("collapsed: synthetic MS-SSIM 0.88 vs real
    0.44 at 64 px"), as the comparison repeats it beside its answer: {"verdict", "collapsed",
    "sentence"}, with a sentence saying so when the report carries no verdict."""
    report = gan_quality_report or {}
    verdict = report.get("verdict")
    sentence = (
        f"GAN quality, from the synthesis report: {str(verdict).rstrip('.')}."
        if verdict
        else "The GAN's quality was not assessed (no verdict in the synthesis quality report), "
        "so this answer cannot say whether the synthetic images were diverse or realistic."
    )
    return {"verdict": verdict, "collapsed": report.get("collapsed"), "sentence": sentence}


def compare_experiments(
    params: ClassificationParams,
    classification_data: dict[str, Any],
    gan_quality_report: dict[str, Any] | None = None,
    **evaluations: dict[str, Any],
) -> tuple[dict[str, Any], str, Figure]:
    """One table of every experiment (metrics of the seed-averaged predictions with 95% bootstrap
    intervals, and mean +- std across seeds), the paired AUC difference real_plus_synthetic vs
    real with its interval on the internal test split and, when given, the external folder
    (which then carries the verdict: synthetic_verdict), per-source and source-matched AUCs on
    both, and plain sentences, with the GAN's quality verdict (gan_quality_report["verdict"])
    and how real images were matched to the GAN's resolution (classification_data["resolution"])
    beside them."""
    externals = {
        name.removesuffix("_external"): evaluations.pop(name)
        for name in list(evaluations)
        if name.endswith("_external")
    }
    evaluations = {name.removesuffix("_evaluation"): value for name, value in evaluations.items()}
    labels = np.array(next(iter(evaluations.values()))["test_labels"])
    sources = classification_data.get("test_sources")
    seed = params.seeds[0]
    rows = []
    for name, evaluation in evaluations.items():
        if evaluation["test_labels"] != labels.tolist():
            raise ValueError(f"experiment {name} was tested on other images than the others")
        ensemble = _ensemble_probabilities(evaluation)
        metrics = classification_metrics(
            labels, ensemble, n_bootstrap=params.n_bootstrap, seed=seed
        )
        external = externals.get(name) or {}
        row = {
            "name": name,
            "training_set": evaluation["training_set"],
            "metrics": metrics,
            "across_seeds": evaluation["across_seeds"],
            "external": external.get("metrics"),
            "external_per_source": external.get("per_source"),
            "external_source_matched": external.get("source_matched"),
            "per_source": None,
            "source_matched": None,
        }
        if sources is not None:
            row["per_source"] = per_source_metrics(
                labels, ensemble, sources, params.min_source_images, params.n_bootstrap, seed
            )
            matched = source_matched_auc(
                labels,
                ensemble,
                sources,
                params.min_source_images,
                n_bootstrap=params.n_bootstrap,
                seed=seed,
            )
            matched["sentence"] = source_gap_sentence(metrics["roc_auc"]["value"], matched)
            row["source_matched"] = matched
        rows.append(row)
    comparison: dict[str, Any] = {
        "test_images": int(len(labels)),
        "seeds": params.seeds,
        "experiments": rows,
        "gan_quality": gan_quality_line(gan_quality_report),
        "resolution": classification_data.get("resolution"),
    }
    if BASELINE in evaluations and CANDIDATE in evaluations:
        _add_synthetic_effect(comparison, evaluations[BASELINE], evaluations[CANDIDATE], params)
        logger.info(
            "Did the synthetic images help? %s %s",
            comparison["verdict"]["sentence"],
            comparison["gan_quality"]["sentence"],
        )
    probe = next((row for row in rows if row["name"] == SHORTCUT_PROBE), None)
    if probe is not None:
        warning = shortcut_warning(probe["metrics"]["roc_auc"], params.probe_warning_lower_bound)
        comparison["shortcut_probe"] = {
            "mask_fraction": params.mask_fraction,
            "roc_auc": probe["metrics"]["roc_auc"],
            "warning_lower_bound": params.probe_warning_lower_bound,
            "warning": warning,
            "reading": probe_reading(
                probe["metrics"]["roc_auc"], params.probe_warning_lower_bound, len(labels)
            ),
        }
        if warning:
            logger.warning(warning)
    comparison["sources_confounded"] = sources_confounded(rows[0].get("per_source"))
    if comparison["sources_confounded"]:
        logger.warning(SOURCE_CONFOUND)
    for row in rows:
        for key in ("source_matched", "external_source_matched"):
            if row.get(key):
                logger.info("%s (%s): %s", row["name"], key, row[key]["sentence"])
    title = comparison.get("verdict", {}).get("sentence", "Classification experiments")
    title += "\n" + comparison["gan_quality"]["sentence"]
    if comparison.get("shortcut_probe", {}).get("warning"):
        title += "\n" + comparison["shortcut_probe"]["warning"]
    return comparison, comparison_markdown(comparison), plot_comparison(rows, title)


def _add_synthetic_effect(
    comparison: dict[str, Any],
    baseline: dict[str, Any],
    candidate: dict[str, Any],
    params: ClassificationParams,
) -> None:
    """Paired comparisons of the seed-averaged predictions (and per seed) on each set, and the
    verdict (synthetic_verdict)."""

    def paired(labels, key, images_name, base_probs=None, cand_probs=None, seed=None):
        return compare_auc(
            labels,
            _ensemble_probabilities(baseline, key) if base_probs is None else base_probs,
            _ensemble_probabilities(candidate, key) if cand_probs is None else cand_probs,
            images_name=images_name,
            n_bootstrap=params.n_bootstrap,
            seed=params.seeds[0] if seed is None else seed,
        )

    def per_seed(labels, key, images_name):
        return [
            paired(labels, key, images_name, np.array(b[key]), np.array(c[key]), b["seed"])[
                "difference"
            ]
            for b, c in zip(baseline["per_seed"], candidate["per_seed"], strict=True)
        ]

    labels = np.array(baseline["test_labels"])
    internal = paired(labels, "probabilities", "internal test images")
    effects = {"internal": internal}
    seeds = {"internal": per_seed(labels, "probabilities", "internal test images")}
    external_info = baseline.get("external")
    has_external = bool(external_info) and all(
        "external_probabilities" in run for e in (baseline, candidate) for run in e["per_seed"]
    )
    if has_external:
        if candidate.get("external", {}).get("ids") != external_info["ids"]:
            raise ValueError("real and real_plus_synthetic were scored on other external images")
        ext_labels = np.array(external_info["labels"])
        effects["external"] = paired(ext_labels, "external_probabilities", "external images")
        seeds["external"] = per_seed(ext_labels, "external_probabilities", "external images")
    deciding = "external" if has_external else "internal"
    comparison["synthetic_effect"] = effects[deciding]
    comparison["synthetic_effect_per_seed"] = seeds[deciding]
    comparison["synthetic_effect_by_set"] = effects
    comparison["synthetic_effect_per_seed_by_set"] = seeds
    comparison["verdict"] = synthetic_verdict(
        internal,
        effects.get("external"),
        external_info["root"] if has_external else None,
    )


def _cell(metric: dict[str, Any]) -> str:
    if metric["value"] is None:
        return "n/a"
    if metric["ci_low"] is None:
        return f"{metric['value']:.3f}"
    return f"{metric['value']:.3f} [{metric['ci_low']:.3f}, {metric['ci_high']:.3f}]"


def comparison_markdown(comparison: dict[str, Any]) -> str:
    """The comparison as a Markdown table with a plain-language summary above it."""
    lines = ["# Did the synthetic X-rays help?", ""]
    probe = comparison.get("shortcut_probe")
    if probe and probe["warning"]:
        lines += [f"**{probe['warning']}**", ""]
    if comparison.get("sources_confounded"):
        lines += [f"**{SOURCE_CONFOUND}**", ""]
    effect = comparison.get("synthetic_effect")
    gan_quality = comparison.get("gan_quality")
    verdict = comparison.get("verdict")
    if verdict:
        lines += [f"**{verdict['sentence']}**", ""]
    if effect:
        lines += [effect["sentence"], ""]
    if gan_quality:  # beside the answer: "no difference" from a collapsed GAN says little
        emphasis = "**" if gan_quality.get("collapsed") else ""
        lines += [f"{emphasis}{gan_quality['sentence']}{emphasis}", ""]
    if effect:
        by_set = comparison.get("synthetic_effect_by_set") or {}
        for name, other in by_set.items():
            if other is not effect and other != effect:
                lines += [f"On the {name} set: {other['sentence']}", ""]
        seeds = comparison.get("synthetic_effect_per_seed_by_set") or {
            "deciding": comparison["synthetic_effect_per_seed"]
        }
        for name, differences in seeds.items():
            per_seed = ", ".join(f"{d:+.3f}" for d in differences if d is not None)
            lines += [f"Per seed, the AUC differences on the {name} set were {per_seed}.", ""]
    resolution = comparison.get("resolution")
    if resolution:
        lines += [resolution["sentence"], ""]
    lines += [
        f"Tested on the same {comparison['test_images']} real test images; metrics of the "
        f"seed-averaged predictions over seeds {comparison['seeds']}, with 95% bootstrap "
        "intervals over test images. The last column is the AUC's mean +- std across seeds.",
        "",
        "| experiment | training images (real + synthetic) | "
        + " | ".join(METRICS)
        + " | AUC across seeds |",
        "| --- | --- | " + " | ".join("---" for _ in METRICS) + " | --- |",
    ]
    for row in comparison["experiments"]:
        counts = row["training_set"]
        seeds = row["across_seeds"].get("roc_auc", {})
        spread = (
            f"{seeds['mean']:.3f} +- {seeds['std']:.3f}"
            if seeds.get("std") is not None
            else (f"{seeds['mean']:.3f}" if seeds.get("mean") is not None else "n/a")
        )
        lines.append(
            f"| {row['name']} | {counts['real']} + {counts['synthetic']} | "
            + " | ".join(_cell(row["metrics"][m]) for m in METRICS)
            + f" | {spread} |"
        )
    if probe:
        lines += [
            "",
            f"`shortcut_probe` is the `real` recipe trained and tested with the central "
            f"{probe['mask_fraction']:.0%} of every side hidden (lungs and heart): what it scores "
            f"comes from borders, markers and exposure. {probe['reading']}",
        ]
    sourced = [row for row in comparison["experiments"] if row.get("per_source")]
    if sourced:
        lines += [
            "",
            "## Per source (seed-averaged predictions)",
            "",
            "| experiment | source | images (normal / covid) | accuracy | roc_auc |",
            "| --- | --- | --- | --- | --- |",
        ]
        for row in sourced:
            for source, group in row["per_source"]["groups"].items():
                counts = group["counts"]
                lines.append(
                    f"| {row['name']} | {source} | {counts['images']} ({counts['label_0']} / "
                    f"{counts['label_1']}) | {_cell(group['metrics']['accuracy'])} | "
                    f"{_cell(group['metrics']['roc_auc'])} |"
                )
        skipped = sourced[0]["per_source"]["skipped"]
        if skipped:
            lines += [
                "",
                f"Not scored (fewer than {sourced[0]['per_source']['min_images']} test images): "
                + ", ".join(f"{s['source']} ({s['images']})" for s in skipped)
                + ".",
            ]
    external = [row for row in comparison["experiments"] if row.get("external")]
    if external:
        lines += [
            "",
            "## External validation (seed-averaged predictions on the external folder)",
            "",
            "| experiment | " + " | ".join(METRICS) + " |",
            "| --- | " + " | ".join("---" for _ in METRICS) + " |",
        ]
        lines += [
            f"| {row['name']} | " + " | ".join(_cell(row["external"][m]) for m in METRICS) + " |"
            for row in external
        ]
        lines += _per_source_lines(external, "external_per_source", "external images")
    lines += _source_matched_lines(comparison["experiments"])
    return "\n".join(lines) + "\n"


def _per_source_lines(rows: list[dict[str, Any]], key: str, what: str) -> list[str]:
    sourced = [row for row in rows if row.get(key)]
    if not sourced:
        return []
    lines = [
        "",
        f"### Per source on the {what} (seed-averaged predictions)",
        "",
        "| experiment | source | images (normal / covid) | accuracy | roc_auc |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in sourced:
        for source, group in row[key]["groups"].items():
            counts = group["counts"]
            lines.append(
                f"| {row['name']} | {source} | {counts['images']} ({counts['label_0']} / "
                f"{counts['label_1']}) | {_cell(group['metrics']['accuracy'])} | "
                f"{_cell(group['metrics']['roc_auc'])} |"
            )
    return lines


def _source_matched_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The source-matched AUC next to the overall AUC, per set and experiment, with what the
    gap means; or, per set, why it cannot be computed."""
    lines: list[str] = []
    for key, overall, what in (
        ("external_source_matched", "external", "external set"),
        ("source_matched", "metrics", "internal test set"),
    ):
        found = [row for row in rows if row.get(key)]
        if not found:
            continue
        lines += ["", f"## Source-matched AUC on the {what}", ""]
        if not found[0][key]["computable"]:
            lines.append(found[0][key]["reason"])
            continue
        sources = ", ".join(
            f"{name} ({c['label_0']} normal / {c['label_1']} covid)"
            for name, c in found[0][key]["sources"].items()
        )
        lines += [
            f"Only COVID-19 / normal pairs from the same source count (sources holding both "
            f"classes: {sources}): there, the archive cannot tell the classes apart.",
            "",
            "| experiment | AUC overall | source-matched AUC |",
            "| --- | --- | --- |",
        ]
        lines += [
            f"| {row['name']} | {_cell(row[overall]['roc_auc'])} | {_cell(row[key])} |"
            for row in found
        ]
        lines.append("")
        lines += [f"- {row['name']}: {row[key]['sentence']}" for row in found]
    return lines
