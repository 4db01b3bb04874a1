"""The synthesis quality report's speed (issue 14, part 6): 3 sets of 50 synthetic images against
160 real images at 128 px, every metric included, target under 30 s on 2 cores.

    uv run python benchmarks/bench_quality_report.py
    uv run python benchmarks/bench_quality_report.py --sets 3 --per-set 50 --real 160 --size 128

What it runs: cxr_gan.metrics.gan_quality.gan_quality_report as the synthesis node calls it with
conf/base's settings (random-CNN features, evaluation split, the generator's size = the image
size, SSIM at 128 px, coverage k 5, 5 AUC folds). The real images are phantoms (seed 7): 80% as
GAN-training images, 20% as the evaluation split (the pipeline's default split); the synthetic
sets are other phantoms (seeds 100+) with pixel noise, so no metric short-cuts on identical
images. The report's parts are timed separately (wall seconds; the report calls them in this
order), so the slowest one shows:

- real_features: the real images at the generator's size, and their random-CNN features
- synthetic_features: the synthetic sets' features
- set_scores: per set, KID, FID, coverage and density, precision and recall, real-vs-synthetic
  AUC, MS-SSIM diversity and the real reference
- diversity: the real images' MS-SSIM
- memorization: each synthetic image's nearest real image by SSIM (150 x 128 pairs here)

TensorFlow's import and the first model build are outside the timed run (a warm-up report on 8
images runs first). Besides wall seconds, the process's CPU seconds (all its threads) are
recorded: on a machine shared with other work they tell more than the wall clock. Results go to
benchmarks/results/quality_report.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "quality_report.json"
PARTS = {  # gan_quality's module-level function -> the name of its line in the results
    "set_scores": "set_scores",
    "_diversity_block": "diversity",
    "_memorization_block": "memorization",
}


def phantoms(count: int, size: int, seed: int, noise: float = 0.0) -> np.ndarray:
    """`count` covid-class phantom X-rays, uint8 (count, size, size)."""
    from cxr_gan.data.phantom import draw_phantom

    rng = np.random.default_rng(seed)
    images = np.stack([draw_phantom(1, index, seed, size) for index in range(count)])
    if noise:
        images = np.clip(images + rng.normal(0, noise, images.shape), 0, 255).astype(np.uint8)
    return images


def _timed(function: Callable, name: str, seconds: dict[str, float]) -> Callable:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[name] += time.perf_counter() - started

    return wrapper


def run_report(synthetic: list[np.ndarray], real: np.ndarray, size: int) -> tuple[dict, dict]:
    """The report as the synthesis node computes it, and its parts' wall seconds."""
    import dataclasses

    import cxr_gan.metrics.gan_quality as quality
    from cxr_gan.metrics import gan_features

    seconds: dict[str, float] = defaultdict(float)
    preparing = []  # non-empty while the real side's features are computed

    @dataclasses.dataclass(frozen=True)
    class TimedExtractor(gan_features.FeatureExtractor):
        def __call__(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
            started = time.perf_counter()
            try:
                return super().__call__(images, batch_size)
            finally:
                if not preparing:
                    seconds["synthetic_features"] += time.perf_counter() - started

    started = time.perf_counter()
    built = gan_features.build_feature_extractor("random_cnn", 0, 128, None)
    extractor = TimedExtractor(
        **{field.name: getattr(built, field.name) for field in dataclasses.fields(built)}
    )
    seconds["build_extractor"] = time.perf_counter() - started
    originals = {name: getattr(quality, name) for name in PARTS}
    original_prepare = quality.RealSides.prepare

    def prepare(*args: Any, **kwargs: Any) -> Any:
        preparing.append(True)
        began = time.perf_counter()
        try:
            return original_prepare(*args, **kwargs)
        finally:
            seconds["real_features"] += time.perf_counter() - began
            preparing.clear()

    split = int(round(0.8 * len(real)))
    try:
        for name, label in PARTS.items():
            setattr(quality, name, _timed(originals[name], label, seconds))
        quality.RealSides.prepare = prepare
        began, cpu = time.perf_counter(), time.process_time()
        report = quality.gan_quality_report(
            synthetic,
            real[:split],
            extractor,
            evaluation=real[split:],
            gan_image_size=size,
            seed=1234,
            ssim_size=(size, size),
        )
        total = seconds["build_extractor"] + time.perf_counter() - began
        cpu = time.process_time() - cpu
    finally:
        for name in PARTS:
            setattr(quality, name, originals[name])
        quality.RealSides.prepare = original_prepare
    parts = {name: round(value, 2) for name, value in seconds.items()}
    parts["other"] = round(total - sum(seconds.values()), 2)  # feature space, coverage, verdict
    # process CPU seconds (all threads): on a shared machine, closer to what a quiet one needs
    return report, {"total_s": round(total, 2), "cpu_s": round(cpu, 2), "parts_s": parts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", type=int, default=3)
    parser.add_argument("--per-set", type=int, default=50)
    parser.add_argument("--real", type=int, default=160)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--note", default="", help="e.g. whether the machine was shared")
    args = parser.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    real = phantoms(args.real, args.size, seed=7)
    synthetic = [
        phantoms(args.per_set, args.size, seed=100 + number, noise=6.0)
        for number in range(args.sets)
    ]
    run_report([images[:8] for images in synthetic[:1]], real[:16], args.size)  # warm-up
    report, timing = run_report(synthetic, real, args.size)
    result = {
        "command": "uv run python benchmarks/bench_quality_report.py",
        "sets": args.sets,
        "per_set": args.per_set,
        "real": args.real,
        "size": args.size,
        "cpu_count": os.cpu_count(),
        "note": args.note,
        **timing,
        "verdict": report["verdict"],
        "kid_x1000": report.get("kid_x1000_mean"),
        "memorization_max_ssim": report["memorization"]["max_ssim"],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
