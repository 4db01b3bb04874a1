"""KID, FID and the feature space the GAN-quality report compares features in (no TensorFlow).

Why the random-CNN features are standardised: raw random-ReLU features share a large common mean,
so KID's cubic kernel saw little but the mean and rated one realistic image repeated 50 times as
excellent (KID x1000 27.8 on a collapsed generator). Each feature is therefore centred and scaled
by the real images' statistics (FeatureSpace); KID and FID then see the standardised vectors
scaled to norm sqrt(d), which keeps the cubic kernel bounded (a few off-distribution images cannot
dominate it). With that, the report ranks held-out real < blurred < a few images repeated < noise
(tests/metrics/test_report_ranking.py); KID numbers are on this scale, not the raw one.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from cxr_gan.metrics.coverage import NAEEM_K, knn_scores

logger = logging.getLogger(__name__)


def _as_features(features: np.ndarray, what: str) -> np.ndarray:
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"{what}: expected at least 2 feature rows (n, d), got {features.shape}")
    return features


def _cubic_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """KID's kernel k(a, b) = (a.b / d + 1)^3 between the rows of x (n, d) and y (m, d)."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def _polynomial_mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, as in Binkowski et al.'s KID code."""
    m = len(x)
    k_xx, k_yy, k_xy = _cubic_kernel(x, x), _cubic_kernel(y, y), _cubic_kernel(x, y)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.sum() / (m * m))


def kernel_inception_distance(
    real_features: np.ndarray,
    fake_features: np.ndarray,
    subset_size: int | None = None,
    n_subsets: int = 100,
    seed: int = 0,
) -> tuple[float, float]:
    """KID (Binkowski et al. 2018): mean and std of the unbiased cubic-kernel MMD^2 over random
    subsets (drawn without replacement). Unbiased, so unlike FID it is usable at 50 images;
    about 0 for the same distribution (it can be slightly negative). Multiply by 1000 for the
    usual reporting unit. subset_size defaults to min(len(real), len(fake), 1000)."""
    real = _as_features(real_features, "real_features")
    fake = _as_features(fake_features, "fake_features")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sizes differ: real {real.shape[1]}, fake {fake.shape[1]}")
    largest = min(len(real), len(fake))
    size = min(largest, 1000) if subset_size is None else subset_size
    if not 2 <= size <= largest:
        raise ValueError(f"subset_size must be in 2..{largest}, got {size}")
    if n_subsets < 2:
        raise ValueError(f"n_subsets must be at least 2 to give a spread, got {n_subsets}")
    rng = np.random.default_rng(seed)
    values = [
        _polynomial_mmd2_unbiased(
            fake[rng.choice(len(fake), size, replace=False)],
            real[rng.choice(len(real), size, replace=False)],
        )
        for _ in range(n_subsets)
    ]
    return float(np.mean(values)), float(np.std(values))


def _leave_one_out(k_same: np.ndarray, other_within: float, cross_rows: np.ndarray, m: int):
    """MMD^2 with each row of one side left out in turn: k_same (n, n) that side's kernel with
    a zero diagonal, other_within the other side's mean off-diagonal kernel, cross_rows (n,)
    each row's kernel sum against the m rows of the other side."""
    n = len(k_same)
    within = (k_same.sum() - 2.0 * k_same.sum(axis=1)) / ((n - 1) * (n - 2))
    return other_within + within - 2.0 * (cross_rows.sum() - cross_rows) / ((n - 1) * m)


def kid_jackknife(
    real_features: np.ndarray, fake_features: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """KID from all pairs, and the values it takes with each real row, then each fake row, left
    out in turn: the two halves of a two-sample jackknife (jackknife_se of each, combined as
    the root sum of squares).

    real (n, d) and fake (m, d) float features, n, m >= 3, already in the kernel space
    (FeatureSpace.kernel_features). The estimate is the unbiased MMD^2 of Gretton et al. 2012
    with the KID kernel (x.y / d + 1)^3 (Binkowski et al. 2018) over every pair rather than
    over equal-size subsets, so sets of different sizes use all their rows. With the 16-image
    evaluation split of a 100-per-class folder, the real-side half, not the spread between
    synthetic sets, is the larger part of KID's uncertainty. Returns (float, float64 (n,),
    float64 (m,)), all raw MMD^2 (multiply by 1000 for the usual unit). Raises ValueError on
    fewer rows or different feature sizes."""
    real = _as_features(real_features, "real_features")
    fake = _as_features(fake_features, "fake_features")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sizes differ: real {real.shape[1]}, fake {fake.shape[1]}")
    n, m = len(real), len(fake)
    if min(n, m) < 3:
        raise ValueError(f"leaving one out needs at least 3 rows a side, got real {n}, fake {m}")
    k_rr, k_ff, k_rf = (
        _cubic_kernel(real, real),
        _cubic_kernel(fake, fake),
        _cubic_kernel(real, fake),
    )
    np.fill_diagonal(k_rr, 0.0)
    np.fill_diagonal(k_ff, 0.0)
    real_within, fake_within = k_rr.sum() / (n * (n - 1)), k_ff.sum() / (m * (m - 1))
    full = real_within + fake_within - 2.0 * k_rf.mean()
    return (
        float(full),
        _leave_one_out(k_rr, fake_within, k_rf.sum(axis=1), m),
        _leave_one_out(k_ff, real_within, k_rf.sum(axis=0), n),
    )


def jackknife_se(leave_one_out: np.ndarray) -> float:
    """Jackknife standard error (Efron & Tibshirani 1993, ch. 11) from the n >= 2 values a
    statistic takes with each observation left out: sqrt((n - 1) / n * sum((v - mean)^2)),
    in the statistic's unit. Raises ValueError unless given a 1-d array of at least 2 values."""
    values = np.asarray(leave_one_out, np.float64)
    if values.ndim != 1 or len(values) < 2:
        raise ValueError(f"expected at least 2 leave-one-out values, got shape {values.shape}")
    n = len(values)
    return float(np.sqrt((n - 1) / n * np.sum((values - values.mean()) ** 2)))


def frechet_distance(
    real_features: np.ndarray, fake_features: np.ndarray, eps: float = 1e-6
) -> float:
    """FID formula: |mu_r - mu_f|^2 + Tr(S_r + S_f - 2 sqrt(S_r S_f)).

    Strongly biased upwards at small n (it depends on the sample size, and with 50 images the
    covariances are singular in 256 or 2048 dimensions): compare FIDs only at equal n and trust
    KID at 50 images. As in the reference implementation, eps is added to the covariance
    diagonals when the square root is not finite, and small imaginary parts are dropped."""
    real = _as_features(real_features, "real_features")
    fake = _as_features(fake_features, "fake_features")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sizes differ: real {real.shape[1]}, fake {fake.shape[1]}")
    mu_diff = real.mean(axis=0) - fake.mean(axis=0)
    sigma_r = np.atleast_2d(np.cov(real, rowvar=False))
    sigma_f = np.atleast_2d(np.cov(fake, rowvar=False))
    with warnings.catch_warnings():
        # with fewer samples than dimensions the covariances are singular by construction
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma_r @ sigma_f)
        if not np.isfinite(covmean).all():
            logger.warning(
                "FID: covariance product has no finite sqrt; adding %g to diagonals", eps
            )
            offset = np.eye(len(sigma_r)) * eps
            covmean = linalg.sqrtm((sigma_r + offset) @ (sigma_f + offset))
    if np.iscomplexobj(covmean):
        imaginary = float(np.max(np.abs(np.diagonal(covmean).imag)))
        if imaginary > 1e-3:
            logger.warning("FID: dropping an imaginary part of up to %.3g (few samples)", imaginary)
        covmean = covmean.real
    return float(mu_diff @ mu_diff + np.trace(sigma_r) + np.trace(sigma_f) - 2 * np.trace(covmean))


@dataclass(frozen=True)
class FeatureSpace:
    """Where the report compares feature vectors: standardised by real images' statistics.

    Raw random-CNN features share a large positive mean (ReLU outputs), so a kernel on them sees
    mostly that mean: a set of a few images repeated has about the real mean and scored as
    excellent. Centring and scaling each feature by the real images' mean and std makes every
    feature count by how much it varies between real images. The std is floored at its median
    over features, so near-constant features (a dead ReLU, a flat border) cannot blow up.
    `center` and `scale` are float64 (d,); both None = raw features (the published convention
    for InceptionV3 KID/FID)."""

    center: np.ndarray | None
    scale: np.ndarray | None

    @classmethod
    def fit(cls, real_features: np.ndarray, standardize: bool = True) -> FeatureSpace:
        """Fit on real features (n, d), n >= 2; standardize=False keeps features raw."""
        real = _as_features(real_features, "real_features")
        if not standardize:
            return cls(None, None)
        std = real.std(axis=0)
        floor = float(np.median(std)) or float(std.mean()) or 1.0
        return cls(real.mean(axis=0), np.maximum(std, floor))

    @property
    def description(self) -> str:
        if self.center is None:
            return "raw features (the published KID/FID convention)"
        return (
            "features centred and scaled by the real images' mean and std (std floored at its "
            "median); KID and FID on these vectors scaled to norm sqrt(d), coverage and the "
            "real-vs-synthetic classifier on the standardised vectors"
        )

    def standardize(self, features: np.ndarray) -> np.ndarray:
        """(n, d) -> (n, d) float64: the space of coverage, density and the AUC."""
        features = np.asarray(features, np.float64)
        if self.center is None:
            return features
        return (features - self.center) / self.scale

    def kernel_features(self, features: np.ndarray) -> np.ndarray:
        """(n, d) -> (n, d): standardised rows scaled to norm sqrt(d), so KID's kernel
        (x.y / d + 1)^3 sees cosines in [-1, 1]; raw features stay raw."""
        standardized = self.standardize(features)
        if self.center is None:
            return standardized
        norms = np.linalg.norm(standardized, axis=1, keepdims=True)
        return standardized / np.maximum(norms, 1e-12) * np.sqrt(standardized.shape[1])


def compare_features(
    space: FeatureSpace,
    real_features: np.ndarray,
    fake_features: np.ndarray,
    *,
    k: int = NAEEM_K,
    kid_subset_size: int | None = None,
    kid_subsets: int = 100,
    seed: int = 0,
    fid: bool = True,
) -> dict[str, float | None]:
    """KID (mean and spread over subsets), FID, and k-NN precision/recall/density/coverage of
    fake (M, d) against real (N, d) raw features, in `space`. The k-NN scores are None when
    either set has at most k rows; FID is None with fid=False (its matrix square root is the
    slow part). kid_subset_size is capped at the smaller set."""
    real_kernel, fake_kernel = (
        space.kernel_features(real_features),
        space.kernel_features(fake_features),
    )
    largest = min(len(real_kernel), len(fake_kernel), 1000)
    size = largest if kid_subset_size is None else min(kid_subset_size, largest)
    kid_mean, kid_std = kernel_inception_distance(real_kernel, fake_kernel, size, kid_subsets, seed)
    scores: dict[str, float | None] = {
        "kid_mean": kid_mean,
        "kid_std_subsets": kid_std,
        "fid": frechet_distance(real_kernel, fake_kernel) if fid else None,
    }
    if min(len(real_kernel), len(fake_kernel)) > k:
        knn = knn_scores(space.standardize(real_features), space.standardize(fake_features), k)
        scores.update(knn.as_dict())
    else:
        scores.update(dict.fromkeys(("precision", "recall", "density", "coverage")))
    return scores


def kid_contrast(
    evaluation: np.ndarray, others: dict[str, np.ndarray], weights: dict[str, float]
) -> tuple[float, float, dict[str, float]]:
    """A weighted sum of KIDs against ONE set of real evaluation features, with its two-sample
    jackknife standard error, e.g. the paired target (gap_old / 2 - gap_new) with
    weights {old: 0.5, old_floor: -0.5, new: -1, new_floor: 1}.

    evaluation (n, d) and each of `others` (m_i, d): features already in the kernel space
    (FeatureSpace.kernel_features), n, m_i >= 3. Every KID is kid_jackknife's all-pairs
    estimate. Sharing the evaluation images pairs the KIDs: their leave-one-evaluation-image-out
    values are combined with the weights BEFORE the jackknife, so which few real images were
    drawn cancels where it moves every KID alike; each other set's own jackknife half is
    independent and adds in quadrature (weight x SE). Returns (value, se, {name: KID}), raw
    MMD^2 units (x1000 for the usual unit). Raises KeyError for a weight naming no set."""
    total, paired = 0.0, np.zeros(len(evaluation))
    own_variance, kids = 0.0, {}
    for name, weight in weights.items():
        kid, leave_real_out, leave_other_out = kid_jackknife(evaluation, others[name])
        kids[name] = kid
        total += weight * kid
        paired += weight * leave_real_out
        own_variance += (weight * jackknife_se(leave_other_out)) ** 2
    return float(total), float(np.sqrt(jackknife_se(paired) ** 2 + own_variance)), kids
