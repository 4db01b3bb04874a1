"""Near-duplicate detection on phantom pairs (issue 12, kind 4): recall per transform and no
pair between different phantoms. benchmarks/bench_duplicates.py measures the same at a larger
scale; these run on 12 small phantoms per transform in a few seconds.

Today's detector (64-bit pHash <= near_duplicate_max_distance bits) finds re-encoded and resized
copies but misses cropped and rotated ones, and pairs different phantoms (they share one
template): those tests are strict xfails, so they fail (XPASS) once a detector meets the target
and the marks must be removed.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cxr_gan.data.ingest import find_near_duplicates
from cxr_gan.data.phantom import draw_phantom
from cxr_gan.data.preprocessing import perceptual_hash, resize_square

PAIRS, RAW, STORED, MAX_DISTANCE = 12, 128, 64, 4


def _jpeg(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    quality = int(rng.integers(70, 96))
    return cv2.imdecode(
        cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_GRAYSCALE
    )


def _resize(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    factor = rng.uniform(0.5, 2.0)
    side = round(image.shape[0] * factor)
    return cv2.resize(
        image, (side, side), interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
    )


def _crop(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    top, bottom, left, right = np.round(rng.uniform(0, 0.10, 4) * image.shape[0]).astype(int)
    return image[top : image.shape[0] - bottom, left : image.shape[1] - right]


def _rotate(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    angle = rng.uniform(1, 5) * rng.choice([-1, 1])
    height, width = image.shape
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    return cv2.warpAffine(image, matrix, (width, height), borderValue=0)


def _pairs(images: list[np.ndarray]) -> set[tuple[int, int]]:
    """What data_processing reports: pHash of each stored image, pairs within MAX_DISTANCE."""
    hashes = [f"{perceptual_hash(image):016x}" for image in images]
    return {(i, j) for i, j, _ in find_near_duplicates(hashes, MAX_DISTANCE)}


def _originals(seed: int) -> list[np.ndarray]:
    return [draw_phantom(i % 2, i, seed, RAW) for i in range(PAIRS)]


MISSED = pytest.mark.xfail(strict=True, reason="pHash misses crops and rotations (issue 12)")


@pytest.mark.parametrize(
    "transform",
    [_jpeg, _resize, pytest.param(_crop, marks=MISSED), pytest.param(_rotate, marks=MISSED)],
    ids=["jpeg", "resize", "crop", "rotate"],
)
def test_copies_are_found(transform):
    rng = np.random.default_rng(3)
    originals = _originals(7)
    stored = [resize_square(image, STORED) for image in originals]
    stored += [resize_square(transform(image, rng), STORED) for image in originals]
    found = _pairs(stored)
    recall = len(found & {(i, PAIRS + i) for i in range(PAIRS)}) / PAIRS
    assert recall >= 0.95, f"{transform.__name__}: recall {recall:.2f}"


@pytest.mark.xfail(strict=True, reason="phantoms share one template: pHash pairs some (issue 12)")
def test_no_pair_between_different_phantoms():
    stored = [resize_square(image, STORED) for seed in (7, 42) for image in _originals(seed)]
    assert _pairs(stored) == set()
