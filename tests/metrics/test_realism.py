"""Issue 22's realism measures on sets with a known answer: real against real, shifted exposure,
blurred, collapsed. Phantom X-rays at 32 px; no TensorFlow (pixel features only)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from cxr_gan.data.phantom import COVID, draw_phantom
from cxr_gan.metrics.delong import delong_auc
from cxr_gan.metrics.detectability import real_vs_synthetic_auc, real_vs_synthetic_auc_se
from cxr_gan.metrics.feature_distances import (
    FeatureSpace,
    jackknife_se,
    kid_contrast,
    kid_jackknife,
)
from cxr_gan.metrics.realism import exposure_stats, exposure_w1, pixel_vectors

SIZE = 32


@pytest.fixture(scope="module")
def real_sets() -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint sets of 60 phantom COVID-19 X-rays: the same distribution."""
    images = np.stack([draw_phantom(COVID, i, 11, SIZE) for i in range(120)])
    return images[:60], images[60:]


def shifted(images: np.ndarray, levels: int) -> np.ndarray:
    return np.clip(images.astype(int) + levels, 0, 255).astype(np.uint8)


def blurred(images: np.ndarray) -> np.ndarray:
    return np.stack([cv2.GaussianBlur(image, (0, 0), 1.5) for image in images])


def pixel_kid(real: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """x1000 pixel KID and its two-sample jackknife SE, as the judge computes them."""
    space = FeatureSpace.fit(pixel_vectors(real))
    kid, leave_real, leave_other = kid_jackknife(
        space.kernel_features(pixel_vectors(real)), space.kernel_features(pixel_vectors(other))
    )
    return 1000 * kid, 1000 * float(np.hypot(jackknife_se(leave_real), jackknife_se(leave_other)))


def test_exposure_w1_reads_a_shift_in_grey_levels(real_sets):
    real, other = real_sets
    same = exposure_w1(real, other)
    brighter = exposure_w1(real, shifted(other, 30))
    # a shift of 30 grey levels (few pixels clip) moves the mean's distribution by about 30
    assert 25 < brighter["mean"] - same["mean"] < 31
    assert brighter["std"] < same["std"] + 2  # contrast untouched
    flat = (other.astype(float) * 0.5 + 64).astype(np.uint8)  # half the contrast
    assert exposure_w1(real, flat)["std"] > 5 * max(same["std"], 1.0)


def test_exposure_stats_are_grey_levels():
    images = np.stack([np.full((8, 8), 10, np.uint8), np.tile([0, 255], (8, 4)).astype(np.uint8)])
    means, stds = exposure_stats(images)
    np.testing.assert_allclose(means, [10, 127.5])
    np.testing.assert_allclose(stds, [0, 127.5])


def test_pixel_kid_sees_exposure_not_sampling(real_sets):
    real, other = real_sets
    kid_same, se_same = pixel_kid(real, other)
    kid_shift, se_shift = pixel_kid(real, shifted(other, 30))
    assert abs(kid_same) < 1.96 * se_same + 1e-9  # real against real: 0 within its interval
    assert kid_shift - 1.96 * se_shift > 0  # shifted exposure: clearly above 0
    assert kid_shift > 10 * max(kid_same, 1.0)


def test_pixel_kid_ranks_collapse_worse_than_real(real_sets):
    real, other = real_sets
    collapsed = np.resize(other[:2], other.shape)
    assert pixel_kid(real, collapsed)[0] > pixel_kid(real, other)[0] + 3 * pixel_kid(real, other)[1]


def test_kid_contrast_pairs_on_the_evaluation_images(real_sets):
    real, other = real_sets
    space = FeatureSpace.fit(pixel_vectors(real))
    evaluation = space.kernel_features(pixel_vectors(real))
    sets = {
        "good": space.kernel_features(pixel_vectors(other)),
        "bad": space.kernel_features(pixel_vectors(shifted(other, 40))),
    }
    # a KID minus itself: exactly 0, and the evaluation images' part of the error cancels;
    # what is left is the two (independently drawn) sets' own halves in quadrature
    value, se, kids = kid_contrast(evaluation, {"a": sets["good"]}, {"a": 1.0})
    same, same_se, _ = kid_contrast(
        evaluation, {"a": sets["good"], "b": sets["good"]}, {"a": 1, "b": -1}
    )
    own = jackknife_se(kid_jackknife(evaluation, sets["good"])[2])
    assert same == pytest.approx(0.0, abs=1e-12)
    assert same_se == pytest.approx(np.sqrt(2) * own)
    assert value == pytest.approx(kids["a"]) and se > own
    margin, margin_se, kids = kid_contrast(evaluation, sets, {"bad": 1.0, "good": -1.0})
    assert margin == pytest.approx(kids["bad"] - kids["good"])
    assert margin - 1.96 * margin_se > 0  # the worse set is decided worse
    with pytest.raises(KeyError):
        kid_contrast(evaluation, sets, {"missing": 1.0})


def test_delong_matches_sklearn_and_covers():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], [40, 60])
    scores = rng.normal(labels * 1.0)
    auc, se = delong_auc(labels, scores)
    assert auc == pytest.approx(roc_auc_score(labels, scores))
    # the interval covers the true AUC (Phi(1 / sqrt 2) = 0.760) about 95% of the time
    truth, covered = 0.7602499, 0
    for draw in range(300):
        scores = np.random.default_rng(draw).normal(labels * 1.0)
        auc, se = delong_auc(labels, scores)
        covered += abs(auc - truth) <= 1.96 * se
    assert 0.90 <= covered / 300 <= 0.99
    ties_auc, _ = delong_auc([0, 0, 1, 1], [0.5, 0.5, 0.5, 0.5])
    assert ties_auc == 0.5
    with pytest.raises(ValueError, match="at least 2 rows of each class"):
        delong_auc([0, 1, 1], [0.1, 0.2, 0.3])


def test_real_vs_synthetic_auc_known_cases(real_sets):
    real, other = real_sets
    features = {name: pixel_vectors(images) for name, images in (("real", real), ("other", other))}
    auc, se = real_vs_synthetic_auc_se(features["real"], features["other"])
    assert abs(auc - 0.5) < 1.96 * se + 0.05  # real against real: chance within its interval
    assert auc == pytest.approx(real_vs_synthetic_auc(features["real"], features["other"]))
    told, told_se = real_vs_synthetic_auc_se(features["real"], pixel_vectors(blurred(other)))
    assert told - 1.96 * told_se > 0.8  # blurred phantoms are told apart
    assert real_vs_synthetic_auc_se(features["real"][:1], features["other"]) is None
