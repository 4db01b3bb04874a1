"""Big folders (issue 6): peak memory and images/s of data_processing and one GAN epoch.

    uv run python benchmarks/bench_big_folder.py 20000     # the issue's size; target < 2 GB
    uv run python benchmarks/bench_big_folder.py 2000      # a quick check that it scales

N phantom PNGs at 128 px (half normal, half covid) are written to a temp folder; then, in a temp
copy of the project, two separate `kedro run` processes, each measured alone (peak RSS of that
process through wait4, Python, Kedro, TensorFlow and the memory-mapped pages it touched included):

1. `--pipelines data_processing` at image_size 128 (near_duplicate_max_distance 0: see below):
   xray_arrays is one memory-mapped .npy;
   images/s is the ingest step's own rate (read, hash, decode, resize, store) from its log line.
2. `--pipelines gan_training` with epochs=1: dcgan at gan_image_size 64 (the default), batch 16,
   reading batches from the memory-mapped arrays; images/s is training images / epoch seconds.

Results are merged into benchmarks/results/big_folder.json under the image count.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _project import ROOT, project_copy, timed_kedro_run

from cxr_gan.data.phantom import write_phantom_folder

RESULTS = ROOT / "benchmarks" / "results" / "big_folder.json"
IMAGE_SIZE, GAN_IMAGE_SIZE = 128, 64


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    folder = Path(tempfile.mkdtemp(prefix="phantoms-"))
    started = time.perf_counter()
    write_phantom_folder(folder, count // 2, size=IMAGE_SIZE, seed=7)
    print(f"{count} phantom PNGs written in {time.perf_counter() - started:.0f} s", flush=True)
    project = project_copy(
        catalog={"raw_xrays": {"type": "cxr_gan.datasets.XrayFolderDataset", "path": str(folder)}},
        parameters={
            # phantoms are drawn from one template, so at distance 4 about 0.2% of all pairs
            # are "near duplicates" (289 pairs among 600): at 20,000 images the split groups
            # would merge into one giant group. Real folders have few; 0 keeps exact-hash
            # matches and measures what the issue asks (storage, memory, speed).
            "data_processing": {"image_size": IMAGE_SIZE, "near_duplicate_max_distance": 0},
            "gan_training": {"epochs": 1, "gan_image_size": GAN_IMAGE_SIZE, "sample_every": 1},
        },
    )
    # scratch arrays are built in data/05_model_input (data_processing.scratch_dir's default):
    # the same disk as the outputs, never a RAM-backed /tmp
    try:
        processing = timed_kedro_run(project, "--pipelines", "data_processing")
        log = (project / "info.log").read_text() if (project / "info.log").exists() else ""
        rates = re.findall(r"Decoding X-rays: (\d+)/\d+ files \(([\d.]+)/s", log)
        processing.update(
            image_size=IMAGE_SIZE,
            near_duplicate_max_distance=0,
            ingest_images_per_s=float(rates[-1][1]) if rates else None,
            whole_run_images_per_s=round(count / processing["seconds"], 1),
            arrays_mb=round(count * IMAGE_SIZE**2 / 2**20),
        )
        print(json.dumps({"data_processing": processing}, indent=1), flush=True)
        gan = timed_kedro_run(project, "--pipelines", "gan_training")
        history = json.loads(
            next(
                (project / "data/08_reporting").glob("gan_history.json/*/gan_history.json")
            ).read_text()
        )
        epoch_seconds = history["epochs"][0]["seconds"]
        gan.update(
            architecture="dcgan",
            gan_image_size=GAN_IMAGE_SIZE,
            batch_size=history["settings"]["batch_size"],
            training_images=history["training_images"],
            epoch_seconds=round(epoch_seconds, 1),
            epoch_images_per_s=round(history["training_images"] / epoch_seconds, 1),
        )
        print(json.dumps({"gan_one_epoch": gan}, indent=1), flush=True)
    finally:
        shutil.rmtree(project, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[str(count)] = {
        "images": count,
        "data_processing": processing,
        "gan_one_epoch": gan,
        "target": "peak RSS < 2048 MB for 20,000 images",
        "measured": time.strftime("%Y-%m-%d"),
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
