"""How good, how diverse and how original are 50 synthetic X-rays? Judged against real ones.

- Fidelity: KID (unbiased, trustworthy at 50 images) and FID (biased at 50 images; reported for
  comparison only) on features of either a fixed random CNN (offline, reproducible, but not
  comparable to published numbers) or ImageNet InceptionV3 (the published convention).
- Diversity: mean pairwise MS-SSIM within a set; higher means more alike (mode collapse). Compare
  the synthetic value with the real value computed the same way at the same size.
- Memorization: each synthetic image's highest SSIM to any real training image; images above a
  threshold are probably copies.

Images are numpy uint8 arrays of shape (n, h, w) (a trailing channel axis of 1 is accepted);
real and synthetic sets may differ in size and are resized inside each function.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure
from scipy import linalg

from cxr_gan.progress import ProgressLog

logger = logging.getLogger(__name__)

FEATURE_EXTRACTORS = ("random_cnn", "inception_v3")
INCEPTION_V3_NOTOP_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
INCEPTION_V3_NOTOP_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
    + INCEPTION_V3_NOTOP_FILE
)
INCEPTION_V3_NOTOP_MD5 = "bcbd6486424b2319ff4ef7d526e38f63"  # as keras.applications checks it
INCEPTION_V3_SIZE = 299
# Wang et al. 2003 scale weights, finest scale first (tf.image.ssim_multiscale's default)
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
SSIM_FILTER_SIZE, SSIM_FILTER_SIGMA = 11, 1.5

ImageSet = np.ndarray | Sequence[np.ndarray]


class FeatureExtractorUnavailable(RuntimeError):
    """The feature extractor cannot be built here (e.g. ImageNet weights missing offline)."""


# ---------------------------------------------------------------- images


def as_image_array(images: np.ndarray, what: str = "images") -> np.ndarray:
    """Validate a (n, h, w) or (n, h, w, 1) grayscale stack and return it as (n, h, w)."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or min(images.shape) < 1:
        raise ValueError(
            f"{what}: expected grayscale images of shape (n, h, w), got {images.shape}"
        )
    return images


def resize_unit(images: np.ndarray, size: tuple[int, int], batch_size: int = 64) -> np.ndarray:
    """uint8 (n, h, w) -> float32 (n, size_h, size_w, 1) in [0, 1], antialiased when shrinking.

    Batched so that resizing 446-px originals never holds more than one batch of floats."""
    images = as_image_array(images)
    out = np.empty((len(images), *size, 1), np.float32)
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size, ..., None].astype(np.float32) / 255.0
        if batch.shape[1:3] != size:
            batch = tf.image.resize(batch, size, method="bilinear", antialias=True).numpy()
        out[start : start + batch_size] = np.clip(batch, 0.0, 1.0)
    return out


def common_size(*image_sets: np.ndarray) -> tuple[int, int]:
    """The smallest height and width among the sets: shrinking never invents detail."""
    sets = [as_image_array(images) for images in image_sets]
    return min(s.shape[1] for s in sets), min(s.shape[2] for s in sets)


def as_image_sets(synthetic: ImageSet) -> list[np.ndarray]:
    """One array, or a list of arrays (one per sampling seed), as a list of (n, h, w) arrays."""
    if isinstance(synthetic, np.ndarray):
        return [as_image_array(synthetic, "synthetic")]
    sets = [as_image_array(images, f"synthetic set {i}") for i, images in enumerate(synthetic)]
    if not sets:
        raise ValueError("synthetic: no image sets given")
    return sets


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


# ---------------------------------------------------------------- diversity and memorization


@dataclass(frozen=True)
class MsSsimSettings:
    power_factors: tuple[float, ...]
    filter_size: int
    filter_sigma: float

    @property
    def scales(self) -> int:
        return len(self.power_factors)


def ms_ssim_settings(side: int) -> MsSsimSettings:
    """MS-SSIM settings that work for images whose shorter side is `side` pixels.

    TF needs the image at every scale (each halving rounds up) to be at least filter_size
    pixels, so its default (5 scales, 11-px filter) needs >= 161 px. Rule: keep the 11-px,
    sigma-1.5 Gaussian and use as many of the 5 standard scales as fit (5 scales from 161 px,
    4 from 81, 3 from 41, 2 from 21), with the standard weights of those scales renormalised to
    sum to 1. Below 21 px the filter shrinks (odd size, sigma scaled with it) so that 2 scales
    still fit. Values are comparable only between sets measured at the same size and rule."""
    sizes = [side]
    while len(sizes) < len(MS_SSIM_WEIGHTS):
        sizes.append(math.ceil(sizes[-1] / 2))
    scales = sum(size >= SSIM_FILTER_SIZE for size in sizes)
    filter_size, sigma = SSIM_FILTER_SIZE, SSIM_FILTER_SIGMA
    if scales < 2:
        filter_size = math.ceil(side / 2)
        filter_size -= 1 - filter_size % 2  # odd, so the window has a centre
        if filter_size < 3:
            raise ValueError(f"images of {side} px are too small for MS-SSIM (need >= 6 px)")
        sigma = SSIM_FILTER_SIGMA * filter_size / SSIM_FILTER_SIZE
        scales = 2
    weights = np.array(MS_SSIM_WEIGHTS[:scales])
    return MsSsimSettings(tuple(float(w) for w in weights / weights.sum()), filter_size, sigma)


def _pairs(n: int, max_pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    first, second = np.triu_indices(n, k=1)
    if len(first) > max_pairs:
        chosen = np.sort(np.random.default_rng(seed).choice(len(first), max_pairs, replace=False))
        first, second = first[chosen], second[chosen]
    return first, second


def mean_pairwise_ms_ssim(
    images: np.ndarray,
    max_pairs: int = 1000,
    seed: int = 0,
    image_size: tuple[int, int] | None = None,
    batch_size: int = 128,
) -> float:
    """Mean MS-SSIM over all pairs within one set (or `max_pairs` random distinct pairs): the
    standard GAN diversity score. Higher = the images are more alike (mode collapse); compare
    with the real set's value at the same image_size (see ms_ssim_settings for the scale rule)."""
    images = as_image_array(images)
    if len(images) < 2:
        raise ValueError("mean_pairwise_ms_ssim needs at least 2 images")
    size = image_size or images.shape[1:3]
    settings = ms_ssim_settings(min(size))
    unit = resize_unit(images, tuple(size))
    first, second = _pairs(len(unit), max_pairs, seed)
    scores = []
    for start in range(0, len(first), batch_size):
        scores.append(
            tf.image.ssim_multiscale(
                unit[first[start : start + batch_size]],
                unit[second[start : start + batch_size]],
                max_val=1.0,
                power_factors=settings.power_factors,
                filter_size=settings.filter_size,
                filter_sigma=settings.filter_sigma,
            ).numpy()
        )
    return float(np.mean(np.concatenate(scores)))


def ssim_filter_size(side: int) -> int:
    """tf.image.ssim's 11-px window, shrunk (odd) for images smaller than 11 px."""
    return min(SSIM_FILTER_SIZE, side - (1 - side % 2))


def nearest_real_ssim(
    synthetic: np.ndarray,
    real: np.ndarray,
    image_size: tuple[int, int] | None = None,
    max_pairs_per_batch: int = 512,
) -> tuple[np.ndarray, np.ndarray]:
    """For each synthetic image, the highest SSIM to any real image and that image's index.

    A GAN trained on ~80 images can simply reproduce some of them; a near-1 SSIM to a training
    image flags such a copy. Both sets are resized to `image_size` (default: the smaller size)."""
    synthetic, real = as_image_array(synthetic, "synthetic"), as_image_array(real, "real")
    size = tuple(image_size or common_size(synthetic, real))
    syn_unit, real_unit = resize_unit(synthetic, size), resize_unit(real, size)
    filter_size = ssim_filter_size(min(size))
    sigma = SSIM_FILTER_SIGMA * filter_size / SSIM_FILTER_SIZE
    per_batch = max(1, max_pairs_per_batch // len(real_unit))
    best = np.empty(len(syn_unit))
    best_index = np.empty(len(syn_unit), np.int64)
    progress = ProgressLog(len(syn_unit), "Nearest real SSIM", logger, unit="images")
    for start in range(0, len(syn_unit), per_batch):
        chunk = syn_unit[start : start + per_batch]
        scores = tf.image.ssim(
            np.repeat(chunk, len(real_unit), axis=0),
            np.tile(real_unit, (len(chunk), 1, 1, 1)),
            max_val=1.0,
            filter_size=filter_size,
            filter_sigma=sigma,
        ).numpy()
        scores = scores.reshape(len(chunk), len(real_unit))
        best[start : start + len(chunk)] = scores.max(axis=1)
        best_index[start : start + len(chunk)] = scores.argmax(axis=1)
        progress.update(len(chunk))
    return best, best_index


def count_memorized(nearest_ssims: np.ndarray, threshold: float = 0.9) -> int:
    """How many synthetic images are at least `threshold` SSIM from a real one: likely copies."""
    return int(np.sum(np.asarray(nearest_ssims) >= threshold))


# ---------------------------------------------------------------- report and figure


def _number(value: float | None) -> float | None:
    """A JSON-safe float: NaN and infinity become None (json.dumps would write invalid JSON)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def gan_quality_report(
    synthetic: ImageSet,
    real: np.ndarray,
    feature_extractor: str | FeatureExtractor = "random_cnn",
    *,
    seed: int = 0,
    feature_seed: int = 0,
    random_cnn_size: int = 128,
    inception_weights: str | os.PathLike | None = None,
    kid_subset_size: int | None = None,
    kid_subsets: int = 100,
    ms_ssim_max_pairs: int = 1000,
    memorization_threshold: float = 0.9,
    ssim_size: tuple[int, int] | None = None,
    batch_size: int = 32,
) -> dict[str, Any]:
    """KID, FID, diversity and memorization of synthetic images against real ones, as plain JSON.

    `synthetic` is one array or a list of arrays, one per sampling seed: KID from 50 images is
    noisy (three sets of 50 from one generator moved it by 100-200 in x1000 units), so with
    several sets kid_mean is the mean over sets and kid_std the spread between sets. `seed`
    drives the KID subsets and MS-SSIM pairs; `feature_seed` fixes the random CNN, so keep it
    constant to compare runs. Memorization lists cover all synthetic images, set after set."""
    sets = as_image_sets(synthetic)
    real = as_image_array(real, "real")
    if isinstance(feature_extractor, str):
        extractor = build_feature_extractor(
            feature_extractor, feature_seed, random_cnn_size, inception_weights
        )
    else:
        extractor = feature_extractor
    real_features = extractor(real, batch_size)
    size = tuple(ssim_size or common_size(real, *sets))
    settings = ms_ssim_settings(min(size))

    per_set = []
    progress = ProgressLog(len(sets), "GAN quality", logger, unit="synthetic sets")
    for images in sets:
        features = extractor(images, batch_size)
        kid_mean, kid_std = kernel_inception_distance(
            real_features, features, kid_subset_size, kid_subsets, seed
        )
        per_set.append(
            {
                "n": len(images),
                "kid_mean": kid_mean,
                "kid_std_subsets": kid_std,
                "kid_x1000_mean": 1000 * kid_mean,
                "fid": frechet_distance(real_features, features),
                "ms_ssim": mean_pairwise_ms_ssim(images, ms_ssim_max_pairs, seed, size)
                if len(images) > 1
                else None,
            }
        )
        progress.update(extra=f"KID x1000 {1000 * kid_mean:.1f}")

    kids = np.array([s["kid_mean"] for s in per_set])
    between = float(np.std(kids, ddof=1)) if len(kids) > 1 else None
    within = float(np.mean([s["kid_std_subsets"] for s in per_set]))
    kid_std = between if between is not None else within

    nearest, nearest_index, set_index, index_in_set = [], [], [], []
    for number, images in enumerate(sets):
        best, best_index = nearest_real_ssim(images, real, size)
        nearest += best.tolist()
        nearest_index += best_index.tolist()
        set_index += [number] * len(images)
        index_in_set += list(range(len(images)))
    synthetic_ms_ssims = [s["ms_ssim"] for s in per_set if s["ms_ssim"] is not None]

    return {
        "feature_extractor": extractor.name,
        "feature_extractor_note": extractor.description,
        "feature_dim": extractor.feature_dim,
        "n_real": len(real),
        "n_synthetic": sum(len(images) for images in sets),
        "n_synthetic_sets": len(sets),
        "synthetic_set_sizes": [len(images) for images in sets],
        "kid_mean": _number(float(kids.mean())),
        "kid_std": _number(kid_std),
        "kid_std_kind": "between_sets" if between is not None else "subsets",
        "kid_std_between_sets": _number(between),
        "kid_std_subsets": _number(within),
        "kid_x1000_mean": _number(1000 * float(kids.mean())),
        "kid_x1000_std": _number(1000 * kid_std),
        "kid_subsets": kid_subsets,
        "kid_subset_size": kid_subset_size
        or min(len(real), *(len(images) for images in sets), 1000),
        "fid": _number(float(np.mean([s["fid"] for s in per_set]))),
        "fid_note": "FID is strongly biased at this sample size; trust KID at ~50 images",
        "per_set": [
            {key: _number(value) if isinstance(value, float) else value for key, value in s.items()}
            for s in per_set
        ],
        "diversity": {
            "synthetic_ms_ssim": _number(float(np.mean(synthetic_ms_ssims)))
            if synthetic_ms_ssims
            else None,
            "real_ms_ssim": _number(mean_pairwise_ms_ssim(real, ms_ssim_max_pairs, seed, size))
            if len(real) > 1
            else None,
            "note": "mean pairwise MS-SSIM; higher = less diverse (collapse if well above real)",
            "image_size": list(size),
            "scales": settings.scales,
            "filter_size": settings.filter_size,
            "max_pairs": ms_ssim_max_pairs,
        },
        "memorization": {
            "threshold": memorization_threshold,
            "count_above": count_memorized(np.array(nearest), memorization_threshold),
            "max_ssim": _number(max(nearest)),
            "image_size": list(size),
            "nearest_ssim": [_number(value) for value in nearest],
            "nearest_real_index": nearest_index,
            "set_index": set_index,
            "index_in_set": index_in_set,
        },
        "seed": seed,
        "feature_seed": feature_seed,
    }


def _show(axes: Any, image: np.ndarray, title: str) -> None:
    axes.imshow(image, cmap="gray", vmin=0, vmax=255)
    axes.set_title(title, fontsize=8)


def plot_gan_quality(
    report: dict[str, Any],
    synthetic: ImageSet,
    real: np.ndarray,
    n_pairs: int = 4,
    n_examples: int = 4,
) -> Figure:
    """Top row: the synthetic images closest to a real one, each next to it with its SSIM (copies
    show here). Bottom row: a few synthetic images beside a few real ones."""
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
    figure = Figure(figsize=(1.6 * columns, 4.4), layout="constrained")
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
    kid, kid_std = report.get("kid_x1000_mean"), report.get("kid_x1000_std")
    kid_text = "?" if kid is None else f"{kid:.1f} ± {kid_std or 0:.1f}"
    figure.suptitle(
        f"KID x1000 {kid_text} ({report.get('feature_extractor')}); "
        f"{memo['count_above']} of {len(nearest)} synthetic at SSIM >= {memo['threshold']} "
        "to a real image",
        fontsize=9,
    )
    return figure
