"""One synthetic set's numbers for the GAN-quality report, against the real sides.

Every set is scored against the main real set (the evaluation split, else the GAN-training
images), against the GAN-training images, and beside a real reference: an equal number of
other real images, since coverage grows with the set size.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from cxr_gan.metrics.coverage import knn_scores
from cxr_gan.metrics.detectability import real_vs_synthetic_auc_se
from cxr_gan.metrics.feature_distances import (
    FeatureSpace,
    compare_features,
    kernel_inception_distance,
)
from cxr_gan.metrics.gan_features import FeatureExtractor
from cxr_gan.metrics.image_sets import as_image_array, at_gan_resolution
from cxr_gan.metrics.ssim import mean_pairwise_ms_ssim

logger = logging.getLogger(__name__)


def evaluation_images(evaluation: np.ndarray | None) -> np.ndarray | None:
    """The evaluation split as (n, h, w), or None when absent or too small to compare with."""
    if evaluation is None:
        return None
    if len(evaluation) < 2:
        logger.warning(
            "GAN quality: %d evaluation image(s) cannot give KID or coverage; comparing with the "
            "GAN-training images instead",
            len(evaluation),
        )
        return None
    return as_image_array(evaluation, "evaluation")


@dataclass(frozen=True)
class RealSides:
    """The real sides of a report, already at the generator's resolution, with features."""

    training: np.ndarray
    training_features: np.ndarray
    evaluation: np.ndarray | None
    evaluation_features: np.ndarray | None

    @classmethod
    def prepare(
        cls,
        training: np.ndarray,
        evaluation: np.ndarray | None,
        gan_image_size: int | None,
        extractor: FeatureExtractor,
        batch_size: int,
    ) -> RealSides:
        """Bring both real sides to the generator's resolution and extract their features."""
        training = at_gan_resolution(training, gan_image_size)
        evaluation = None if evaluation is None else at_gan_resolution(evaluation, gan_image_size)
        return cls(
            training,
            extractor(training, batch_size),
            evaluation,
            None if evaluation is None else extractor(evaluation, batch_size),
        )

    @property
    def pooled_features(self) -> np.ndarray:
        """All real features: what the feature space is standardised by."""
        if self.evaluation_features is None:
            return self.training_features
        return np.concatenate([self.training_features, self.evaluation_features])

    @property
    def main(self) -> np.ndarray:
        """Features the main numbers compare with: the evaluation split, else training."""
        if self.evaluation_features is not None:
            return self.evaluation_features
        return self.training_features

    @property
    def main_name(self) -> str:
        if self.evaluation_features is not None:
            return "evaluation split (real images the GAN never trained on)"
        return "GAN-training images (no evaluation split given)"


@dataclass(frozen=True)
class ScoreSettings:
    """The report's settings that every set is scored with."""

    seed: int
    kid_subset_size: int | None
    kid_subsets: int
    ms_ssim_max_pairs: int
    coverage_k: int
    auc_folds: int
    size: tuple[int, int]

    def compare(
        self, space: FeatureSpace, real: np.ndarray, fake: np.ndarray, fid: bool = True
    ) -> dict[str, float | None]:
        """compare_features with these settings (k, KID subsets, seed)."""
        return compare_features(
            space,
            real,
            fake,
            k=self.coverage_k,
            kid_subset_size=self.kid_subset_size,
            kid_subsets=self.kid_subsets,
            seed=self.seed,
            fid=fid,
        )


def real_reference(
    space: FeatureSpace, real: RealSides, fake_features: np.ndarray, number: int, s: ScoreSettings
) -> dict[str, Any] | None:
    """What an equal number of other real (GAN-training) images reach against the evaluation
    split, and the synthetic coverage at that same number (coverage grows with set size).

    fake_features: float (M, d) raw features of the synthetic set, d as real's features;
    number: the set's index, which seeds the draw of n = min(M, N_training) rows from each side.
    Returns {"n", "kid_x1000" (KID of Binkowski et al. 2018, x1000), "coverage" (0..1) and
    "density" (>= 0; both Naeem et al. 2020), "synthetic_coverage_same_n", "auc" and "auc_se"
    (real-vs-"synthetic" AUC of these other real images and its DeLong SE: the realism floor,
    None with fewer than 2 rows a side)}, or None without an
    evaluation split or when n or the evaluation split has at most coverage_k rows. Raises
    ValueError when the feature sizes differ or kid_subsets < 2."""
    if real.evaluation_features is None:
        return None
    n = min(len(fake_features), len(real.training_features))
    if n <= s.coverage_k or len(real.evaluation_features) <= s.coverage_k:
        return None
    rng = np.random.default_rng([s.seed, number])
    others = real.training_features[np.sort(rng.choice(len(real.training_features), n, False))]
    scores = s.compare(space, real.evaluation_features, others, fid=False)
    fakes = fake_features[np.sort(rng.choice(len(fake_features), n, False))]
    synthetic = knn_scores(
        space.standardize(real.evaluation_features), space.standardize(fakes), s.coverage_k
    )
    floor = real_vs_synthetic_auc_se(
        space.standardize(real.evaluation_features), space.standardize(others), s.auc_folds, s.seed
    )
    return {
        "n": n,
        "kid_x1000": 1000 * scores["kid_mean"],
        "coverage": scores["coverage"],
        "density": scores["density"],
        "synthetic_coverage_same_n": synthetic.coverage,
        "auc": None if floor is None else floor[0],
        "auc_se": None if floor is None else floor[1],
    }


def set_scores(
    space: FeatureSpace,
    real: RealSides,
    images: np.ndarray,
    features: np.ndarray,
    number: int,
    s: ScoreSettings,
) -> dict[str, Any]:
    """Every per-set number: against the main real set, the training images and the reference.

    images: the synthetic set, uint8 (M, h, w) 0..255 at the generator's resolution; features:
    float (M, d) its raw features, d as real's; number: the set's index (seeds the reference
    draw). Returns "n" (M); KID (Binkowski et al. 2018) as kid_mean, kid_std_subsets and x1000
    against the main real set, kid_vs_training_x1000; "fid" (Heusel et al. 2017); k-NN
    precision, recall, coverage (0..1) and density (>= 0, Naeem et al. 2020), None when a set has
    at most coverage_k rows; real_vs_synthetic_auc (0..1, 0.5 = indistinguishable, or None) and
    real_vs_synthetic_auc_se (DeLong, or None);
    "ms_ssim" (Wang et al. 2003; at most 1, higher = less diverse), None under 2 images; and
    real_reference. Raises ValueError when the feature sizes differ, a KID subset would be
    under 2 rows (fewer than 2 synthetic or training images), kid_subsets < 2, or images are
    under 6 px for MS-SSIM."""
    main = s.compare(space, real.main, features)
    vs_training = kernel_inception_distance(
        space.kernel_features(real.training_features),
        space.kernel_features(features),
        min(len(features), len(real.training_features), s.kid_subset_size or 1000),
        s.kid_subsets,
        s.seed,
    )[0]
    return {
        "n": len(images),
        "kid_mean": main["kid_mean"],
        "kid_std_subsets": main["kid_std_subsets"],
        "kid_x1000_mean": 1000 * main["kid_mean"],
        "kid_vs_training_x1000": 1000 * vs_training,
        "fid": main["fid"],
        **{key: main[key] for key in ("coverage", "density", "precision", "recall")},
        **dict(
            zip(
                ("real_vs_synthetic_auc", "real_vs_synthetic_auc_se"),
                real_vs_synthetic_auc_se(
                    space.standardize(real.main), space.standardize(features), s.auc_folds, s.seed
                )
                or (None, None),
                strict=True,
            )
        ),
        "ms_ssim": mean_pairwise_ms_ssim(images, s.ms_ssim_max_pairs, s.seed, s.size)
        if len(images) > 1
        else None,
        "real_reference": real_reference(space, real, features, number, s),
    }
