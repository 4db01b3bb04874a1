"""The GAN report's distances rank known cases right, each step beyond the sampling spread.

held-out real < the same images blurred < a few images repeated < noise, for KID (higher = worse)
and coverage (lower = worse), each on 3 draws of sample sets; every step must exceed 3x the
larger spread (std over the draws) of its two cases. Raw random-CNN features failed this (a
repeated set scored better than a blurred one); the report's FeatureSpace is what passes it.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cxr_gan.data.phantom import COVID, draw_phantom
from cxr_gan.metrics.feature_distances import FeatureSpace, compare_features
from cxr_gan.metrics.gan_features import build_feature_extractor

SIZE, N_IMAGES, DRAWS = 32, 200, 3
BLUR_SIGMA = 0.55  # px at 32 px: visibly softer, far less harm than collapsing to 3 images
CASES = ("held-out real", "blurred", "3 images repeated", "noise")
# the module fixture scores 4 cases x 3 draws of 200 images: over 10 s before any test runs
pytestmark = pytest.mark.slow


def phantoms(first_index: int) -> np.ndarray:
    return np.stack(
        [draw_phantom(COVID, i, 7, SIZE) for i in range(first_index, first_index + N_IMAGES)]
    )


def case_images(case: str, held_out: np.ndarray, draw: int) -> np.ndarray:
    if case == "held-out real":
        return held_out
    if case == "blurred":
        return np.stack([cv2.GaussianBlur(image, (0, 0), BLUR_SIGMA) for image in held_out])
    if case == "3 images repeated":
        return np.resize(held_out[:3], held_out.shape)
    return np.random.default_rng(draw).integers(0, 256, held_out.shape).astype(np.uint8)


@pytest.fixture(scope="module")
def scores() -> dict[str, dict[str, np.ndarray]]:
    """{case: {"kid": (DRAWS,), "coverage": (DRAWS,)}} in the report's feature space."""
    extractor = build_feature_extractor("random_cnn", seed=0, image_size=64)
    reference = extractor(phantoms(0))
    space = FeatureSpace.fit(reference)
    out: dict[str, dict[str, list[float]]] = {case: {"kid": [], "coverage": []} for case in CASES}
    for draw in range(DRAWS):
        held_out = phantoms(1000 * (draw + 1))
        for case in CASES:
            result = compare_features(
                space,
                reference,
                extractor(case_images(case, held_out, draw)),
                kid_subsets=20,
                fid=False,
            )
            out[case]["kid"].append(result["kid_mean"])
            out[case]["coverage"].append(result["coverage"])
    return {case: {k: np.array(v) for k, v in values.items()} for case, values in out.items()}


@pytest.mark.parametrize(("metric", "worse"), [("kid", 1.0), ("coverage", -1.0)])
def test_each_step_is_beyond_three_spreads(scores, metric, worse):
    for better, poorer in zip(CASES, CASES[1:], strict=False):
        a, b = scores[better][metric], scores[poorer][metric]
        gap = worse * (b.mean() - a.mean())
        spread = max(a.std(), b.std())
        assert gap > 3 * spread, (
            f"{metric}: {better} {a.mean():.4f}±{a.std():.4f} vs {poorer} "
            f"{b.mean():.4f}±{b.std():.4f}"
        )


def test_held_out_real_is_at_home(scores):
    # the same distribution: KID about 0 and nearly every real image covered
    assert abs(scores["held-out real"]["kid"].mean()) < 0.05
    assert scores["held-out real"]["coverage"].mean() > 0.9
    assert scores["noise"]["coverage"].max() == 0.0
