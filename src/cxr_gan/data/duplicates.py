"""Near duplicates that survive re-encoding, resizing, slight crops and slight rotations.

Three stages, each cheap enough for 20,000 images (docs/data.md has the measured figures):

1. Features: each stored image (uint8, any square size) is brought to FEATURE_SIZE px and
   described by ORB keypoints (Rublee et al. 2011, "ORB: an efficient alternative to SIFT or
   SURF", ICCV; OpenCV's cv2.ORB): at most ORB_FEATURES (x, y) float32 positions and 32-byte
   binary descriptors per image, about 6 KB, so 20,000 images keep about 120 MB.
2. Candidates: pairs whose 64-bit pHashes differ in <= max_distance bits, and pairs that share
   many ORB descriptors in locality-sensitive hash buckets (LSH_TABLES tables, each keyed on
   LSH_BITS fixed bits of the descriptor; buckets holding more than LSH_MAX_BUCKET images are
   ignored: they hold what every image shares, e.g. the anatomy all chest X-rays have). Each
   image keeps at most `candidates_per_image` partners of each kind: the closest pHashes and
   the most shared buckets.
3. Verification (every candidate; a pHash candidate is accepted unverified only when an image
   has fewer keypoints than min_inliers, e.g. a nearly blank one): ORB matches (Hamming
   distance, cross-checked) and an affine transform fitted by RANSAC (Fischler & Bolles 1981,
   "Random sample consensus", Commun. ACM 24(6); cv2.estimateAffine2D) map one image onto the
   other; the second image is warped into the first's frame, which undoes a crop's stretch or a
   rotation, its ORB features are computed again, and the pair is a near duplicate when at
   least `min_inliers` of its matches land within GUIDED_TOLERANCE px of their partner, both
   ways (first onto second, then second onto first). A copy re-aligns point for point; two
   different radiographs (or two phantoms drawn from one template) share only coarse anatomy.

Stages 1 and 3 run on a thread per CPU core (OpenCV releases the GIL; each thread keeps its own
ORB detector and matcher), so the step's wall time shrinks with the cores; results are the same
as on one thread.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from cxr_gan.progress import ProgressLog

logger = logging.getLogger(__name__)

FEATURE_SIZE = 128  # px: every image is compared at this side, whatever image_size is
ORB_FEATURES = 150  # keypoints per image at most (about 125 on a 128-px chest X-ray)
ORB_EDGE = 15  # px border without keypoints, = ORB's patch size (31 would lose half a 128-px image)
RANSAC_THRESHOLD = 2.0  # px at FEATURE_SIZE: reprojection error of a RANSAC inlier
RANSAC_ITERS = 500  # RANSAC samples at most (fewer when the inlier share is high)
MIN_COARSE_INLIERS = 20  # first RANSAC fit: fewer inliers and the pair is rejected at once
GUIDED_TOLERANCE = 1.5  # px at FEATURE_SIZE: a re-aligned match this close counts
NEAR_DUPLICATE_MIN_INLIERS = 44  # data_processing.near_duplicate_min_inliers' default
NEAR_DUPLICATE_CANDIDATES = 3  # data_processing.near_duplicate_candidates' default
LSH_TABLES = 8
LSH_BITS = 24
LSH_MAX_BUCKET = 12  # images; more in one bucket: a feature everyone has, ignored
LSH_SEED = 12  # which descriptor bits key the tables (fixed: results do not vary run to run)


@dataclass(frozen=True)
class OrbFeatures:
    """ORB keypoints of one image at FEATURE_SIZE px: points float32 (k, 2) as (x, y) in
    0..FEATURE_SIZE, descriptors uint8 (k, 32) (256-bit binary); k may be 0."""

    points: np.ndarray
    descriptors: np.ndarray


_LOCAL = threading.local()  # one ORB detector and matcher per thread: OpenCV's are not shared


def _orb() -> cv2.ORB:
    if not hasattr(_LOCAL, "orb"):
        _LOCAL.orb = cv2.ORB_create(
            nfeatures=ORB_FEATURES, edgeThreshold=ORB_EDGE, patchSize=ORB_EDGE
        )
    return _LOCAL.orb


def _matcher() -> cv2.BFMatcher:
    if not hasattr(_LOCAL, "matcher"):
        _LOCAL.matcher = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)
    return _LOCAL.matcher


def _threads() -> int:
    """Worker threads: the CPU cores this process may use (at most 8)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def _parallel_map(function: Callable, items: Iterable, threads: int) -> Iterator:
    """function over items, results in the items' order; threads = 1 runs in this thread."""
    if threads <= 1:
        yield from map(function, items)
        return
    with ThreadPoolExecutor(threads) as pool:
        yield from pool.map(function, items)


def to_feature_size(image: np.ndarray) -> np.ndarray:
    """uint8 (h, w) -> uint8 (FEATURE_SIZE, FEATURE_SIZE): area when shrinking, cubic else."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if image.shape == (FEATURE_SIZE, FEATURE_SIZE):
        return image
    shrinking = image.shape[0] * image.shape[1] >= FEATURE_SIZE**2
    return cv2.resize(
        image,
        (FEATURE_SIZE, FEATURE_SIZE),
        interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC,
    )


def orb_features(image: np.ndarray) -> OrbFeatures:
    """ORB keypoints of a uint8 (FEATURE_SIZE, FEATURE_SIZE) image (see OrbFeatures)."""
    keypoints, descriptors = _orb().detectAndCompute(image, None)
    if descriptors is None or not keypoints:
        return OrbFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8))
    return OrbFeatures(np.float32([k.pt for k in keypoints]), descriptors)


def lsh_candidates(
    descriptors: Sequence[np.ndarray], per_image: int, min_votes: int = 2
) -> dict[tuple[int, int], int]:
    """Pairs (i < j) of images that share many ORB descriptors in LSH buckets -> votes.

    descriptors: per image, uint8 (k_i, 32). Each of LSH_TABLES tables keys a descriptor by
    LSH_BITS fixed bit positions; two images in one bucket get a vote (buckets with more than
    LSH_MAX_BUCKET descriptors are skipped). Each image keeps its `per_image` partners with the
    most votes (at least min_votes): O(total descriptors x LSH_MAX_BUCKET) time and memory."""
    counts = np.array([len(d) for d in descriptors])
    if len(descriptors) < 2 or counts.sum() == 0 or per_image <= 0:
        return {}
    owner = np.repeat(np.arange(len(descriptors), dtype=np.int64), counts)  # ascending
    packed = np.concatenate([d for d in descriptors if len(d)])
    rng = np.random.default_rng(LSH_SEED)
    codes = []
    for _ in range(LSH_TABLES):
        positions = rng.choice(packed.shape[1] * 8, LSH_BITS, replace=False)
        keys = np.zeros(len(packed), np.int64)
        for position in positions:  # bit `position` of the 256, most significant first
            bit = (packed[:, position // 8] >> (7 - position % 8)) & 1
            keys = (keys << 1) | bit
        order = np.argsort(keys, kind="stable")  # owners stay ascending within a bucket
        keys, owners = keys[order], owner[order]
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        sizes = np.diff(np.r_[starts, len(keys)])
        crowded = np.repeat(sizes > LSH_MAX_BUCKET, sizes)
        for offset in range(1, LSH_MAX_BUCKET):
            same = (keys[offset:] == keys[:-offset]) & ~crowded[offset:]
            a, b = owners[:-offset][same], owners[offset:][same]
            distinct = a != b
            codes.append(a[distinct] * len(descriptors) + b[distinct])
    if not codes:
        return {}
    pair_codes, votes = np.unique(np.concatenate(codes), return_counts=True)
    keep = votes >= min_votes
    pair_codes, votes = pair_codes[keep], votes[keep]
    first, second = pair_codes // len(descriptors), pair_codes % len(descriptors)
    # each image's best partners, looking from both ends of every pair
    image = np.r_[first, second]
    partner = np.r_[second, first]
    strength = np.r_[votes, votes]
    order = np.lexsort((partner, -strength, image))
    image, partner, strength = image[order], partner[order], strength[order]
    rank = np.arange(len(image)) - np.searchsorted(image, image)
    chosen = rank < per_image
    return {
        (int(min(i, j)), int(max(i, j))): int(v)
        for i, j, v in zip(image[chosen], partner[chosen], strength[chosen], strict=True)
    }


def phash_candidates(
    phashes: Sequence[str], max_distance: int, per_image: int
) -> dict[tuple[int, int], int]:
    """(i, j) -> differing bits (i < j), for 64-bit hex pHashes within max_distance bits; each
    image keeps its per_image closest (look-alike collections such as phantoms drawn from one
    template would otherwise give a number of pairs that grows with the square of the images)."""
    if len(phashes) < 2 or per_image <= 0:
        return {}
    hashes = np.array([int(h, 16) for h in phashes], dtype=np.uint64)
    pairs: dict[tuple[int, int], int] = {}
    for i in range(len(hashes)):
        distances = np.bitwise_count(hashes ^ hashes[i]).astype(np.int64)
        distances[i] = 65
        close = np.flatnonzero(distances <= max_distance)
        for j in close[np.argsort(distances[close], kind="stable")][:per_image]:
            pairs[(min(i, int(j)), max(i, int(j)))] = int(distances[j])
    return pairs


def _coarse_transform(first: OrbFeatures, second: OrbFeatures) -> np.ndarray | None:
    """2x3 float64 affine mapping first's points onto second's, or None (too few inliers)."""
    if len(first.descriptors) < 6 or len(second.descriptors) < 6:
        return None
    matches = _matcher().match(first.descriptors, second.descriptors)
    if len(matches) < MIN_COARSE_INLIERS:
        return None
    source = first.points[[m.queryIdx for m in matches]]
    target = second.points[[m.trainIdx for m in matches]]
    matrix, inliers = cv2.estimateAffine2D(
        source,
        target,
        method=cv2.RANSAC,
        ransacReprojThreshold=RANSAC_THRESHOLD,
        maxIters=RANSAC_ITERS,
    )
    if matrix is None or int(inliers.sum()) < MIN_COARSE_INLIERS:
        return None
    return matrix


def aligned_inliers(first: OrbFeatures, second: OrbFeatures, second_image: np.ndarray) -> int:
    """How many ORB matches agree point for point once `second_image` (uint8, FEATURE_SIZE
    square; the image `second` was computed from) is warped into the first image's frame by the
    RANSAC affine (0 when no affine fits; see the module docstring, 3)."""
    matrix = _coarse_transform(first, second)
    if matrix is None:
        return 0
    size = (FEATURE_SIZE, FEATURE_SIZE)
    back = cv2.warpAffine(
        second_image, matrix, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderValue=0
    )
    realigned = orb_features(back)
    if len(realigned.descriptors) == 0:
        return 0
    matches = _matcher().match(first.descriptors, realigned.descriptors)
    if not matches:
        return 0
    offsets = (
        first.points[[m.queryIdx for m in matches]]
        - realigned.points[[m.trainIdx for m in matches]]
    )
    return int((np.hypot(offsets[:, 0], offsets[:, 1]) <= GUIDED_TOLERANCE).sum())


def find_near_duplicate_pairs(
    count: int,
    image_at: Callable[[int], np.ndarray],
    phashes: Sequence[str],
    *,
    max_distance: int,
    min_inliers: int,
    candidates_per_image: int,
    threads: int | None = None,
) -> dict[tuple[int, int], str]:
    """Near-duplicate pairs among `count` images: (i, j) with i < j -> how it was found.

    image_at(i): the i-th stored image, uint8 (h, w) (read one at a time, e.g. from a memmap);
    phashes: their 64-bit hex pHashes. Each candidate (pHash within max_distance bits, or
    sharing ORB descriptors; at most candidates_per_image of each kind per image) is accepted
    when aligned_inliers >= min_inliers both ways ("orb N"); a pHash candidate is accepted
    unverified only when one of its images has fewer than min_inliers keypoints, too few to
    verify ("phash N"). Different phantoms drawn from one template can have identical pHashes,
    so even those are verified. threads: worker threads for features and verification (None:
    one per CPU core, at most 8; the pairs found do not depend on it); image_at must be safe
    to call from several threads (a numpy array or memmap is)."""
    if candidates_per_image <= 0 or count < 2:
        return {}
    workers = _threads() if threads is None else threads
    features: list[OrbFeatures] = []
    progress = ProgressLog(count, "Near-duplicate features", logger, unit="images")

    def describe(index: int) -> OrbFeatures:
        return orb_features(to_feature_size(image_at(index)))

    for described in _parallel_map(describe, range(count), workers):
        features.append(described)
        progress.update()
    by_hash = phash_candidates(phashes, max_distance, candidates_per_image)
    candidates = set(by_hash) | set(
        lsh_candidates([f.descriptors for f in features], candidates_per_image)
    )

    def verify(pair: tuple[int, int]) -> str | None:
        i, j = pair
        if pair in by_hash and min(len(features[i].points), len(features[j].points)) < (
            min_inliers
        ):  # too few keypoints to verify (a nearly blank or tiny image): the hash decides
            return f"phash {by_hash[pair]}"
        needed = min_inliers  # also for identical pHashes: look-alikes share them
        inliers = aligned_inliers(features[i], features[j], to_feature_size(image_at(j)))
        if inliers >= needed:  # both ways: a look-alike can pass one way by chance
            back = aligned_inliers(features[j], features[i], to_feature_size(image_at(i)))
            inliers = min(inliers, back)
        return f"orb {inliers}" if inliers >= needed else None

    ordered = sorted(candidates)
    found = {
        pair: how
        for pair, how in zip(ordered, _parallel_map(verify, ordered, workers), strict=True)
        if how is not None
    }
    logger.info(
        "Near duplicates: %d candidate pairs among %d images (%d by pHash), %d confirmed",
        len(candidates),
        count,
        len(by_hash),
        len(found),
    )
    return found
