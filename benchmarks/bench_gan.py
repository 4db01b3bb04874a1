"""GAN speed, memory and quality under one compute budget (issue 3's benchmark).

    uv run python benchmarks/bench_gan.py speed               # s/step, peak RSS, .keras size
    uv run python benchmarks/bench_gan.py quality --minutes 20   # needs ../shared/cxr-dev

speed: each configuration runs in its own child process (so its peak RSS is its own): a few
warm-up steps, then timed steps at batch 16 on random images.

quality: every arm gets the same budget of quiet-machine compute: its number of training steps is
minutes x 60 / (its s/step from `speed`: benchmarks/results/gan_speed.json if present, else
measured first in this run), so a busy machine slows the
run down but does not change what each arm gets. The two dcgan128 arms (same networks, with and
without DiffAugment) share the mean of their measured s/step, so noise does not tilt them.
Each arm trains on the training split of ../shared/cxr-dev (data_processing at 446 px, the GAN
resizes on the fly), then samples 50 COVID-19 images three times (seeds) and is judged against
the real training COVID-19 images with KID (random_cnn features), MS-SSIM diversity and
nearest-real SSIM memorization. Results go to
benchmarks/results/gan_quality.json and grids to docs/images/.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED_XRAYS = ROOT.parent / "shared" / "cxr-dev"
RESULTS = ROOT / "benchmarks" / "results"
IMAGES = ROOT / "docs" / "images"
ARMS = {
    "dense446": {"architecture": "dense", "gan_image_size": 446},
    "dcgan64": {"architecture": "dcgan", "gan_image_size": 64},
    "dcgan128": {"architecture": "dcgan", "gan_image_size": 128},
    "dcgan128_no_diffaugment": {
        "architecture": "dcgan",
        "gan_image_size": 128,
        "diffaugment": False,
    },
}


def _config(arm: str, **extra):
    from cxr_gan.models.gan_config import GanConfig

    return GanConfig(**{**ARMS[arm], "batch_size": 16, **extra})


def measure_one(arm: str, steps: int) -> dict:
    """In this process: s/step after warm-up, and the generator's size on disk."""
    import keras
    import tensorflow as tf

    from cxr_gan.models.gan import ConditionalGAN

    config = _config(arm)
    keras.utils.set_random_seed(0)
    gan = ConditionalGAN(config)
    gan.compile()
    size = config.gan_image_size
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (16 * (steps + 3), size, size, 1)).astype(np.float32)
    labels = rng.integers(0, 2, len(images)).astype(np.int32)
    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)
    gan.fit(data.take(3), epochs=1, verbose=0)  # trace and warm up
    started = time.perf_counter()
    gan.fit(data.skip(3), epochs=1, verbose=0)
    per_step = (time.perf_counter() - started) / steps
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "generator.keras"
        gan.ema_generator.save(path)
        megabytes = path.stat().st_size / 1e6
    return {
        "arm": arm,
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2),
        "s_per_step": round(per_step, 3),
        "generator_params_m": round(gan.generator.count_params() / 1e6, 1),
        "generator_keras_mb": round(megabytes, 1),
    }


def speed(steps: dict[str, int]) -> list[dict]:
    results = []
    for arm, count in steps.items():  # one child process each: its peak RSS is its own
        output = subprocess.run(
            [sys.executable, __file__, "_measure", arm, str(count)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        ).stdout
        result = json.loads(output.strip().splitlines()[-1])
        print(json.dumps(result), flush=True)
        results.append(result)
    return results


def quality(minutes: float, arms: list[str]) -> None:
    import cv2

    from cxr_gan.metrics.gan_quality import gan_quality_report
    from cxr_gan.models.gan_trainer import train_gan
    from cxr_gan.models.synthesis import sample_generator

    if not SHARED_XRAYS.is_dir():
        raise SystemExit(f"{SHARED_XRAYS} is not on this machine")
    speed_file = RESULTS / "gan_speed.json"
    if speed_file.exists():  # measured by `speed` on a quiet machine; delete it to re-measure
        timing = {r["arm"]: r for r in json.loads(speed_file.read_text()) if r["arm"] in arms}
    else:
        timing = {r["arm"]: r for r in speed({arm: 15 if "dense" in arm else 50 for arm in arms})}
    # arms with the same networks get the same steps: their speed differs by noise, not design
    same_networks = [arm for arm in arms if arm.startswith("dcgan128")]
    if len(same_networks) > 1:
        shared = float(np.mean([timing[arm]["s_per_step"] for arm in same_networks]))
        for arm in same_networks:
            timing[arm] = {**timing[arm], "s_per_step_budget": round(shared, 3)}
    from _project import cxr_dev_training_split

    images, labels = cxr_dev_training_split()
    real_covid = images[labels == 1]
    steps_per_epoch = int(np.ceil(len(images) / 16))
    RESULTS.mkdir(parents=True, exist_ok=True)
    IMAGES.mkdir(parents=True, exist_ok=True)
    results_path = RESULTS / "gan_quality.json"
    for arm in arms:
        steps = minutes * 60 / timing[arm].get("s_per_step_budget", timing[arm]["s_per_step"])
        epochs = max(1, int(round(steps / steps_per_epoch)))
        config = _config(arm, epochs=epochs, seed=42)
        print(
            f"{arm}: {epochs} epochs ({epochs * steps_per_epoch} steps) for {minutes} min",
            flush=True,
        )
        started = time.perf_counter()
        run = train_gan(
            images, labels, config, checkpoint_root=None, sample_every=max(1, epochs // 4)
        )
        train_seconds = time.perf_counter() - started
        sets = [
            sample_generator(run.gan.ema_generator, 1, 50, seed=seed, output_size=446)[0]
            for seed in (1, 2, 3)
        ]
        # SSIM and MS-SSIM at 128 px, as the synthesis pipeline does (quality_image_size)
        report = gan_quality_report(sets, real_covid, "random_cnn", seed=0, ssim_size=(128, 128))
        cv2.imwrite(str(IMAGES / f"gan_{arm}_samples.png"), _sheet(sets[0][:16]))
        grid = run.grids[max(run.grids)]
        scale = min(1.0, 128 / config.gan_image_size)  # docs images stay small
        grid = cv2.resize(grid, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(IMAGES / f"gan_{arm}_grid.png"), grid)
        # read just before writing: arms may run in parallel processes
        results = json.loads(results_path.read_text()) if results_path.exists() else {}
        results[arm] = {
            **timing[arm],
            "budget_minutes_quiet": minutes,
            "epochs": epochs,
            "steps": epochs * steps_per_epoch,
            "train_seconds_this_run": round(train_seconds),
            "training_images": len(images),
            "kid_x1000_mean": round(report["kid_x1000_mean"], 1),
            "kid_x1000_std_between_sets": round(report["kid_x1000_std"], 1),
            "fid": round(report["fid"], 1),
            "synthetic_ms_ssim": round(report["diversity"]["synthetic_ms_ssim"], 3),
            "real_ms_ssim": round(report["diversity"]["real_ms_ssim"], 3),
            "memorized_above_0_9": report["memorization"]["count_above"],
            "max_nearest_ssim": round(report["memorization"]["max_ssim"], 3),
            "final_d_acc_real": round(run.history[-1]["d_acc_real"], 2),
            "final_d_acc_fake": round(run.history[-1]["d_acc_fake"], 2),
            "ssim_size": 128,
        }
        print(json.dumps(results[arm]), flush=True)
        results_path.write_text(json.dumps(results, indent=2))


def _sheet(images: np.ndarray, columns: int = 8) -> np.ndarray:
    import cv2

    small = [cv2.resize(image, (128, 128), interpolation=cv2.INTER_AREA) for image in images]
    rows = [np.hstack(small[i : i + columns]) for i in range(0, len(small), columns)]
    return np.vstack(rows)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_measure":
        print(json.dumps(measure_one(sys.argv[2], int(sys.argv[3]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["speed", "quality"])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--arms", nargs="+", default=None)
    args = parser.parse_args()
    if args.mode == "speed":
        results = speed({arm: 15 if "dense" in arm else 50 for arm in args.arms or ARMS})
        RESULTS.mkdir(parents=True, exist_ok=True)
        speed_file = RESULTS / "gan_speed.json"
        earlier = json.loads(speed_file.read_text()) if speed_file.exists() else []
        measured = {r["arm"] for r in results}
        merged = [r for r in earlier if r["arm"] not in measured] + results
        speed_file.write_text(json.dumps(merged, indent=2))
    else:
        quality(args.minutes, args.arms or ["dense446", "dcgan128", "dcgan128_no_diffaugment"])


if __name__ == "__main__":
    main()
