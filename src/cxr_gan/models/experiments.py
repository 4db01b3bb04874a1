"""One classification experiment: its classifier trained once per seed, each model scored on the
test split and the external folder, and the evaluation record the pipeline saves.

Plain module (no Kedro); TensorFlow is imported when training starts, not at import.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from cxr_gan.data.experiments import ExperimentImages, ImageSubset
from cxr_gan.data.lazy_rows import LazyRows
from cxr_gan.metrics.classification import (
    classification_metrics,
    roc_curve_points,
    summarize_seeds,
)
from cxr_gan.models import KerasModel
from cxr_gan.models.classifier_config import ClassifierConfig
from cxr_gan.progress import RunPosition

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class ExperimentPlan:
    """What one experiment trains and tests on, and with which classifier settings."""

    images: ExperimentImages
    config: ClassifierConfig  # the configured classifier, with the experiment's augmentation
    view_fraction: float | None  # the hidden centre (shortcut probe), None: the full images

    @property
    def experiment(self) -> str:
        return self.images.experiment

    @property
    def preset(self) -> str | None:
        """The augmentation preset its augmented draws use (None: no augmentation)."""
        config = self.config
        return config.augmentation if config.augmentation_params is not None else None


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


def _rounded(probabilities: np.ndarray) -> list[float]:
    return probabilities.astype(float).round(6).tolist()


def trainable_layers(config: ClassifierConfig) -> str:
    """Which layers training changes under this config, in words, for the report: "only the
    head, as the ResNet50 backbone is frozen", "the head and the last N ResNet50 layers, ...",
    or "every layer, as the small_cnn backbone trains end to end"."""
    if config.backbone != "resnet50":
        return f"every layer, as the {config.backbone} backbone trains end to end"
    if config.fine_tune_layers == 0:
        return "only the head, as the ResNet50 backbone is frozen"
    return (
        f"the head and the last {config.fine_tune_layers} ResNet50 layers, their "
        "BatchNormalization layers staying frozen"
    )


def _with_validation(
    train: ImageSubset, validation: ImageSubset
) -> tuple[LazyRows, np.ndarray, np.ndarray]:
    """Training then validation images (read batch by batch), their labels and the mask of the
    validation ones, as train_classifier takes them."""
    images = LazyRows.concatenate(train.images, validation.images)
    labels = np.concatenate([train.labels, validation.labels])
    is_validation = np.r_[np.zeros(len(train), bool), np.ones(len(validation), bool)]
    return images, labels, is_validation


def train_over_seeds(
    plan: ExperimentPlan,
    train: ImageSubset,
    seeds: list[int],
    distribution: Any,
    strategy: Any,
    n_bootstrap: int,
    cached: dict[str, Any] | None = None,
    pretrain: ImageSubset | None = None,
    position: str | None = None,
) -> tuple[KerasModel, list[dict[str, Any]], list[dict[str, Any]]]:
    """Train plan's classifier once per seed on `train` (validated on plan's validation images),
    and score each model on the test split and, when there is one, the external folder.

    With `pretrain` images (synthetic_pretrain), each seed's classifier is first trained on them
    with the same settings and seed (every trainable layer; validated on the same real
    validation images), then fine-tuned on `train` from those weights (train_classifier's
    initial_weights); the histories then hold "pretraining_history" beside "history".

    A random backbone and the augmented copies follow the first seed. With `cached` features
    (shared_features.features_for) the heads train on and predict from them. Returns the first
    seed's model, the histories, and per seed its metrics (95% bootstrap intervals), ROC and
    probabilities per image.

    train and plan's images: uint8 (n, s, s) grayscale 0..255 (arrays or LazyRows, read a batch
    at a time), int labels (n,) 0 (normal) / 1 (covid); seeds: at least one. Each run's
    "probabilities" (and "external_probabilities") are lists of n_test (n_external) floats
    p(covid) in 0..1, rounded to 6 decimals, in the order of the subset's ids. Raises ValueError
    when the training labels lack a class, images and labels differ in number, cached features
    came from another backbone or do not fit the images (train_classifier), or test labels are
    not 0/1 (classification_metrics). `position` ("Experiment real (2/5)") starts each seed's
    progress lines, followed by "seed j/M"."""
    from cxr_gan.models.classifier import train_classifier  # TensorFlow
    from cxr_gan.models.device import training_precision

    validation, test, external = plan.images.validation, plan.images.test, plan.images.external
    images, labels, is_validation = _with_validation(train, validation)
    first_model, histories, per_seed = None, [], []
    for index, seed in enumerate(seeds, start=1):
        common = {
            "seed": seed,
            "strategy": strategy,
            "backbone_seed": seeds[0],
            "augmentation_seed": seeds[0],
        }
        initial, pretraining_history = None, None
        label = f"{position or f'Experiment {plan.experiment}'}, seed {index}/{len(seeds)}"
        phases = 2 if pretrain is not None else 1  # pre-training then fine-tuning: two runs
        where = RunPosition(
            f"{label}, fine-tuning" if pretrain is not None else label,
            runs_after=phases * (len(seeds) - index),
        )
        with training_precision(distribution):
            if pretrain is not None:
                logger.info(
                    "Experiment %s, seed %d: pre-training on %d images, then fine-tuning",
                    plan.experiment,
                    seed,
                    len(pretrain),
                )
                pre_images, pre_labels, pre_validation = _with_validation(pretrain, validation)
                initial, pretraining_history = train_classifier(
                    pre_images,
                    pre_labels,
                    plan.config,
                    is_validation=pre_validation,
                    features=None if cached is None else {**cached, "train": cached["pretraining"]},
                    position=RunPosition(
                        f"{label}, pre-training", runs_after=phases * (len(seeds) - index) + 1
                    ),
                    **common,
                )
            model, history = train_classifier(
                images,
                labels,
                plan.config,
                is_validation=is_validation,
                features=cached,
                initial_weights=initial,
                position=where,
                **common,
            )
        probabilities = _scored(model, cached, test, "test")
        metrics = classification_metrics(
            test.labels, probabilities, n_bootstrap=n_bootstrap, seed=seed
        )
        logger.info(
            "Experiment %s, seed %d: test AUC %.3f [%.3f, %.3f], accuracy %.3f",
            plan.experiment,
            seed,
            *(metrics["roc_auc"][k] or float("nan") for k in ("value", "ci_low", "ci_high")),
            metrics["accuracy"]["value"],
        )
        histories.append({"seed": seed, "history": history})
        if pretraining_history is not None:
            histories[-1]["pretraining_history"] = pretraining_history
        run = {
            "seed": seed,
            "metrics": metrics,
            "roc": roc_curve_points(test.labels, probabilities),
            "probabilities": _rounded(probabilities),
        }
        external_probabilities = _scored(model, cached, external, "external")
        if external_probabilities is not None:
            run["external_probabilities"] = _rounded(external_probabilities)
        per_seed.append(run)
        if first_model is None:
            first_model = model
    return first_model, histories, per_seed


def experiment_evaluation(
    plan: ExperimentPlan,
    train: ImageSubset,
    per_seed: list[dict[str, Any]],
    settings: dict[str, Any],
    features: str,
    external_data: dict[str, Any] | None,
    pretrain: ImageSubset | None = None,
) -> dict[str, Any]:
    """The experiment's evaluation record: its training set, test images, settings, every
    seed's run, the metrics' mean and std across seeds, and which external images were scored;
    "pretraining": with `pretrain` images (train_over_seeds' pretrain), their counts
    ("training_set"), the layers pre-training changed in words ("trainable",
    trainable_layers) and its epochs; None without pre-training.

    per_seed: train_over_seeds' runs, at least one; features: where the backbone features came
    from (e.g. "shared cache", "none (end-to-end training)"), for the record. The record is plain
    JSON: test_ids str and test_labels int 0/1 lists (n_test), external ids/labels/sources lists
    (n_external) with the folder's root from external_data. Raises ValueError when per_seed is
    empty (summarize_seeds), TypeError when the plan has external images but external_data is
    None."""
    validation, test, external = plan.images.validation, plan.images.test, plan.images.external
    return {
        "experiment": plan.experiment,
        "training_set": train.counts(),
        "pretraining": None
        if pretrain is None
        else {
            "training_set": pretrain.counts(),
            "trainable": trainable_layers(plan.config),
            "epochs": plan.config.epochs,
        },
        "validation_images": len(validation),
        "test_images": len(test),
        "test_ids": test.ids.tolist(),
        "test_labels": test.labels.tolist(),
        "settings": settings,
        "features": features,
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
