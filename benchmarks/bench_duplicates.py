"""Near-duplicate detector (issue 12, kind 4): recall per transform, false pairs, time.

    uv run python benchmarks/bench_duplicates.py              # 100 phantom pairs per transform
    uv run python benchmarks/bench_duplicates.py --pairs 200 --timing 20000

What it measures, on the arrays data_processing stores (decoded, resize_square `stretch`):

1. Recall per transform: `--pairs` phantoms (half normal, half covid; seed 7, drawn at 256 px)
   and one copy of each made by one transform: JPEG re-encoding (quality 70-95), resizing
   (0.5-2x), cropping (0-10% off each side, independently) or rotation (1-5 degrees either way,
   black corners). Originals and copies are stored at 128 px (the demo's size) and the detector
   runs over all 2 x pairs images: recall = true pairs found / pairs; every other pair is a false
   pair between two different phantoms (counted within and across classes).
2. False pairs on the demo's 120 phantoms (seed 42, 60 per class, 256 px stored at 128): every
   pair is false (no phantom is a copy of another); cross-class pairs become label conflicts.
3. False pairs on ../shared/cxr-dev (200 real X-rays at 446 px, manifest.csv patient_id):
   pairs between different patients are false; same-patient pairs are listed. Skipped with a
   message when ../shared is absent.
4. Time (wall and CPU seconds) of the duplicate-finding step alone (pHash every stored image, then
   annotate_near_duplicates: ORB features, candidates, verification) on `--timing` phantoms
   at 128 px, the big-folder benchmark's size (several counts: `--timing 2000 20000`).

The detector measured is the one data_processing runs (`detector_pairs` below calls
cxr_gan.data.annotations.annotate_near_duplicates with the stored arrays, default parameters).
Results are written to benchmarks/results/duplicates.json.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from cxr_gan.data.annotations import annotate_near_duplicates
from cxr_gan.data.decoding import decode_xray
from cxr_gan.data.duplicates import NEAR_DUPLICATE_CANDIDATES, NEAR_DUPLICATE_MIN_INLIERS
from cxr_gan.data.phantom import draw_phantom
from cxr_gan.data.preprocessing import perceptual_hash, resize_square

ROOT = Path(__file__).resolve().parents[1]
CXR_DEV = ROOT.parent / "shared" / "cxr-dev"
RESULTS = ROOT / "benchmarks" / "results" / "duplicates.json"
RAW_SIZE, STORED_SIZE, CXR_DEV_SIZE = 256, 128, 446
MAX_DISTANCE = 4  # data_processing.near_duplicate_max_distance's default


def detector_pairs(images: np.ndarray, hashes: list[str] | None = None) -> set[tuple[int, int]]:
    """Pairs (i < j) that data_processing reports as near duplicates among uint8 (n, s, s)."""
    if hashes is None:
        hashes = [f"{perceptual_hash(image):016x}" for image in images]
    manifest = pd.DataFrame(
        {
            "id": [str(i) for i in range(len(images))],
            "status": "ok",
            "phash": hashes,
            "array_index": range(len(images)),
        }
    )
    manifest = annotate_near_duplicates(manifest, MAX_DISTANCE, images)
    return {
        (min(i, int(other)), max(i, int(other)))
        for i, others in enumerate(manifest["near_duplicates"])
        for other in filter(None, others.split(";"))
    }


def jpeg(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Re-encoded as JPEG at quality 70-95."""
    quality = int(rng.integers(70, 96))
    _, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)


def resize(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Resized by a factor 0.5-2 (area when shrinking, cubic when enlarging)."""
    factor = rng.uniform(0.5, 2.0)
    height, width = image.shape
    size = (max(8, round(width * factor)), max(8, round(height * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)


def crop(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """0-10% cut off each side, each side drawn on its own."""
    height, width = image.shape
    top, bottom, left, right = rng.uniform(0, 0.10, 4)
    return image[
        round(top * height) : height - round(bottom * height),
        round(left * width) : width - round(right * width),
    ]


def rotate(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotated 1-5 degrees either way about the centre, same size, black corners."""
    angle = rng.uniform(1, 5) * rng.choice([-1, 1])
    height, width = image.shape
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    return cv2.warpAffine(image, matrix, (width, height), borderValue=0)


TRANSFORMS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "jpeg_q70_95": jpeg,
    "resize_0.5_2x": resize,
    "crop_le_10pct_per_side": crop,
    "rotate_le_5deg": rotate,
}


def phantom_recall(pairs: int) -> dict:
    """Recall and false pairs per transform (see the module docstring, 1)."""
    labels = np.arange(pairs) % 2
    originals = [draw_phantom(int(label), i, 7, RAW_SIZE) for i, label in enumerate(labels)]
    results = {}
    for number, (name, transform) in enumerate(TRANSFORMS.items()):
        rng = np.random.default_rng([11, number])
        stored = [resize_square(image, STORED_SIZE) for image in originals]
        stored += [resize_square(transform(image, rng), STORED_SIZE) for image in originals]
        found = detector_pairs(np.stack(stored))
        true = {(i, pairs + i) for i in range(pairs)}
        false = found - true
        cross = sum(labels[i % pairs] != labels[j % pairs] for i, j in false)
        results[name] = {
            "pairs": pairs,
            "recall": round(len(found & true) / pairs, 3),
            "false_pairs": len(false),
            "false_pairs_across_classes": int(cross),
        }
        print(name, results[name], flush=True)
    return results


def demo_false_pairs() -> dict:
    """False pairs among the demo's 120 phantoms (see the module docstring, 2)."""
    labels = np.repeat([0, 1], 60)
    indices = np.tile(np.arange(60), 2)
    images = np.stack(
        [
            resize_square(draw_phantom(int(label), int(index), 42, RAW_SIZE), STORED_SIZE)
            for label, index in zip(labels, indices, strict=True)
        ]
    )
    found = detector_pairs(images)
    cross = sum(labels[i] != labels[j] for i, j in found)
    result = {"images": 120, "false_pairs": len(found), "false_pairs_across_classes": int(cross)}
    print("demo phantoms", result, flush=True)
    return result


def cxr_dev_false_pairs() -> dict | None:
    """Pairs between different patients of ../shared/cxr-dev (see the module docstring, 3)."""
    if not (CXR_DEV / "manifest.csv").exists():
        print(f"{CXR_DEV} is absent: cxr-dev part skipped", flush=True)
        return None
    manifest = pd.read_csv(CXR_DEV / "manifest.csv")
    images = np.stack(
        [
            resize_square(decode_xray((CXR_DEV / name).read_bytes(), name).pixels, CXR_DEV_SIZE)
            for name in manifest["filename"]
        ]
    )
    found = detector_pairs(images)
    patients = manifest["patient_id"].astype(str).tolist()
    names = manifest["filename"].tolist()
    different = sorted((names[i], names[j]) for i, j in found if patients[i] != patients[j])
    same = sorted((names[i], names[j]) for i, j in found if patients[i] == patients[j])
    result = {
        "images": len(images),
        "image_size": CXR_DEV_SIZE,
        "pairs_between_different_patients": len(different),
        "pairs_of_one_patient": len(same),
        "different_patient_pairs": [list(pair) for pair in different],
        "same_patient_pairs": [list(pair) for pair in same],
    }
    print("cxr-dev", {k: v for k, v in result.items() if not k.endswith("_pairs")}, flush=True)
    return result


def timing(count: int) -> dict:
    """Seconds of the duplicate-finding step on `count` stored phantoms (module docstring, 4)."""
    images = np.stack(
        [
            draw_phantom(index % 2, index, 7, STORED_SIZE)  # drawn at 128: already stored size
            for index in range(count)
        ]
    )
    started, cpu_started = time.perf_counter(), time.process_time()
    hashes = [f"{perceptual_hash(image):016x}" for image in images]
    hashed = time.perf_counter()
    pairs = detector_pairs(images, hashes)
    done, cpu_done = time.perf_counter(), time.process_time()
    result = {
        "images": count,
        "image_size": STORED_SIZE,
        "hash_seconds": round(hashed - started, 2),
        "find_pairs_seconds": round(done - hashed, 2),
        "total_seconds": round(done - started, 2),
        # CPU time of this process (all its threads): what the step costs, whatever else runs
        "cpu_seconds": round(cpu_done - cpu_started, 2),
        "pairs_found": len(pairs),
    }
    print("timing", result, flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100, help="phantom pairs per transform")
    parser.add_argument(
        "--timing", type=int, nargs="*", default=[2000], help="image counts for the timing part"
    )
    args = parser.parse_args()
    results = {
        "detector": (
            f"candidates per image: the {NEAR_DUPLICATE_CANDIDATES} closest pHashes within "
            f"{MAX_DISTANCE} bits and the {NEAR_DUPLICATE_CANDIDATES} images sharing the most "
            "ORB descriptors (LSH); each verified by ORB + RANSAC: "
            f">= {NEAR_DUPLICATE_MIN_INLIERS} re-aligned matches both ways"
        ),
        "phantom_recall": phantom_recall(args.pairs),
        "demo_phantoms": demo_false_pairs(),
        "cxr_dev": cxr_dev_false_pairs(),
        "timing": [timing(count) for count in args.timing],
        "measured": time.strftime("%Y-%m-%d"),
        "note": "2-core machine shared with a running GAN experiment: times are upper bounds",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
