"""Big folders (issue 6): peak memory and images/s of data_processing and one GAN epoch.

    uv run python benchmarks/bench_big_folder.py 20000     # the issue's size; target < 2 GB
    uv run python benchmarks/bench_big_folder.py 2000      # a quick check that it scales
    uv run python benchmarks/bench_big_folder.py 20000 --no-gan   # data_processing only

N phantom PNGs at 128 px (half normal, half covid) are written to a temp folder; then, in a temp
copy of the project, two separate `kedro run` processes, each measured alone (peak RSS of that
process through wait4, Python, Kedro, TensorFlow and the memory-mapped pages it touched included):

1. `--pipelines data_processing` at image_size 128, twice, side by side in one run: first
   without near-duplicate detection (`near_duplicate_candidates=0`: what data_processing cost
   before the ORB + RANSAC detector), then with the defaults (the detector on); the ratio of the
   two wall times is the detector's cost (issue 12's target: at most 2x).
   xray_arrays is one memory-mapped .npy;
   images/s is the ingest step's own rate (read, hash, decode, resize, store) from its log line.
2. `--pipelines gan_training` with epochs=1: dcgan at gan_image_size 64 (the default), batch 16,
   reading batches from the memory-mapped arrays; images/s is training images / epoch seconds.

Results are merged into benchmarks/results/big_folder.json under the image count.
"""

from __future__ import annotations

import json
import os
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
    arguments = [a for a in sys.argv[1:] if not a.startswith("--")]
    count = int(arguments[0]) if arguments else 20000
    with_gan = "--no-gan" not in sys.argv
    folder = Path(tempfile.mkdtemp(prefix="phantoms-"))
    started = time.perf_counter()
    write_phantom_folder(folder, count // 2, size=IMAGE_SIZE, seed=7)
    print(f"{count} phantom PNGs written in {time.perf_counter() - started:.0f} s", flush=True)
    project = project_copy(
        catalog={"raw_xrays": {"type": "cxr_gan.datasets.XrayFolderDataset", "path": str(folder)}},
        parameters={
            # the near-duplicate detector at its defaults (ORB + RANSAC verification keeps
            # phantoms drawn from one template apart, which pHash alone did not)
            "data_processing": {"image_size": IMAGE_SIZE},
            "gan_training": {"epochs": 1, "gan_image_size": GAN_IMAGE_SIZE, "sample_every": 1},
        },
    )
    # scratch arrays are built in data/05_model_input (data_processing.scratch_dir's default):
    # the same disk as the outputs, never a RAM-backed /tmp
    try:
        runs = {}
        for name, extra in (
            (
                "without_near_duplicates",
                ["--params", "data_processing.near_duplicate_candidates=0"],
            ),
            ("with_near_duplicates", []),
        ):
            run = timed_kedro_run(project, "--pipelines", "data_processing", *extra)
            log = (project / "info.log").read_text() if (project / "info.log").exists() else ""
            rates = re.findall(r"Decoding X-rays: (\d+)/\d+ files \(([\d.]+)/s", log)
            found = re.findall(r"Near duplicates: (\d+) candidate pairs.*?(\d+) confirmed", log)
            run.update(
                image_size=IMAGE_SIZE,
                ingest_images_per_s=float(rates[-1][1]) if rates else None,
                whole_run_images_per_s=round(count / run["seconds"], 1),
                arrays_mb=round(count * IMAGE_SIZE**2 / 2**20),
                near_duplicate_pairs=int(found[-1][1]) if found and extra == [] else None,
            )
            runs[name] = run
            print(json.dumps({name: run}, indent=1), flush=True)
            (project / "info.log").unlink(missing_ok=True)
        processing = {
            **runs["with_near_duplicates"],
            "without_near_duplicates": runs["without_near_duplicates"],
            "near_duplicate_cost_ratio": round(
                runs["with_near_duplicates"]["seconds"]
                / runs["without_near_duplicates"]["seconds"],
                2,
            ),
            "load_average_1_5_15": [round(v, 2) for v in os.getloadavg()],
        }
        print(json.dumps({"data_processing": processing}, indent=1), flush=True)
        gan = _gan_epoch(project) if with_gan else None  # --no-gan: earlier figures kept
    finally:
        shutil.rmtree(project, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    earlier = results.get(str(count), {})
    results[str(count)] = {
        "images": count,
        "data_processing": processing,
        "gan_one_epoch": gan if gan is not None else earlier.get("gan_one_epoch"),
        "target": "peak RSS < 2048 MB for 20,000 images",
        "measured": time.strftime("%Y-%m-%d"),
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {RESULTS}")


def _gan_epoch(project: Path) -> dict:
    """One GAN epoch in its own `kedro run` on the arrays data_processing just stored."""
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
    return gan


if __name__ == "__main__":
    main()
