"""Nodes of classification: assemble each experiment's data, train over seeds, evaluate, compare."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cxr_gan.data.experiments import (
    as_seen_by,
    match_resolution,
    resolution_plan,
    split_real_images,
    synthetic_generator_size,
    training_set,
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
    sources_confounded,
)
from cxr_gan.models import KerasModel
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


def train_and_evaluate(
    experiment: str,
    classification_data: dict[str, Any],
    synthetic_xrays: dict[str, Any],
    synthetic_balanced_xrays: dict[str, Any],
    params: ClassificationParams,
) -> tuple[KerasModel, list[dict[str, Any]], dict[str, Any]]:
    """Train the experiment once per seed; evaluate every model on the real test split.

    Returns the first seed's model, the histories, and the evaluation (metrics with 95%
    bootstrap intervals per seed, their mean and std across seeds, test predictions).
    Logs the device, strategy and precision first (cxr_gan.models.device.start_training);
    raises DistributionConfigError when classification.distribution asks for mixed precision
    and TensorFlow sees no GPU.
    """
    from cxr_gan.models.classifier import predict, train_classifier  # TensorFlow
    from cxr_gan.models.device import start_training, training_precision

    strategy = start_training(
        f"classification (experiment {experiment})",
        params.distribution,
        "classification.distribution",
    )
    train, augmentation = training_set(
        experiment,
        classification_data,
        synthetic_xrays,
        synthetic_balanced_xrays,
        params.mask_fraction,
    )
    validation, test = (
        as_seen_by(experiment, classification_data[part], params.mask_fraction)
        for part in ("validation", "test")
    )
    overrides = {"augmentation": augmentation} if augmentation else {}
    config = params.classifier_config(**overrides)
    images = LazyRows.concatenate(train.images, validation.images)  # read batch by batch
    labels = np.concatenate([train.labels, validation.labels])
    is_validation = np.r_[np.zeros(len(train), bool), np.ones(len(validation), bool)]
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
            )
        probabilities = predict(model, test.images)
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
        per_seed.append(
            {
                "seed": seed,
                "metrics": metrics,
                "roc": roc_curve_points(test.labels, probabilities),
                "probabilities": probabilities.astype(float).round(6).tolist(),
            }
        )
        first_model = first_model or model
    evaluation = {
        "experiment": experiment,
        "training_set": train.counts(),
        "validation_images": len(validation),
        "test_images": len(test),
        "test_ids": test.ids.tolist(),
        "test_labels": test.labels.tolist(),
        "settings": {**params.model_dump(), "augmentation": config.augmentation},
        "per_seed": per_seed,
        "across_seeds": summarize_seeds([run["metrics"] for run in per_seed]),
    }
    return first_model, histories, evaluation


def prepare_external_data(
    external_xrays: RawXrayCollection | None,
    data_params: DataProcessingParams,
    classification_data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An optional external test folder, processed exactly like the raw data ({} if absent),
    and read through the GAN's size and back when the real test images are
    (classification_data["resolution"]), so the models see it as they saw their own data."""
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
    return {
        "images": images,
        "labels": usable["label"].to_numpy(np.int32),
        "ids": usable["id"].to_numpy(str),
        "root": external_xrays.root,
    }


def score_external(
    classifier: KerasModel, external_data: dict[str, Any], params: ClassificationParams
) -> dict[str, Any]:
    """The trained model (first seed) on the external folder, with the same metrics."""
    if not external_data:
        return {"skipped": "no external validation folder"}
    from cxr_gan.models.classifier import predict  # TensorFlow

    probabilities = predict(classifier, external_data["images"])
    return {
        "source": external_data["root"],
        "images": len(probabilities),
        "metrics": classification_metrics(
            external_data["labels"],
            probabilities,
            n_bootstrap=params.n_bootstrap,
            seed=params.seeds[0],
        ),
    }


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
    from cxr_gan.models.classifier import predict  # TensorFlow
    from cxr_gan.models.gradcam import gradcam_figure, gradcam_heatmaps

    test = as_seen_by(experiment, classification_data["test"], params.mask_fraction)
    per_class = max(1, params.gradcam_images // 2)
    chosen = np.concatenate([np.flatnonzero(test.labels == c)[:per_class] for c in (0, 1)])
    images = test.images[chosen]
    heatmaps = gradcam_heatmaps(classifier, images)
    return gradcam_figure(
        images, heatmaps, probabilities=predict(classifier, images), labels=test.labels[chosen]
    )


def _ensemble_probabilities(evaluation: dict[str, Any]) -> np.ndarray:
    return np.mean([run["probabilities"] for run in evaluation["per_seed"]], axis=0)


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
    real with its interval, and a plain sentence, with the GAN's quality verdict
    (gan_quality_report["verdict"]) and how real images were matched to the GAN's resolution
    (classification_data["resolution"]) beside it."""
    externals = {
        name.removesuffix("_external"): evaluations.pop(name)
        for name in list(evaluations)
        if name.endswith("_external")
    }
    evaluations = {name.removesuffix("_evaluation"): value for name, value in evaluations.items()}
    labels = np.array(next(iter(evaluations.values()))["test_labels"])
    rows = []
    for name, evaluation in evaluations.items():
        if evaluation["test_labels"] != labels.tolist():
            raise ValueError(f"experiment {name} was tested on other images than the others")
        rows.append(
            {
                "name": name,
                "training_set": evaluation["training_set"],
                "metrics": classification_metrics(
                    labels,
                    _ensemble_probabilities(evaluation),
                    n_bootstrap=params.n_bootstrap,
                    seed=params.seeds[0],
                ),
                "across_seeds": evaluation["across_seeds"],
                "external": externals.get(name, {}).get("metrics"),
                "per_source": None
                if classification_data.get("test_sources") is None
                else per_source_metrics(
                    labels,
                    _ensemble_probabilities(evaluation),
                    classification_data["test_sources"],
                    params.min_source_images,
                    n_bootstrap=params.n_bootstrap,
                    seed=params.seeds[0],
                ),
            }
        )
    comparison: dict[str, Any] = {
        "test_images": int(len(labels)),
        "seeds": params.seeds,
        "experiments": rows,
        "gan_quality": gan_quality_line(gan_quality_report),
        "resolution": classification_data.get("resolution"),
    }
    if BASELINE in evaluations and CANDIDATE in evaluations:
        comparison["synthetic_effect"] = compare_auc(
            labels,
            _ensemble_probabilities(evaluations[BASELINE]),
            _ensemble_probabilities(evaluations[CANDIDATE]),
            n_bootstrap=params.n_bootstrap,
            seed=params.seeds[0],
        )
        comparison["synthetic_effect_per_seed"] = [
            compare_auc(
                labels,
                np.array(base["probabilities"]),
                np.array(candidate["probabilities"]),
                n_bootstrap=params.n_bootstrap,
                seed=base["seed"],
            )["difference"]
            for base, candidate in zip(
                evaluations[BASELINE]["per_seed"], evaluations[CANDIDATE]["per_seed"], strict=True
            )
        ]
        logger.info(
            "Did the synthetic images help? %s %s",
            comparison["synthetic_effect"]["sentence"],
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
    title = comparison.get("synthetic_effect", {}).get("sentence", "Classification experiments")
    title += "\n" + comparison["gan_quality"]["sentence"]
    if comparison.get("shortcut_probe", {}).get("warning"):
        title += "\n" + comparison["shortcut_probe"]["warning"]
    return comparison, comparison_markdown(comparison), plot_comparison(rows, title)


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
    if effect:
        lines += [effect["sentence"], ""]
    if gan_quality:  # beside the answer: "no difference" from a collapsed GAN says little
        emphasis = "**" if gan_quality.get("collapsed") else ""
        lines += [f"{emphasis}{gan_quality['sentence']}{emphasis}", ""]
    if effect:
        per_seed = ", ".join(
            f"{d:+.3f}" for d in comparison["synthetic_effect_per_seed"] if d is not None
        )
        lines += [f"Per seed, the AUC differences were {per_seed}.", ""]
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
            "## External validation (first seed's model on the external folder)",
            "",
            "| experiment | " + " | ".join(METRICS) + " |",
            "| --- | " + " | ".join("---" for _ in METRICS) + " |",
        ]
        lines += [
            f"| {row['name']} | " + " | ".join(_cell(row["external"][m]) for m in METRICS) + " |"
            for row in external
        ]
    return "\n".join(lines) + "\n"
