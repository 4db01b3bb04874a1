"""How good, how diverse and how original are synthetic X-rays? Judged against real ones.

- Fidelity: KID (unbiased, trustworthy at 50 images) and FID (biased at 50 images; reported for
  comparison only) on features of either a fixed random CNN (offline, reproducible, but not
  comparable to published numbers) or ImageNet InceptionV3 (the published convention). Both are
  given against the real images the GAN trained on AND against an evaluation split it never saw.
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

Why the random-CNN features are standardised: raw random-ReLU features share a large common mean,
so KID's cubic kernel saw little but the mean and rated one realistic image repeated 50 times as
excellent (KID x1000 27.8 on a collapsed generator). Each feature is therefore centred and scaled
by the real images' statistics (FeatureSpace); KID and FID then see the standardised vectors
scaled to norm sqrt(d), which keeps the cubic kernel bounded (a few off-distribution images cannot
dominate it). With that, the report ranks held-out real < blurred < a few images repeated < noise
(tests/metrics/test_report_ranking.py); KID numbers are on this scale, not the raw one.

Images are numpy uint8 arrays of shape (n, h, w) (a trailing channel axis of 1 is accepted);
real and synthetic sets may differ in size and are resized inside each function.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import keras
import numpy as np
from matplotlib.figure import Figure
from scipy import linalg

from cxr_gan.metrics.coverage import NAEEM_K, knn_scores
from cxr_gan.metrics.detectability import real_vs_synthetic_auc
from cxr_gan.metrics.image_sets import (
    ImageSet,
    as_image_array,
    as_image_sets,
    at_gan_resolution,
    common_size,
    resize_unit,
)
from cxr_gan.metrics.ssim import (
    COMPARISON_SIZE,
    MS_SSIM_WEIGHTS,
    SSIM_FILTER_SIGMA,
    SSIM_FILTER_SIZE,
    MsSsimSettings,
    class_diversity,
    count_memorized,
    mean_pairwise_ms_ssim,
    ms_ssim_settings,
    nearest_real_ssim,
    ssim_filter_size,
)
from cxr_gan.models.weights import (  # noqa: F401 (the constants lived here)
    INCEPTION_V3_NOTOP_FILE,
    INCEPTION_V3_NOTOP_MD5,
    INCEPTION_V3_NOTOP_URL,
)
from cxr_gan.progress import ProgressLog

__all__ = [
    "COMPARISON_SIZE",
    "FEATURE_EXTRACTORS",
    "MS_SSIM_WEIGHTS",
    "SSIM_FILTER_SIGMA",
    "SSIM_FILTER_SIZE",
    "FeatureExtractor",
    "FeatureExtractorUnavailable",
    "FeatureSpace",
    "ImageSet",
    "MsSsimSettings",
    "as_image_array",
    "as_image_sets",
    "at_gan_resolution",
    "build_feature_extractor",
    "build_random_cnn",
    "class_diversity",
    "common_size",
    "compare_features",
    "count_memorized",
    "diversity_verdict",
    "frechet_distance",
    "gan_quality_report",
    "kernel_inception_distance",
    "mean_pairwise_ms_ssim",
    "ms_ssim_settings",
    "nearest_real_ssim",
    "plot_gan_quality",
    "quality_verdict",
    "resize_unit",
    "ssim_filter_size",
]

logger = logging.getLogger(__name__)

FEATURE_EXTRACTORS = ("random_cnn", "inception_v3")
INCEPTION_V3_SIZE = 299


class FeatureExtractorUnavailable(RuntimeError):
    """The feature extractor cannot be built here (e.g. ImageNet weights missing offline)."""


# ---------------------------------------------------------------- feature extractors


@dataclass(frozen=True)
class FeatureExtractor:
    """A Keras model plus the preprocessing it expects; call it on uint8 (n, h, w) images."""

    name: str
    model: keras.Model
    image_size: int
    preprocess: Callable[[np.ndarray], np.ndarray]  # float (n, s, s, 1) in 0..255 -> model input
    description: str

    @property
    def feature_dim(self) -> int:
        return int(self.model.output.shape[-1])

    def __call__(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Features (n, d) as float64, in batches so memory stays at one batch of inputs."""
        images = as_image_array(images)
        size = (self.image_size, self.image_size)
        features = []
        for start in range(0, len(images), batch_size):
            batch = resize_unit(images[start : start + batch_size], size) * 255.0
            out = self.model.predict_on_batch(self.preprocess(batch))
            features.append(np.asarray(out, np.float64))
        return np.concatenate(features)


def build_random_cnn(
    seed: int = 0, image_size: int = 128, widths: Sequence[int] = (32, 64, 128, 256)
) -> keras.Model:
    """A small untrained CNN (conv-ReLU-pool stages, global average pool) fixed by `seed`.

    Random convolutional features separate image distributions surprisingly well and need no
    download; every layer gets its own explicit initializer seed, so no global RNG is touched and
    the same seed gives the same weights (and features) on the same machine."""
    layer_seeds = np.random.SeedSequence(seed).generate_state(len(widths) * 2)
    inputs = keras.Input((image_size, image_size, 1), name="grayscale")
    x = inputs
    for stage, width in enumerate(widths):
        for conv in range(2):
            x = keras.layers.Conv2D(
                width,
                3,
                padding="same",
                activation="relu",
                kernel_initializer=keras.initializers.HeNormal(
                    seed=int(layer_seeds[stage * 2 + conv])
                ),
                bias_initializer="zeros",
                name=f"stage{stage}_conv{conv}",
            )(x)
        x = keras.layers.MaxPooling2D(2, name=f"stage{stage}_pool")(x)
    outputs = keras.layers.GlobalAveragePooling2D(name="features")(x)
    return keras.Model(inputs, outputs, name=f"random_cnn_seed{seed}")


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded weights: $KERAS_HOME, else ~/.keras (read now, not at import,
    so the error message and the lookup agree with the environment of this call)."""
    home = os.environ.get("KERAS_HOME")
    return Path(home) if home else Path.home() / ".keras"


def inception_weights_path(weights_path: str | os.PathLike | None = None) -> Path:
    """The InceptionV3 no-top ImageNet weights: the file given, else the Keras cache (downloading
    once if online). Offline without the file, FeatureExtractorUnavailable says what to do."""
    if weights_path is not None:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise FeatureExtractorUnavailable(
                f"InceptionV3 weights file {path} does not exist; download "
                f"{INCEPTION_V3_NOTOP_URL} there, or set feature_extractor: random_cnn to work "
                "offline (numbers then are not comparable to published FID/KID)"
            )
        return path
    cache_dir = keras_cache_dir()
    expected = cache_dir / "models" / INCEPTION_V3_NOTOP_FILE
    try:
        return Path(
            keras.utils.get_file(
                INCEPTION_V3_NOTOP_FILE,
                INCEPTION_V3_NOTOP_URL,
                cache_subdir="models",
                file_hash=INCEPTION_V3_NOTOP_MD5,
                cache_dir=str(cache_dir),
            )
        )
    except Exception as error:  # urllib, socket and Keras all raise their own kinds
        raise FeatureExtractorUnavailable(
            f"feature_extractor inception_v3 needs the ImageNet weights, and downloading them "
            f"from {INCEPTION_V3_NOTOP_URL} failed ({type(error).__name__}: {error}). Offline, "
            f"copy that file to {expected} (the Keras cache: $KERAS_HOME/models or "
            f"~/.keras/models), or pass its path as the weights file, or set "
            f"feature_extractor: random_cnn (offline; numbers then are not comparable to "
            f"published FID/KID)"
        ) from error


def _scale_minus_one_to_one(batch: np.ndarray) -> np.ndarray:
    return batch / 127.5 - 1.0


def _inception_input(batch: np.ndarray) -> np.ndarray:
    return keras.applications.inception_v3.preprocess_input(np.repeat(batch, 3, axis=-1))


def build_feature_extractor(
    name: str = "random_cnn",
    seed: int = 0,
    image_size: int = 128,
    inception_weights: str | os.PathLike | None = None,
) -> FeatureExtractor:
    """`random_cnn` (seeded, offline, comparable only with itself) or `inception_v3` (ImageNet,
    the published convention; grayscale repeated to RGB at 299 px)."""
    if name == "random_cnn":
        return FeatureExtractor(
            name=name,
            model=build_random_cnn(seed, image_size),
            image_size=image_size,
            preprocess=_scale_minus_one_to_one,
            description=(
                f"untrained random CNN (seed {seed}, {image_size} px): KID/FID compare runs that "
                "use the same extractor and seed, not published Inception numbers"
            ),
        )
    if name == "inception_v3":
        weights = inception_weights_path(inception_weights)  # before building: fail fast
        model = keras.applications.InceptionV3(
            include_top=False,
            weights=None,
            input_shape=(INCEPTION_V3_SIZE, INCEPTION_V3_SIZE, 3),
            pooling="avg",
        )
        model.load_weights(str(weights))
        return FeatureExtractor(
            name=name,
            model=model,
            image_size=INCEPTION_V3_SIZE,
            preprocess=_inception_input,
            description="ImageNet InceptionV3 pool features (2048-d), the usual FID/KID features",
        )
    raise ValueError(f"feature_extractor must be one of {FEATURE_EXTRACTORS}, got {name!r}")


# ---------------------------------------------------------------- fidelity


def _as_features(features: np.ndarray, what: str) -> np.ndarray:
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"{what}: expected at least 2 feature rows (n, d), got {features.shape}")
    return features


def _polynomial_mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, as in Binkowski et al.'s KID code."""
    m, dim = x.shape
    k_xx = (x @ x.T / dim + 1.0) ** 3
    k_yy = (y @ y.T / dim + 1.0) ** 3
    k_xy = (x @ y.T / dim + 1.0) ** 3
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


# ---------------------------------------------------------------- the report's feature space


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


# ---------------------------------------------------------------- verdict


def diversity_verdict(
    synthetic_ms_ssim: float,
    real_ms_ssim: float,
    gan_image_size: int | None = None,
    margin: float = 0.05,
) -> tuple[bool, str]:
    """(collapsed, text): collapsed when the synthetic set's mean pairwise MS-SSIM exceeds the
    real one's (measured on real images at the generator's resolution) by more than `margin`.

    E.g. (True, "collapsed: synthetic MS-SSIM 0.88 vs real 0.44 at 64 px")."""
    collapsed = synthetic_ms_ssim > real_ms_ssim + margin
    where = f" at {gan_image_size} px" if gan_image_size else ""
    word = "collapsed" if collapsed else "diverse"
    return (
        collapsed,
        f"{word}: synthetic MS-SSIM {synthetic_ms_ssim:.2f} vs real {real_ms_ssim:.2f}{where}",
    )


def quality_verdict(
    synthetic_ms_ssim: float | None,
    real_ms_ssim: float | None,
    gan_image_size: int | None,
    coverage: float | None,
    real_coverage: float | None,
    margin: float = 0.05,
    min_coverage_ratio: float = 0.6,
) -> tuple[bool, bool, str]:
    """(collapsed, missing_modes, text) from diversity and coverage together.

    missing_modes: coverage below min_coverage_ratio x the coverage an equal number of other
    real images reaches (real_coverage). collapsed: the MS-SSIM rule of diversity_verdict, or
    missing_modes. Either part is skipped (and the text says so) when its inputs are None."""
    parts, collapsed_by_ms_ssim = [], False
    if synthetic_ms_ssim is not None and real_ms_ssim is not None:
        collapsed_by_ms_ssim, text = diversity_verdict(
            synthetic_ms_ssim, real_ms_ssim, gan_image_size, margin
        )
        parts.append(text.split(": ", 1)[1])
    missing_modes = False
    if coverage is not None and real_coverage:
        missing_modes = coverage < min_coverage_ratio * real_coverage
        parts.append(f"coverage {coverage:.2f} of real's {real_coverage:.2f}")
    elif coverage is not None:
        parts.append(f"coverage {coverage:.2f} (no real reference: no evaluation split)")
    collapsed = collapsed_by_ms_ssim or missing_modes
    if collapsed_by_ms_ssim:
        word = "collapsed"
    elif missing_modes:
        word = f"collapsed (missing modes: coverage below {min_coverage_ratio:g}x real's)"
    else:
        word = "diverse" if parts else "unknown"
    return collapsed, missing_modes, f"{word}: " + "; ".join(parts or ["too few images to judge"])


# ---------------------------------------------------------------- report


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


def _stack(*image_sets: np.ndarray | None) -> np.ndarray:
    """Several uint8 sets as one, shrunk (cv2.INTER_AREA) to their common size if they differ."""
    sets = [as_image_array(images) for images in image_sets if images is not None and len(images)]
    size = common_size(*sets)
    return np.concatenate(
        [
            images
            if images.shape[1:] == size
            else np.stack([cv2.resize(i, size[::-1], interpolation=cv2.INTER_AREA) for i in images])
            for images in sets
        ]
    )


@dataclass(frozen=True)
class _Real:
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
    ) -> _Real:
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
class _Settings:
    seed: int
    kid_subset_size: int | None
    kid_subsets: int
    ms_ssim_max_pairs: int
    coverage_k: int
    auc_folds: int
    size: tuple[int, int]


def _reference(
    space: FeatureSpace, real: _Real, fake_features: np.ndarray, number: int, s: _Settings
) -> dict[str, Any] | None:
    """What an equal number of other real (GAN-training) images reach against the evaluation
    split, and the synthetic coverage at that same number (coverage grows with set size)."""
    if real.evaluation_features is None:
        return None
    n = min(len(fake_features), len(real.training_features))
    if n <= s.coverage_k or len(real.evaluation_features) <= s.coverage_k:
        return None
    rng = np.random.default_rng([s.seed, number])
    others = real.training_features[np.sort(rng.choice(len(real.training_features), n, False))]
    scores = compare_features(
        space,
        real.evaluation_features,
        others,
        k=s.coverage_k,
        kid_subset_size=s.kid_subset_size,
        kid_subsets=s.kid_subsets,
        seed=s.seed,
        fid=False,
    )
    fakes = fake_features[np.sort(rng.choice(len(fake_features), n, False))]
    synthetic = knn_scores(
        space.standardize(real.evaluation_features), space.standardize(fakes), s.coverage_k
    )
    return {
        "n": n,
        "kid_x1000": 1000 * scores["kid_mean"],
        "coverage": scores["coverage"],
        "density": scores["density"],
        "synthetic_coverage_same_n": synthetic.coverage,
    }


def _set_scores(
    space: FeatureSpace,
    real: _Real,
    images: np.ndarray,
    features: np.ndarray,
    number: int,
    s: _Settings,
) -> dict[str, Any]:
    """Every per-set number: against the main real set, the training images and the reference."""
    main = compare_features(
        space,
        real.main,
        features,
        k=s.coverage_k,
        kid_subset_size=s.kid_subset_size,
        kid_subsets=s.kid_subsets,
        seed=s.seed,
    )
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
        "real_vs_synthetic_auc": real_vs_synthetic_auc(
            space.standardize(real.main), space.standardize(features), s.auc_folds, s.seed
        ),
        "ms_ssim": mean_pairwise_ms_ssim(images, s.ms_ssim_max_pairs, s.seed, s.size)
        if len(images) > 1
        else None,
        "real_reference": _reference(space, real, features, number, s),
    }


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return _number(float(value))
    return value


def _kid_block(per_set: list[dict[str, Any]], real: _Real, s: _Settings) -> dict[str, Any]:
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


def _labelled_kids(per_set: list[dict[str, Any]], real: _Real) -> dict[str, Any]:
    """KID against the evaluation split and against the GAN-training images, each labelled."""
    mean, spread = _mean_std([1000 * entry["kid_mean"] for entry in per_set])
    train_mean, train_spread = _mean_std([entry["kid_vs_training_x1000"] for entry in per_set])
    has_evaluation = real.evaluation_features is not None
    return {
        "kid_vs_evaluation": {
            "x1000_mean": mean,
            "x1000_std_between_sets": spread,
            "n_real": len(real.evaluation_features),
            "note": "the honest realism number: real images the GAN never trained on",
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
    per_set: list[dict[str, Any]], real: _Real, s: _Settings, min_ratio: float
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
    s: _Settings,
) -> dict[str, Any]:
    settings = ms_ssim_settings(min(s.size))
    synthetic, synthetic_spread = _mean_std([e["ms_ssim"] for e in per_set])
    real = mean_pairwise_ms_ssim(real_at_gan, s.ms_ssim_max_pairs, s.seed, s.size)
    full = (
        mean_pairwise_ms_ssim(real_full, s.ms_ssim_max_pairs, s.seed, s.size)
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
        best, best_index = nearest_real_ssim(images, training, size)
        nearest += best.tolist()
        nearest_index += best_index.tolist()
        set_index += [number] * len(images)
        index_in_set += list(range(len(images)))
    return {
        "against": "GAN-training images",
        "threshold": threshold,
        "count_above": count_memorized(np.array(nearest), threshold),
        "max_ssim": max(nearest),
        "image_size": list(size),
        "nearest_ssim": nearest,
        "nearest_real_index": nearest_index,
        "set_index": set_index,
        "index_in_set": index_in_set,
    }


def _evaluation_images(evaluation: np.ndarray | None) -> np.ndarray | None:
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


UNREALISTIC_AUC = 0.95  # a real-vs-synthetic classifier this good tells (almost) every image apart


def with_realism(verdict: str, real_vs_synthetic_auc: float | None) -> str:
    """The verdict with realism beside diversity: a varied set that a linear classifier on the
    report's features tells from real images (AUC >= UNREALISTIC_AUC) is not realistic, and a
    "diverse" verdict alone would hide it."""
    if real_vs_synthetic_auc is None:
        return verdict
    if real_vs_synthetic_auc >= UNREALISTIC_AUC:
        return (
            f"{verdict}; UNREALISTIC: told from real images with AUC "
            f"{real_vs_synthetic_auc:.2f} (real-vs-synthetic classifier)"
        )
    return f"{verdict}; real-vs-synthetic AUC {real_vs_synthetic_auc:.2f}"


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
    return quality_verdict(
        diversity["synthetic_ms_ssim"],
        diversity["real_ms_ssim"],
        gan_image_size,
        reference["synthetic_coverage_same_n_mean"] if reference else coverage["coverage_mean"],
        reference["coverage_mean"] if reference else None,
        margin,
        min_ratio,
    )


def gan_quality_report(
    synthetic: ImageSet,
    real: np.ndarray,
    feature_extractor: str | FeatureExtractor = "random_cnn",
    *,
    evaluation: np.ndarray | None = None,
    gan_image_size: int | None = None,
    seed: int = 0,
    feature_seed: int = 0,
    random_cnn_size: int = 128,
    inception_weights: str | os.PathLike | None = None,
    standardize_features: bool | None = None,
    kid_subset_size: int | None = None,
    kid_subsets: int = 100,
    ms_ssim_max_pairs: int = 1000,
    memorization_threshold: float = 0.9,
    ssim_size: tuple[int, int] | None = None,
    batch_size: int = 32,
    coverage_k: int = NAEEM_K,
    collapse_margin: float = 0.05,
    min_coverage_ratio: float = 0.6,
    auc_folds: int = 5,
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
    `standardize_features` defaults to True for the random CNN and False for InceptionV3 (see
    FeatureSpace). `seed` drives KID subsets, MS-SSIM pairs, AUC folds and reference draws;
    `feature_seed` fixes the random CNN, so keep both constant to compare runs. The verdict:
    collapsed when synthetic MS-SSIM > real (at the GAN's resolution) + collapse_margin, or
    coverage < min_coverage_ratio x that of an equal number of other real images."""
    sets = [at_gan_resolution(images, gan_image_size) for images in as_image_sets(synthetic)]
    training, held_out = as_image_array(real, "real"), _evaluation_images(evaluation)
    extractor = (
        build_feature_extractor(feature_extractor, feature_seed, random_cnn_size, inception_weights)
        if isinstance(feature_extractor, str)
        else feature_extractor
    )
    real_sides = _Real.prepare(training, held_out, gan_image_size, extractor, batch_size)
    standardize = (
        extractor.name == "random_cnn" if standardize_features is None else standardize_features
    )
    space = FeatureSpace.fit(real_sides.pooled_features, standardize)
    settings = _Settings(
        seed,
        kid_subset_size,
        kid_subsets,
        ms_ssim_max_pairs,
        coverage_k,
        auc_folds,
        tuple(ssim_size or common_size(real_sides.training, *sets)),
    )
    per_set = []
    progress = ProgressLog(len(sets), "GAN quality", logger, unit="synthetic sets")
    for number, images in enumerate(sets):
        per_set.append(
            _set_scores(space, real_sides, images, extractor(images, batch_size), number, settings)
        )
        progress.update(extra=f"KID x1000 {per_set[-1]['kid_x1000_mean']:.1f}")

    coverage = _coverage_block(per_set, real_sides, settings, min_coverage_ratio)
    diversity = _diversity_block(
        per_set,
        _stack(real_sides.training, real_sides.evaluation),
        _stack(training, held_out),
        gan_image_size,
        collapse_margin,
        settings,
    )
    collapsed, missing_modes, verdict = _report_verdict(
        coverage, diversity, gan_image_size, collapse_margin, min_coverage_ratio
    )
    auc_mean, auc_std = _mean_std([e["real_vs_synthetic_auc"] for e in per_set])
    verdict = with_realism(verdict, auc_mean)
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
        **_kid_block(per_set, real_sides, settings),
        **_labelled_kids(per_set, real_sides),
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
        "per_set": per_set,
        "diversity": diversity,
        "memorization": _memorization_block(
            sets, real_sides.training, memorization_threshold, settings.size
        ),
        "settings": {
            "coverage_k": coverage_k,
            "collapse_margin": collapse_margin,
            "min_coverage_ratio": min_coverage_ratio,
            "auc_folds": auc_folds,
        },
        "seed": seed,
        "feature_seed": feature_seed,
    }
    return _json_safe(report)


# ---------------------------------------------------------------- figure


def _show(axes: Any, image: np.ndarray, title: str) -> None:
    axes.imshow(image, cmap="gray", vmin=0, vmax=255)
    axes.set_title(title, fontsize=8)


def _figure_title(report: dict[str, Any]) -> str:
    """Verdict first, then KID (labelled by what it compares with) and memorization."""
    memo = report["memorization"]
    kid, kid_std = report.get("kid_x1000_mean"), report.get("kid_x1000_std")
    kid_text = "?" if kid is None else f"{kid:.1f} ± {kid_std or 0:.1f}"
    against = "evaluation split" if report.get("n_evaluation") else "training images"
    lines = [report["verdict"]] if report.get("verdict") else []
    lines.append(
        f"KID x1000 vs {against} {kid_text} ({report.get('feature_extractor')}); "
        f"{memo['count_above']} of {len(memo['nearest_ssim'])} synthetic at SSIM >= "
        f"{memo['threshold']} to a training image"
    )
    return "\n".join(lines)


def plot_gan_quality(
    report: dict[str, Any],
    synthetic: ImageSet,
    real: np.ndarray,
    n_pairs: int = 4,
    n_examples: int = 4,
) -> Figure:
    """Top row: the synthetic images closest to a real (training) one, each next to it with its
    SSIM (copies show here). Bottom row: a few synthetic images beside a few real ones. The
    title carries the verdict (diversity and coverage), KID and the memorization count."""
    sets = as_image_sets(synthetic)
    real = as_image_array(real, "real")
    memo = report["memorization"]
    nearest = np.array([-np.inf if v is None else v for v in memo["nearest_ssim"]])
    closest = np.argsort(-nearest, kind="stable")[:n_pairs]
    pooled = [images[i] for images in sets for i in range(len(images))]

    def name(k: int) -> str:  # set:index when there are several sets
        s, i = memo["set_index"][k], memo["index_in_set"][k]
        return f"synthetic {s}:{i}" if len(sets) > 1 else f"synthetic {i}"

    columns = max(2 * n_pairs, 2 * n_examples)
    # a bare Figure, not pyplot: no global figure registry to leak or to need a display
    figure = Figure(figsize=(1.6 * columns, 4.6), layout="constrained")
    grid = figure.subplots(2, columns, squeeze=False)
    for axes in grid.ravel():
        axes.axis("off")
    for slot, k in enumerate(closest):
        s, r = int(memo["set_index"][k]), int(memo["nearest_real_index"][k])
        ssim = memo["nearest_ssim"][k]
        label = "?" if ssim is None else f"{ssim:.3f}"
        _show(grid[0, 2 * slot], sets[s][memo["index_in_set"][k]], f"closest: {name(k)}")
        _show(grid[0, 2 * slot + 1], real[r], f"real {r}\nSSIM {label}")
    for slot in range(min(n_examples, len(pooled))):
        _show(grid[1, slot], pooled[slot], name(slot))
    for slot in range(min(n_examples, len(real))):
        _show(grid[1, n_examples + slot], real[slot], f"real {slot}")
    figure.suptitle(_figure_title(report), fontsize=9)
    return figure
