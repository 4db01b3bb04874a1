"""Nodes of synthesis: sample the generator into versioned sets and judge them against real data."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cxr_gan.data.gan_split import GAN_EVAL, GAN_TRAIN, images_with_role
from cxr_gan.data.sources import RawXrayCollection
from cxr_gan.models import KerasModel
from cxr_gan.pipelines.synthesis.params import SynthesisParams
from cxr_gan.reporting.model_card import build_model_card, model_card_markdown
from cxr_gan.reporting.report_blocks import range_text

logger = logging.getLogger(__name__)
# Real images the quality metrics compare against, at most: KID uses subsets of <= 1000 anyway,
# and nearest-real SSIM and the float copies grow with this number (a 30,000-image folder would
# need GBs and hours); above it a seeded sample of the class's training images is used.
QUALITY_MAX_REAL_IMAGES = 2000


def _label_of(folder: str, classes: dict[str, int]) -> int:
    if folder not in classes:
        raise ValueError(
            f"synthesis.label={folder!r} is not a class; choose one of {sorted(classes)} "
            "(data_processing.classes)"
        )
    return classes[folder]


def _resampling(generator_size: int, output_size: int) -> dict[str, Any]:
    """The manifest's account of how a generator_size px image became an output_size px PNG."""
    if output_size == generator_size:
        return {"generator_size": generator_size, "upsampled_from": "", "interpolation": "none"}
    enlarged = output_size > generator_size
    return {
        "generator_size": generator_size,
        "upsampled_from": generator_size if enlarged else "",
        "interpolation": "cubic" if enlarged else "area",  # resize_square's rule
    }


def _image_set(
    name: str,
    generator: KerasModel,
    folders: list[str],
    count: int,
    params: SynthesisParams,
    classes: dict[str, int],
) -> dict[str, Any]:
    """{"images": uint8 (n, s, s), "manifest": one row per image}: `count` images per folder.

    s is synthesis.output_size, else the generator's own size; the manifest's generator_size,
    size, upsampled_from and interpolation columns say whether and how each image was resized.
    Raises DegenerateSetError, naming `name` (the set's catalog entry) and the class, when a
    class's images are blank or all the same (models.synthesis.refuse_degenerate_images): such
    a set is never saved.
    """
    from cxr_gan.models.synthesis import (  # TensorFlow
        generator_output_size,
        refuse_degenerate_images,
        sample_generator,
    )

    generator_size = generator_output_size(generator)
    output_size = params.output_size or generator_size
    resampling = _resampling(generator_size, output_size)
    source = getattr(generator, "source_path", "in-memory")
    images, rows = [], []
    for offset, folder in enumerate(folders):
        seed = params.seed + offset
        label = _label_of(folder, classes)
        batch, indices = sample_generator(
            generator, label, count, seed, output_size, params.batch_size
        )
        refuse_degenerate_images(batch, f"{name}, class '{folder}'", source)
        images.append(batch)
        rows += [
            {
                "filename": f"{folder}_{index:04d}.png",
                "class_folder": folder,
                "label": label,
                "seed": seed,
                "latent_index": int(index),
                "generator": source,
                "size": output_size,
                **resampling,
            }
            for index in indices
        ]
    return {"images": np.concatenate(images), "manifest": pd.DataFrame(rows)}


def synthesize_xrays(
    generator: KerasModel, params: SynthesisParams, classes: dict[str, int]
) -> dict[str, Any]:
    """The study's set: n_images of one class (default 50 COVID-19), as one versioned set.

    Images are uint8 (n, s, s) at synthesis.output_size, by default the generator's own size;
    classes: data_processing.classes (class folder -> label)."""
    image_set = _image_set(
        "synthetic_xrays", generator, [params.label], params.n_images, params, classes
    )
    first = image_set["manifest"].iloc[0]
    logger.info(
        "Sampled %d synthetic '%s' X-rays at %d px (%s) from %s",
        params.n_images,
        params.label,
        image_set["images"].shape[1],
        "the generator's own size"
        if first["interpolation"] == "none"
        else f"resized from the generator's {first['generator_size']} px, {first['interpolation']}",
        first["generator"],
    )
    return image_set


def synthesize_balanced_xrays(
    generator: KerasModel, params: SynthesisParams, classes: dict[str, int]
) -> dict[str, Any]:
    """per_class_images of every class (classes: data_processing.classes), for training on
    synthetic images alone."""
    return _image_set(
        "synthetic_balanced_xrays",
        generator,
        list(classes),
        params.per_class_images,
        params,
        classes,
    )


def _refuse_test_images(xray_split: pd.DataFrame, gan_split: pd.DataFrame) -> None:
    """The GAN is judged without ever looking at test data: a gan_split id in the classifier's
    test split stops the run."""
    leaked = set(gan_split["id"]) & set(xray_split.loc[xray_split["split"] == "test", "id"])
    if leaked:
        raise ValueError(
            f"gan_split holds {len(leaked)} images of the classifier's test split (e.g. "
            f"{sorted(leaked)[0]!r}); re-run gan_training so that its GAN split covers the "
            "training split only"
        )


def _class_images(
    xray_arrays: dict[str, np.ndarray], gan_split: pd.DataFrame, role: str, label: int, seed: int
) -> np.ndarray:
    """uint8 (n, h, w): the images of one class with one gan_split role, reading only those
    rows of the memmap; a seeded sample of QUALITY_MAX_REAL_IMAGES when there are more."""
    images, labels = images_with_role(xray_arrays, gan_split, role)  # lazy: nothing read yet
    rows = np.flatnonzero(labels == label)
    if len(rows) > QUALITY_MAX_REAL_IMAGES:
        logger.info(
            "GAN quality uses a seeded sample of %d of the %d '%s' images of label %d",
            QUALITY_MAX_REAL_IMAGES,
            len(rows),
            role,
            label,
        )
        rows = np.sort(np.random.default_rng(seed).choice(rows, QUALITY_MAX_REAL_IMAGES, False))
    return np.asarray(images[rows])


def _quality_sets(
    generator: KerasModel, first: np.ndarray, label: int, params: SynthesisParams
) -> list[np.ndarray]:
    """The written set plus quality_sample_sets - 1 new draws (new seeds), at the generator's
    own size: the spread between sets is what each number's +- means."""
    from cxr_gan.models.synthesis import sample_generator  # TensorFlow

    sets = [first]
    for extra in range(1, params.quality_sample_sets):
        batch, _ = sample_generator(
            generator, label, params.n_images, params.seed + 1000 * extra, None, params.batch_size
        )
        sets.append(batch)
    return sets


def assess_synthetic_quality(
    generator: KerasModel,
    synthetic_xrays: dict[str, Any],
    xray_arrays: dict[str, np.ndarray],
    xray_split: pd.DataFrame,
    gan_split: pd.DataFrame,
    params: SynthesisParams,
    classes: dict[str, int],
    external_xrays: RawXrayCollection | None = None,
    **ingest_options: Any,
) -> tuple[dict[str, Any], Figure]:
    """Judge the synthetic class against real images of that class, with a plain verdict.

    Main numbers (KID, FID, coverage, real-vs-synthetic AUC) are against the GAN's evaluation
    split (gan_split role "eval": training-split images the GAN never saw); KID-vs-training and
    memorization against the images it trained on (role "train"), which also give coverage's
    real reference. Real images are judged at the generator's resolution
    (generator.output_shape[1]). With an external folder (catalog entry external_xrays,
    ingested with `classes` and data_processing's ingest options, ingest_options: the keyword
    options of data.ingest.ingest_collection), realism and KID are also judged against its
    images of the class ("external"), and that judgement leads the verdict: a few evaluation
    images rarely decide. Returns the JSON report and its figure."""
    from cxr_gan.metrics.gan_quality import gan_quality_report  # TensorFlow
    from cxr_gan.models.synthesis import generator_output_size
    from cxr_gan.reporting.gan_figures import plot_gan_quality

    label = _label_of(params.label, classes)
    _refuse_test_images(xray_split, gan_split)
    training = _class_images(xray_arrays, gan_split, GAN_TRAIN, label, params.seed)
    evaluation = _class_images(xray_arrays, gan_split, GAN_EVAL, label, params.seed)
    if not len(training):
        raise ValueError(
            f"gan_split has no GAN-training images of class '{params.label}'; re-run gan_training"
        )
    gan_size = generator_output_size(generator)
    sets = _quality_sets(generator, synthetic_xrays["images"], label, params)
    report = gan_quality_report(
        sets,
        training,
        settings=params,
        evaluation=evaluation if len(evaluation) else None,
        gan_image_size=gan_size,
        seed=params.seed,
        ssim_size=(side := min(params.quality_image_size, training.shape[1]), side),
    )
    report["compared_with"] = (
        f"{len(evaluation)} evaluation and {len(training)} GAN-training real images of class "
        f"'{params.label}', at the generator's {gan_size} px"
    )
    report["external"] = None
    if external_xrays is not None:
        report["external"] = _external_judgement(
            sets, training, external_xrays, label, gan_size, params, classes, ingest_options
        )
        if report["external"] is not None:
            realism = report["external"]["realism"]
            report["verdict"] += (
                f"; against {report['external']['n_images']} external images: {realism['text']}"
            )
    report["generator"] = getattr(generator, "source_path", "in-memory")
    logger.info(
        "Synthetic '%s' quality (%s features, %d sets): %s. KID x1000 vs evaluation split %s "
        "(95%% CI %s), vs GAN-training images %s; real-vs-synthetic AUC %s; %d memorized "
        "(SSIM >= %.2f)",
        params.label,
        params.feature_extractor,
        len(sets),
        report["verdict"],
        _plus_minus(report["kid_vs_evaluation"], "x1000_mean", "x1000_std_between_sets"),
        range_text((report["kid_vs_evaluation"] or {}).get("x1000_ci95")),
        _plus_minus(report["kid_vs_training"], "x1000_mean", "x1000_std_between_sets"),
        _plus_minus(report["real_vs_synthetic_auc"], "mean", "std_between_sets", ".2f"),
        report["memorization"]["count_above"],
        params.memorization_threshold,
    )
    return report, plot_gan_quality(report, sets, training)


def _external_judgement(
    sets: list[np.ndarray],
    training: np.ndarray,
    external_xrays: RawXrayCollection,
    label: int,
    gan_size: int,
    params: SynthesisParams,
    classes: dict[str, int],
    ingest_options: dict[str, Any],
) -> dict[str, Any] | None:
    """Realism, KID and coverage of the synthetic sets against the external folder's images
    of their class (ingested as the classification pipeline ingests it); None when the folder
    holds fewer than 2 of them."""
    from cxr_gan.data.classification_inputs import external_test_set
    from cxr_gan.metrics.gan_quality import gan_quality_report  # TensorFlow

    external = external_test_set(external_xrays, classes, ingest_options, None, None)
    images = np.asarray(external["images"])[np.asarray(external["labels"]) == label]
    if len(images) < 2:
        logger.warning(
            "GAN quality: the external folder %s has %d image(s) of class '%s': not judged "
            "against it",
            external_xrays.root,
            len(images),
            params.label,
        )
        return None
    report = gan_quality_report(
        sets,
        training,
        settings=params,
        evaluation=images,
        gan_image_size=gan_size,
        seed=params.seed,
        ssim_size=(side := min(params.quality_image_size, training.shape[1]), side),
    )
    logger.info(
        "Synthetic '%s' against %d external images: %s",
        params.label,
        len(images),
        report["realism"]["text"],
    )
    return {
        "n_images": len(images),
        "folder": str(external_xrays.root),
        "realism": report["realism"],
        "kid_vs_external": report["kid_vs_evaluation"],
        "coverage": report["coverage"],
    }


def describe_generator(
    generator: KerasModel,
    gan_history: dict[str, Any],
    gan_split: pd.DataFrame,
    raw_manifest: pd.DataFrame,
    gan_quality_report: dict[str, Any],
    classes: dict[str, int],
) -> dict[str, Any]:
    """The generator's model card ({"card": dict, "markdown": str}, saved as model_card.json and
    model_card.md beside it): the data fingerprint, the classes and image counts it trained on,
    their licences where the raw manifest has a licence column, its settings, the epoch kept, the
    quality figures of gan_quality_report, and its intended use (research; not for diagnosis).
    See cxr_gan.reporting.model_card.build_model_card for the keys."""
    card = build_model_card(
        generator_path=getattr(generator, "source_path", "in-memory"),
        history=gan_history,
        gan_split=gan_split,
        manifest=raw_manifest,
        quality=gan_quality_report,
        classes=classes,
    )
    logger.info(
        "Model card of the generator %s: data fingerprint %s, %d training images",
        card["path"],
        card["data_fingerprint"][:12],
        card["trained_on"]["total"],
    )
    return {"card": card, "markdown": model_card_markdown(card)}


def _plus_minus(block: dict[str, Any] | None, mean: str, spread: str, form: str = ".1f") -> str:
    """'12.3 +- 4.5' from a report block; 'n/a' where the number could not be computed."""
    if not block or block.get(mean) is None:
        return "n/a"
    text = format(block[mean], form)
    return text if block.get(spread) is None else f"{text} +- {format(block[spread], form)}"
