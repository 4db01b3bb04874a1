"""Nodes of classification: assemble each experiment's data, train over seeds, evaluate, compare.

Each node is a few lines over plain modules: data.classification_inputs and data.experiments
(which images), models.experiments and models.shared_features (training and shared backbone
features), metrics.comparison (the numbers), reporting (the Markdown and the figures).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cxr_gan.data.classification_inputs import (
    ClassificationData,
    ExternalData,
    assemble_classification_data,
    external_subset,
    external_test_set,
)
from cxr_gan.data.experiments import (
    as_seen_by,
    experiment_images,
    joined_parts,
    synthetic_generator_size,
)
from cxr_gan.data.sources import RawXrayCollection
from cxr_gan.metrics.comparison import ComparisonSettings, compare, external_scores
from cxr_gan.models import KerasModel
from cxr_gan.models.experiments import ExperimentPlan, experiment_evaluation, train_over_seeds
from cxr_gan.models.feature_cache import FeatureCache
from cxr_gan.models.shared_features import (
    compute_shared_features,
    features_for,
    no_shared_features,
)
from cxr_gan.pipelines.classification.params import SHORTCUT_PROBE, ClassificationParams
from cxr_gan.reporting import comparison as report
from cxr_gan.reporting.classification_figures import (
    plot_comparison,
    plot_roc,
    plot_training_curves,
)

logger = logging.getLogger(__name__)


def prepare_classification_data(
    xray_arrays: dict[str, np.ndarray],
    xray_split: pd.DataFrame,
    raw_manifest: pd.DataFrame,
    params: ClassificationParams,
    synthetic_xrays: dict[str, Any] | None = None,
    synthetic_balanced_xrays: dict[str, Any] | None = None,
) -> ClassificationData:
    """Real train / validation / test images shared by every experiment, and each test image's
    source (params.source_column of the raw manifest) when the manifest has one.

    When the synthetic sets' generator works below the classifier's input size and
    params.match_synthetic_resolution is on, every real image is read through the GAN's size and
    back (match_resolution), as the synthetic ones are; .resolution says what was done.
    """
    return assemble_classification_data(
        xray_arrays,
        xray_split,
        raw_manifest,
        validation_fraction=params.validation_fraction,
        seed=params.seeds[0],
        match_synthetic_resolution=params.match_synthetic_resolution,
        generator_size=synthetic_generator_size(synthetic_xrays, synthetic_balanced_xrays),
        input_size=params.input_size,
        source_column=params.source_column,
    )


def prepare_external_data(
    external_xrays: RawXrayCollection | None,
    classes: dict[str, int],
    classification_data: ClassificationData | None = None,
    params: ClassificationParams | None = None,
    **ingest_options: Any,
) -> ExternalData:
    """An optional external test folder, processed exactly like the raw data ({} if absent):
    ingested with data_processing's classes and ingest options (ingest_options: the keyword
    options of data.ingest.ingest_collection), read through the GAN's size and back when the
    real test images are, with each image's source from a CSV at the folder's root."""
    if external_xrays is None:
        logger.info("No external validation folder (catalog entry external_xrays): skipped")
        return {}
    resolution = None if classification_data is None else classification_data.resolution
    column = None if params is None else params.source_column
    return external_test_set(external_xrays, classes, ingest_options, resolution, column)


def experiment_names(params: ClassificationParams) -> list[str]:
    """The experiments a run trains: params.experiments, then the shortcut probe unless off."""
    return [*params.experiments, *([SHORTCUT_PROBE] if params.shortcut_probe else [])]


def _plan(
    experiment: str,
    classification_data: ClassificationData,
    synthetic_xrays: dict[str, Any],
    synthetic_balanced_xrays: dict[str, Any],
    external_data: ExternalData | None,
    params: ClassificationParams,
) -> ExperimentPlan:
    """The experiment's images as it sees them, and its classifier settings."""
    images = experiment_images(
        experiment,
        classification_data,
        synthetic_xrays,
        synthetic_balanced_xrays,
        external_subset(external_data),
        params.mask_fraction,
    )
    overrides = {"augmentation": images.augmentation} if images.augmentation else {}
    probe = experiment == SHORTCUT_PROBE
    return ExperimentPlan(
        images, params.classifier_config(**overrides), params.mask_fraction if probe else None
    )


def compute_backbone_features(
    classification_data: ClassificationData,
    synthetic_xrays: dict[str, Any],
    synthetic_balanced_xrays: dict[str, Any],
    external_data: ExternalData,
    params: ClassificationParams,
) -> FeatureCache:
    """Frozen-backbone features of every distinct input every experiment needs, computed once
    and shared by all experiments and seeds (models.shared_features). An empty cache, with
    the reason, when the backbone is not frozen (small_cnn, fine_tune_layers > 0,
    feature_cache: false). A random backbone (weights: null) is initialised with the first seed."""
    config = params.classifier_config()
    empty = no_shared_features(config)
    if empty is not None:
        return empty
    plans = [
        _plan(
            e, classification_data, synthetic_xrays, synthetic_balanced_xrays, external_data, params
        )
        for e in experiment_names(params)
    ]
    return compute_shared_features(plans, config, params.seeds[0], len(params.seeds))


def train_and_evaluate(
    experiment: str,
    classification_data: ClassificationData,
    synthetic_xrays: dict[str, Any],
    synthetic_balanced_xrays: dict[str, Any],
    params: ClassificationParams,
    external_data: ExternalData | None = None,
    backbone_features: FeatureCache | None = None,
) -> tuple[KerasModel, list[dict[str, Any]], dict[str, Any]]:
    """Train the experiment once per seed; evaluate every model on the real test split and,
    when there is one, the external folder (models.experiments.train_over_seeds).

    With a frozen backbone, the heads train on and predict from the shared backbone features
    (compute_backbone_features), so a seed costs only its head. synthetic_pretrain's models are
    first trained on the balanced synthetic set, then fine-tuned on the real training images.
    Returns the first seed's model, the histories, and the evaluation (metrics with 95%
    bootstrap intervals per seed, their mean and std across seeds, every seed's test and
    external probabilities per image).
    Logs the device, strategy and precision first (cxr_gan.models.device.start_training);
    raises DistributionConfigError when classification.distribution asks for mixed precision
    and TensorFlow sees no GPU.
    """
    from cxr_gan.models.device import start_training, training_device  # TensorFlow

    where = f"classification (experiment {experiment})"
    strategy = start_training(where, params.distribution, "classification.distribution")
    data, synthetic, balanced = classification_data, synthetic_xrays, synthetic_balanced_xrays
    plan = _plan(experiment, data, synthetic, balanced, external_data, params)
    train = joined_parts(plan.images.parts, data)  # the parts once, checked for leaks
    pretraining = plan.images.pretraining
    pretrain = joined_parts(pretraining, data) if pretraining else None
    cached = features_for(backbone_features, plan, params.seeds[0])
    uses_cache = plan.config.uses_feature_cache
    if uses_cache and cached is None:
        logger.info("Experiment %s: features not in the shared cache, computed here", experiment)
    logger.info("Experiment %s: training set %s", experiment, train.counts())
    names = experiment_names(params)
    position = (  # None: a run whose shape names an experiment its parameters no longer do
        f"Experiment {experiment} ({names.index(experiment) + 1}/{len(names)})"
        if experiment in names
        else None
    )
    model, histories, per_seed = train_over_seeds(
        plan,
        train,
        params.seeds,
        params.distribution,
        strategy,
        params.n_bootstrap,
        cached,
        pretrain,
        position,
    )
    settings = {**params.model_dump(), "augmentation": plan.config.augmentation}
    features = "shared cache" if cached is not None else "computed per seed"
    features = features if uses_cache else "none (end-to-end training)"
    evaluation = experiment_evaluation(
        plan, train, per_seed, settings, features, external_data, pretrain
    )
    evaluation["device"] = training_device(strategy, params.distribution)  # the study report's
    return model, histories, evaluation


def _settings(params: ClassificationParams) -> ComparisonSettings:
    return ComparisonSettings(
        seeds=params.seeds,
        n_bootstrap=params.n_bootstrap,
        min_source_images=params.min_source_images,
        mask_fraction=params.mask_fraction,
        probe_warning_lower_bound=params.probe_warning_lower_bound,
    )


def score_external(
    classification_evaluation: dict[str, Any], params: ClassificationParams
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The experiment's models (every seed) on the external folder: metrics of the
    seed-averaged predictions, the AUC per seed, per-source and source-matched AUCs; and the
    per-image, per-seed predictions (PREDICTION_COLUMNS; empty without an external folder)."""
    return external_scores(classification_evaluation, _settings(params))


def plot_experiment_curves(classification_history: list[dict[str, Any]], experiment: str) -> Figure:
    return plot_training_curves(classification_history, experiment)


def plot_experiment_roc(classification_evaluation: dict[str, Any]) -> Figure:
    return plot_roc(classification_evaluation)


def explain_with_gradcam(
    experiment: str,
    classifier: KerasModel,
    classification_data: ClassificationData,
    params: ClassificationParams,
) -> Figure:
    """Grad-CAM on the first test images of each class: does the model look at the lungs, or at
    borders and text markers?"""
    from cxr_gan.models.classifier_predict import predict  # TensorFlow
    from cxr_gan.models.gradcam import gradcam_figure, gradcam_heatmaps

    test = as_seen_by(experiment, classification_data.test, params.mask_fraction)
    per_class = max(1, params.gradcam_images // 2)
    chosen = np.concatenate([np.flatnonzero(test.labels == c)[:per_class] for c in (0, 1)])
    images = test.images[chosen]
    heatmaps = gradcam_heatmaps(classifier, images)
    return gradcam_figure(
        images, heatmaps, probabilities=predict(classifier, images), labels=test.labels[chosen]
    )


def compare_experiments(
    params: ClassificationParams,
    classification_data: ClassificationData,
    gan_quality_report: dict[str, Any] | None,
    evaluations: Mapping[str, dict[str, Any]],
    externals: Mapping[str, dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], str, Figure]:
    """One table of every experiment (evaluations: experiment -> its classification_evaluation;
    externals: experiment -> its external_evaluation), the paired AUC difference
    real_plus_synthetic vs real on the internal test split and, when given, the external folder
    (which then carries the verdict), per-source and source-matched AUCs, and plain sentences,
    with the GAN's quality verdict and the resolution matching beside them (metrics.comparison).
    Returns the comparison, its Markdown (reporting.comparison) and its plot."""
    comparison = compare(
        evaluations,
        externals or {},
        classification_data.test_sources,
        report.gan_quality_line(gan_quality_report),
        classification_data.resolution,
        _settings(params),
    )
    plot = plot_comparison(comparison["experiments"], report.comparison_title(comparison))
    return comparison, report.comparison_markdown(comparison), plot
