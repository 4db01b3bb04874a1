"""How good, how diverse and how original are synthetic X-rays? Judged against real ones.

- Fidelity: KID (unbiased, trustworthy at 50 images) and FID (biased at 50 images; reported for
  comparison only) on features of either a fixed random CNN (offline, reproducible, but not
  comparable to published numbers) or ImageNet InceptionV3 (the published convention). Both are
  given against the real images the GAN trained on AND against an evaluation split it never saw;
  the latter with a 95% interval that also counts which few real images the split holds (a
  jackknife over them, feature_distances.kid_jackknife).
- Coverage and density (Naeem et al. 2020, k = 5; see coverage.py): does the synthetic set reach
  every part of the real one? Given beside the coverage that an equal number of other real images
  reaches, since coverage depends on the set sizes.
- Detectability: the out-of-fold AUC of a logistic regression telling synthetic from real
  (detectability.py); 0.5 = indistinguishable.
- Diversity: mean pairwise MS-SSIM within a set (ssim.py); higher means more alike. Compared with
  real images brought to the generator's resolution and back, since a 64 px generator cannot show
  446 px detail. With coverage it gives a plain verdict: "collapsed: ..." or "diverse: ...".
- Memorization: each synthetic image's highest SSIM to any real training image; images above a
  threshold are probably copies.

Why the random-CNN features are standardised, and on what scale KID is reported: see
cxr_gan.metrics.feature_distances.FeatureSpace. The report ranks held-out real < blurred < a few
images repeated < noise (tests/metrics/test_report_ranking.py).

Where each part lives: gan_features (the extractors), feature_distances (KID, FID, the feature
space), coverage, detectability, ssim (MS-SSIM, memorization), gan_set_scores (one synthetic
set's numbers), gan_verdict (the words); this module assembles the report, and
cxr_gan.reporting.gan_figures draws its figure.

Images are numpy uint8 arrays of shape (n, h, w) (a trailing channel axis of 1 is accepted);
real and synthetic sets may differ in size and are resized inside each function.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from cxr_gan.metrics import feature_distances, gan_features, gan_verdict, image_sets, ssim
from cxr_gan.metrics.gan_quality_settings import DEFAULTS, GanQualitySettings
from cxr_gan.metrics.gan_set_scores import RealSides, ScoreSettings, evaluation_images, set_scores
from cxr_gan.progress import ProgressLog

__all__ = ["gan_quality_report"]

logger = logging.getLogger(__name__)


def _number(value: float | None) -> float | None:
    """A JSON-safe float: NaN and infinity become None (json.dumps would write invalid JSON)."""
    if value is None or not np.isfinite(value):
        return None
    return float(value)


def _mean_std(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """Mean over sample sets and the spread between them (std, ddof 1; None for one set)."""
    present = [v for v in values if v is not None]
    if not present:
        return None, None
    spread = float(np.std(present, ddof=1)) if len(present) > 1 else None
    return _number(float(np.mean(present))), _number(spread)


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return _number(float(value))
    return value


def _kid_block(per_set: list[dict[str, Any]], real: RealSides, s: ScoreSettings) -> dict[str, Any]:
    """The top-level KID keys (against the main real set), as earlier reports had them."""
    kids = [entry["kid_mean"] for entry in per_set]
    between = _mean_std(kids)[1]
    within = float(np.mean([entry["kid_std_subsets"] for entry in per_set]))
    kid_std = between if between is not None else within
    mean = float(np.mean(kids))
    return {
        "kid_against": real.main_name,
        "kid_mean": mean,
        "kid_std": kid_std,
        "kid_std_kind": "between_sets" if between is not None else "subsets",
        "kid_std_between_sets": between,
        "kid_std_subsets": within,
        "kid_x1000_mean": 1000 * mean,
        "kid_x1000_std": 1000 * kid_std,
        "kid_subsets": s.kid_subsets,
        "kid_subset_size": s.kid_subset_size
        or min(len(real.main), *(entry["n"] for entry in per_set), 1000),
    }


def _evaluation_se(
    space: feature_distances.FeatureSpace, real: RealSides, features: list[np.ndarray]
) -> tuple[float, float] | None:
    """x1000 jackknife standard errors of KID vs the evaluation split: over its real images, and
    over the synthetic images (sets pooled); their root sum of squares is the two-sample
    jackknife's. None without at least 3 evaluation and 3 synthetic images."""
    fake = np.concatenate(features)
    if real.evaluation_features is None or min(len(real.evaluation_features), len(fake)) < 3:
        return None
    _, leave_real_out, leave_fake_out = feature_distances.kid_jackknife(
        space.kernel_features(real.evaluation_features), space.kernel_features(fake)
    )
    return (
        1000 * feature_distances.jackknife_se(leave_real_out),
        1000 * feature_distances.jackknife_se(leave_fake_out),
    )


def _labelled_kids(
    per_set: list[dict[str, Any]], real: RealSides, errors: tuple[float, float] | None
) -> dict[str, Any]:
    """KID against the evaluation split (with a 95% interval that counts both the synthetic
    images and the few evaluation images) and against the GAN-training images, each labelled."""
    mean, spread = _mean_std([1000 * entry["kid_mean"] for entry in per_set])
    train_mean, train_spread = _mean_std([entry["kid_vs_training_x1000"] for entry in per_set])
    has_evaluation = real.evaluation_features is not None
    interval = None
    if has_evaluation and mean is not None and errors is not None:
        half = 1.96 * float(np.hypot(*errors))
        interval = [mean - half, mean + half]
    return {
        "kid_vs_evaluation": {
            "x1000_mean": mean,
            "x1000_std_between_sets": spread,
            "x1000_se_evaluation_images": None if errors is None else errors[0],
            "x1000_se_synthetic_images": None if errors is None else errors[1],
            "x1000_ci95": interval,
            "n_real": len(real.evaluation_features),
            "note": "the honest realism number: real images the GAN never trained on. "
            "x1000_ci95 (mean +- 1.96 x the two-sample jackknife SE) counts both sources of "
            "chance: which synthetic images were drawn and which few real images the evaluation "
            "split holds; with about 16 evaluation images the second dominates, and KIDs whose "
            "intervals overlap do not rank two generators. null under 3 evaluation images",
        }
        if has_evaluation
        else None,
        "kid_vs_training": {
            "x1000_mean": train_mean,
            "x1000_std_between_sets": train_spread,
            "n_real": len(real.training_features),
            "note": "against the images the GAN trained on: well below the evaluation-split KID "
            "means it reproduces its training images rather than their distribution",
        },
    }


def _coverage_block(
    per_set: list[dict[str, Any]], real: RealSides, s: ScoreSettings, min_ratio: float
) -> dict[str, Any]:
    block: dict[str, Any] = {"against": real.main_name}
    for key in ("coverage", "density", "precision", "recall"):
        block[f"{key}_mean"], block[f"{key}_std"] = _mean_std([e[key] for e in per_set])
    references = [e["real_reference"] for e in per_set if e["real_reference"] is not None]
    block["real_reference"] = None
    block["ratio_to_real"] = None
    if references:
        reference: dict[str, Any] = {"n_images": references[0]["n"]}
        for key in ("coverage", "density", "kid_x1000", "synthetic_coverage_same_n"):
            reference[f"{key}_mean"], reference[f"{key}_std"] = _mean_std(
                [r[key] for r in references]
            )
        reference["note"] = (
            "an equal number of other real (GAN-training) images against the evaluation split: "
            "what a perfect generator would reach with this many images"
        )
        block["real_reference"] = reference
        if reference["coverage_mean"]:
            block["ratio_to_real"] = (
                reference["synthetic_coverage_same_n_mean"] / reference["coverage_mean"]
            )
    block["note"] = (
        f"Naeem et al. 2020, k = {s.coverage_k}: the fraction of real images with a synthetic "
        f"one among their k nearest real neighbours' radius; below {min_ratio:g}x the real "
        "reference counts as missing modes"
    )
    return block


def _diversity_block(
    per_set: list[dict[str, Any]],
    real_at_gan: np.ndarray,
    real_full: np.ndarray,
    gan_image_size: int | None,
    margin: float,
    s: ScoreSettings,
) -> dict[str, Any]:
    settings = ssim.ms_ssim_settings(min(s.size))
    synthetic, synthetic_spread = _mean_std([e["ms_ssim"] for e in per_set])
    real = ssim.mean_pairwise_ms_ssim(real_at_gan, s.ms_ssim_max_pairs, s.seed, s.size)
    full = (
        ssim.mean_pairwise_ms_ssim(real_full, s.ms_ssim_max_pairs, s.seed, s.size)
        if real_full.shape[1:] != real_at_gan.shape[1:]
        else real
    )
    return {
        "synthetic_ms_ssim": synthetic,
        "synthetic_ms_ssim_std_between_sets": synthetic_spread,
        "real_ms_ssim": real,
        "real_ms_ssim_full_size": full,
        "gan_image_size": gan_image_size,
        "margin": margin,
        "note": "mean pairwise MS-SSIM; higher = less diverse. real_ms_ssim: real images brought "
        "to the generator's resolution and back (the fair comparison, used by the verdict); "
        "real_ms_ssim_full_size: without that round trip",
        "image_size": list(s.size),
        "scales": settings.scales,
        "filter_size": settings.filter_size,
        "max_pairs": s.ms_ssim_max_pairs,
    }


def _memorization_block(
    sets: list[np.ndarray], training: np.ndarray, threshold: float, size: tuple[int, int]
) -> dict[str, Any]:
    nearest, nearest_index, set_index, index_in_set = [], [], [], []
    for number, images in enumerate(sets):
        best, best_index = ssim.nearest_real_ssim(images, training, size)
        nearest += best.tolist()
        nearest_index += best_index.tolist()
        set_index += [number] * len(images)
        index_in_set += list(range(len(images)))
    return {
        "against": "GAN-training images",
        "threshold": threshold,
        "count_above": ssim.count_memorized(np.array(nearest), threshold),
        "max_ssim": max(nearest),
        "image_size": list(size),
        "nearest_ssim": nearest,
        "nearest_real_index": nearest_index,
        "set_index": set_index,
        "index_in_set": index_in_set,
    }


def _realism_block(
    per_set: list[dict[str, Any]],
    real: RealSides,
    gan_image_size: int | None,
    settings: GanQualitySettings,
) -> dict[str, Any]:
    """Realism by the floor rule: the real-vs-synthetic AUC (mean over sets, 95% interval from
    the mean DeLong variance, which bounds the variance of a mean of correlated sets) beside
    the floor, the AUC that as many other real images at the GAN's resolution reach against the
    same evaluation images; gan_verdict.realism_verdict says what the two mean together."""
    aucs = [e["real_vs_synthetic_auc"] for e in per_set]
    ses = [e["real_vs_synthetic_auc_se"] for e in per_set]
    references = [e["real_reference"] for e in per_set if e["real_reference"] is not None]
    floors = [r["auc"] for r in references if r.get("auc") is not None]
    auc = _mean_std(aucs)[0]
    interval = None
    if auc is not None and all(se is not None for se in ses):
        half = 1.96 * float(np.sqrt(np.mean(np.square(ses))))
        interval = [max(0.0, auc - half), min(1.0, auc + half)]
    floor = _mean_std(floors)[0]
    n_real = 0 if real.evaluation_features is None else len(real.evaluation_features)
    status, text = gan_verdict.realism_verdict(
        auc, interval, floor, n_real, gan_image_size, settings
    )
    return {
        "status": status,
        "text": text,
        "auc": auc,
        "auc_ci95": interval,
        "floor_auc": floor,
        "limit": None if floor is None else gan_verdict.realism_limit(floor, settings),
        "n_evaluation": n_real,
        "note": "real-vs-synthetic AUC (out-of-fold logistic regression on the report's "
        "features) against its floor: other real (GAN-training) images at the generator's "
        "resolution, scored the same way against the same evaluation images. Realistic when "
        "the AUC is at most max(floor + realism_margin, realism_ceiling) and its interval's "
        "upper end at most that + realism_slack; told from real when the whole interval lies "
        "above that limit; otherwise the evaluation images are too few to decide",
    }


def _report_verdict(
    coverage: dict[str, Any],
    diversity: dict[str, Any],
    gan_image_size: int | None,
    margin: float,
    min_ratio: float,
) -> tuple[bool, bool, str]:
    """quality_verdict on the report's blocks: coverage at equal numbers against the real
    reference when there is one, else the plain coverage without a reference."""
    reference = coverage["real_reference"]
    return gan_verdict.quality_verdict(
        diversity["synthetic_ms_ssim"],
        diversity["real_ms_ssim"],
        gan_image_size,
        reference["synthetic_coverage_same_n_mean"] if reference else coverage["coverage_mean"],
        reference["coverage_mean"] if reference else None,
        margin,
        min_ratio,
    )


def gan_quality_report(
    synthetic: image_sets.ImageSet,
    real: np.ndarray,
    extractor: gan_features.FeatureExtractor | None = None,
    *,
    settings: GanQualitySettings = DEFAULTS,
    evaluation: np.ndarray | None = None,
    gan_image_size: int | None = None,
    seed: int = 0,
    feature_seed: int = 0,
    random_cnn_size: int = 128,
    standardize_features: bool | None = None,
    kid_subset_size: int | None = None,
    kid_subsets: int = 100,
    ms_ssim_max_pairs: int = 1000,
    ssim_size: tuple[int, int] | None = None,
    batch_size: int = 32,
) -> dict[str, Any]:
    """Realism, coverage, detectability, diversity and memorization of synthetic images, as JSON.

    `synthetic`: uint8 (n, h, w), or a list of such arrays, one per sampling seed (50 images
    alone are noisy: the report gives each number's mean over sets and the spread between them).
    `real`: uint8 (n, h, w) real images the GAN TRAINED on (KID-vs-training, memorization, the
    coverage reference). `evaluation`: real images of the same class it never trained on; when
    given, the main numbers (kid_*, fid, coverage, AUC) are against it, else against `real`.
    `gan_image_size`: the generator's side; real images are first brought down to it
    (cv2.INTER_AREA), so a small generator is judged at its own resolution. `ssim_size`: the
    (h, w) at which SSIM and MS-SSIM compare (default: the smallest size present).
    `settings` (GanQualitySettings, which the synthesis parameters extend): the feature
    extractor (built here unless `extractor` is given), thresholds and the realism rule.
    `standardize_features` defaults to True for the random CNN and False for InceptionV3 (see
    FeatureSpace). `seed` drives KID subsets, MS-SSIM pairs, AUC folds and reference draws;
    `feature_seed` fixes the random CNN, so keep both constant to compare runs. The verdict:
    collapsed when synthetic MS-SSIM > real (at the GAN's resolution) + collapse_margin, or
    coverage < min_coverage_ratio x that of an equal number of other real images; realism by
    the floor rule (gan_verdict.realism_verdict): the real-vs-synthetic AUC against the AUC
    that other real images at the GAN's resolution reach."""
    coverage_k, auc_folds = settings.coverage_k, settings.auc_folds
    collapse_margin, min_coverage_ratio = settings.collapse_margin, settings.min_coverage_ratio
    sets = [
        image_sets.at_gan_resolution(images, gan_image_size)
        for images in image_sets.as_image_sets(synthetic)
    ]
    training, held_out = image_sets.as_image_array(real, "real"), evaluation_images(evaluation)
    if extractor is None:
        extractor = gan_features.build_feature_extractor(
            settings.feature_extractor, feature_seed, random_cnn_size, settings.inception_weights
        )
    real_sides = RealSides.prepare(training, held_out, gan_image_size, extractor, batch_size)
    standardize = (
        extractor.name == "random_cnn" if standardize_features is None else standardize_features
    )
    space = feature_distances.FeatureSpace.fit(real_sides.pooled_features, standardize)
    score_settings = ScoreSettings(
        seed,
        kid_subset_size,
        kid_subsets,
        ms_ssim_max_pairs,
        coverage_k,
        auc_folds,
        tuple(ssim_size or image_sets.common_size(real_sides.training, *sets)),
    )
    per_set, set_features = [], []
    progress = ProgressLog(len(sets), "GAN quality", logger, unit="synthetic sets")
    for number, images in enumerate(sets):
        set_features.append(extractor(images, batch_size))
        per_set.append(
            set_scores(space, real_sides, images, set_features[-1], number, score_settings)
        )
        progress.update(extra=f"KID x1000 {per_set[-1]['kid_x1000_mean']:.1f}")

    coverage = _coverage_block(per_set, real_sides, score_settings, min_coverage_ratio)
    diversity = _diversity_block(
        per_set,
        image_sets.stack_images(real_sides.training, real_sides.evaluation),
        image_sets.stack_images(training, held_out),
        gan_image_size,
        collapse_margin,
        score_settings,
    )
    collapsed, missing_modes, verdict = _report_verdict(
        coverage, diversity, gan_image_size, collapse_margin, min_coverage_ratio
    )
    auc_mean, auc_std = _mean_std([e["real_vs_synthetic_auc"] for e in per_set])
    realism = _realism_block(per_set, real_sides, gan_image_size, settings)
    verdict = gan_verdict.with_realism(verdict, realism)
    report = {
        "verdict": verdict,
        "collapsed": collapsed,
        "missing_modes": missing_modes,
        "feature_extractor": extractor.name,
        "feature_extractor_note": extractor.description,
        "feature_dim": extractor.feature_dim,
        "feature_space": space.description,
        "gan_image_size": gan_image_size,
        "real_images_note": f"real images brought to the generator's {gan_image_size} px "
        "(cv2.INTER_AREA), then resized like the synthetic ones"
        if gan_image_size
        else "real images at their own size",
        "n_real": len(training),
        "n_training": len(training),
        "n_evaluation": 0 if held_out is None else len(held_out),
        "n_synthetic": sum(len(images) for images in sets),
        "n_synthetic_sets": len(sets),
        "synthetic_set_sizes": [len(images) for images in sets],
        **_kid_block(per_set, real_sides, score_settings),
        **_labelled_kids(per_set, real_sides, _evaluation_se(space, real_sides, set_features)),
        "fid": float(np.mean([e["fid"] for e in per_set])),
        "fid_note": "FID is strongly biased at this sample size; trust KID at ~50 images",
        "coverage": coverage,
        "real_vs_synthetic_auc": {
            "mean": auc_mean,
            "std_between_sets": auc_std,
            "against": real_sides.main_name,
            "note": "out-of-fold AUC of a logistic regression on the report's features telling "
            "synthetic from real: 0.5 = indistinguishable, 1.0 = every synthetic image told apart",
        },
        "realism": realism,
        "per_set": per_set,
        "diversity": diversity,
        "memorization": _memorization_block(
            sets, real_sides.training, settings.memorization_threshold, score_settings.size
        ),
        "settings": {
            "coverage_k": coverage_k,
            "collapse_margin": collapse_margin,
            "min_coverage_ratio": min_coverage_ratio,
            "auc_folds": auc_folds,
            "realism_margin": settings.realism_margin,
            "realism_ceiling": settings.realism_ceiling,
            "realism_slack": settings.realism_slack,
        },
        "seed": seed,
        "feature_seed": feature_seed,
    }
    return _json_safe(report)
