"""cxr_gan.data.duplicates: the candidate stages and the ORB + RANSAC verification, piece by
piece (tests/data/test_near_duplicate_recall.py measures the whole detector's recall)."""

from __future__ import annotations

import cv2
import numpy as np

from cxr_gan.data.duplicates import (
    FEATURE_SIZE,
    aligned_inliers,
    find_near_duplicate_pairs,
    lsh_candidates,
    orb_features,
    phash_candidates,
    to_feature_size,
)
from cxr_gan.data.phantom import draw_phantom
from cxr_gan.data.preprocessing import resize_square


def _phantoms(count: int, seed: int = 7) -> list[np.ndarray]:
    return [resize_square(draw_phantom(i % 2, i, seed, 256), FEATURE_SIZE) for i in range(count)]


def _rotated(image: np.ndarray, angle: float) -> np.ndarray:
    matrix = cv2.getRotationMatrix2D((image.shape[1] / 2, image.shape[0] / 2), angle, 1.0)
    return cv2.warpAffine(image, matrix, image.shape[::-1], borderValue=0)


def test_features_have_documented_shapes_and_a_blank_image_has_none():
    features = orb_features(_phantoms(1)[0])
    assert features.points.dtype == np.float32 and features.points.shape[1] == 2
    assert features.descriptors.dtype == np.uint8 and features.descriptors.shape[1] == 32
    assert 44 <= len(features.points) <= 150
    assert ((features.points >= 0) & (features.points < FEATURE_SIZE)).all()
    blank = orb_features(np.full((FEATURE_SIZE, FEATURE_SIZE), 90, np.uint8))
    assert blank.points.shape == (0, 2) and blank.descriptors.shape == (0, 32)
    assert to_feature_size(np.zeros((446, 446), np.uint8)).shape == (FEATURE_SIZE, FEATURE_SIZE)
    assert to_feature_size(np.zeros((48, 48), np.uint8)).shape == (FEATURE_SIZE, FEATURE_SIZE)


def test_verification_separates_a_rotated_copy_from_a_look_alike():
    """Phantom 1 rotated by 4 degrees (before it is stored, as bench_duplicates.py does) against
    phantom 3 of the same class: both ways, as find_near_duplicate_pairs checks."""
    images = _phantoms(4)
    copy = resize_square(_rotated(draw_phantom(1, 1, 7, 256), 4.0), FEATURE_SIZE)
    first, copied, other = (orb_features(image) for image in (images[1], copy, images[3]))
    copy_score = min(
        aligned_inliers(first, copied, copy), aligned_inliers(copied, first, images[1])
    )
    look_alike = min(
        aligned_inliers(first, other, images[3]), aligned_inliers(other, first, images[1])
    )
    assert copy_score >= 60, copy_score
    assert look_alike < 44, look_alike


def test_lsh_ranks_a_copy_first_and_caps_partners_per_image():
    images = _phantoms(20)
    images.append(_rotated(images[3], -3.0))  # index 20: a copy of 3
    descriptors = [orb_features(image).descriptors for image in images]
    pairs = lsh_candidates(descriptors, per_image=1)
    assert (3, 20) in pairs
    assert len(pairs) <= len(images)
    assert lsh_candidates(descriptors, per_image=0) == {}
    assert lsh_candidates(descriptors[:1], per_image=3) == {}


def test_phash_candidates_within_distance_and_capped():
    hashes = ["0000000000000000", "0000000000000001", "0000000000000003", "ffffffffffffffff"]
    assert phash_candidates(hashes, 1, per_image=5) == {(0, 1): 1, (1, 2): 1}
    assert set(phash_candidates(hashes, 2, per_image=5)) == {(0, 1), (0, 2), (1, 2)}
    # each image keeps its closest: 0's closest is 1, 2's closest is 1; 1 keeps 0 (tie: first)
    assert set(phash_candidates(hashes, 2, per_image=1)) == {(0, 1), (1, 2)}


def test_identical_phashes_of_different_phantoms_are_verified_not_trusted():
    images = _phantoms(2) + [np.full((FEATURE_SIZE, FEATURE_SIZE), 90, np.uint8)] * 2
    same = ["8000000000000000"] * 2 + ["0000000000000000"] * 2
    found = find_near_duplicate_pairs(
        4,
        lambda i: images[i],
        same,
        max_distance=0,
        min_inliers=44,
        candidates_per_image=3,
    )
    # two look-alike phantoms with one pHash: rejected; two blank images (no keypoints to
    # verify): the hash decides
    assert found == {(2, 3): "phash 0"}


def test_a_cropped_copy_at_another_stored_size_is_found():
    images = _phantoms(10)
    height = images[0].shape[0]
    cropped = images[5][8 : height - 4, 2 : height - 10]
    images.append(resize_square(cropped, 446))  # stored at the default 446 px
    found = find_near_duplicate_pairs(
        len(images),
        lambda i: images[i],
        [f"{i:016x}" for i in range(len(images))],  # no pHash candidates: ORB alone
        max_distance=0,
        min_inliers=44,
        candidates_per_image=3,
    )
    assert set(found) == {(5, 10)} and found[(5, 10)].startswith("orb ")


def test_threads_find_the_same_pairs_as_one_thread_and_read_images_concurrently():
    import threading

    rng = np.random.default_rng(3)
    images = _phantoms(24)
    for source in (3, 11, 17):  # a rotated, a cropped and a re-encoded copy
        image = images[source]
        if source == 3:
            images.append(_rotated(image, 4.0))
        elif source == 11:
            images.append(resize_square(image[6:-9, 5:-3], FEATURE_SIZE))
        else:
            encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 75])[1]
            images.append(cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE))
    hashes = [f"{int(rng.integers(0, 2**62)):016x}" for _ in images]
    readers: set[int] = set()

    def image_at(index: int) -> np.ndarray:
        readers.add(threading.get_ident())
        return images[index]

    arguments = {"max_distance": 4, "min_inliers": 44, "candidates_per_image": 3}
    one = find_near_duplicate_pairs(
        len(images), lambda i: images[i], hashes, **arguments, threads=1
    )
    several = find_near_duplicate_pairs(len(images), image_at, hashes, **arguments, threads=3)
    assert set(one) == {(3, 24), (11, 25), (17, 26)}
    assert several == one
    assert len(readers) > 1  # the work really ran on several threads
