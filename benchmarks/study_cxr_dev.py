"""The whole study (all four pipelines) on ../shared/cxr-dev, for docs/results.md.

    uv run python benchmarks/study_cxr_dev.py

This machine cannot download ImageNet weights, so the classifier is `small_cnn` at 128 px
(from scratch), and the GAN the default (128 px, 750 epochs); 3 seeds per experiment. cxr-eval
(280 X-rays, no patient in common with cxr-dev) is the external folder the verdict rests on.
Runs in a temp copy of the project; writes benchmarks/results/study_cxr_dev.json (the
comparison, GAN quality, data report totals, and Grad-CAM statistics) and, to docs/images/,
figures that contain no real X-ray (the comparison plot, synthetic grids, the mean Grad-CAM
heat per experiment). Real images are never copied into the repository (their licenses
forbid it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from _project import ROOT, SHARED_XRAYS, project_copy, timed_kedro_run

SHARED_EVAL = ROOT.parent / "shared" / "cxr-eval"  # no patient in common with cxr-dev

PARAMETERS = {
    # the GAN is the default (128 px, lean discriminator, 750 epochs): no gan_training block
    "synthesis": {"quality_sample_sets": 3},
    "classification": {
        "backbone": "small_cnn",
        "weights": None,
        "input_size": 128,
        "epochs": 40,
        "batchnorm_momentum": 0.9,
        "seeds": [1, 2, 3],
        "gradcam_images": 40,
    },
}
BORDER = 0.15  # each side's outer 15%: outside the central 70% of the image, as the probe masks


def latest(project: Path, pattern: str) -> Path:
    return sorted((project / "data").glob(pattern))[-1]


def gradcam_statistics(project: Path) -> dict:
    """Share of Grad-CAM heat outside the central 70% (borders, labels, markers) per experiment,
    over the test images; and the mean heat map (no image content) for the docs."""
    import keras
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cxr_gan.datasets import NpyFolderDataset
    from cxr_gan.models.gradcam import gradcam_heatmaps

    arrays_folder = latest(project, "05_model_input/xray_arrays/*/arrays.json").parent
    arrays = NpyFolderDataset(filepath=str(arrays_folder)).load()
    import pandas as pd

    split = pd.read_csv(latest(project, "05_model_input/xray_split.csv/*/xray_split.csv"))
    test_ids = set(split.loc[split["split"] == "test", "id"])
    mask = np.array([i in test_ids for i in arrays["ids"]])
    images = arrays["images"][mask]
    size = images.shape[1]
    edge = int(round(BORDER * size))
    border = np.ones((size, size), bool)
    border[edge:-edge, edge:-edge] = False
    stats, means = {}, {}
    for model_path in sorted(
        (project / "data/06_models/classifiers").glob("*/classifier.keras/*/classifier.keras")
    ):
        experiment = model_path.parts[-4]
        model = keras.saving.load_model(model_path, safe_mode=True, compile=False)
        heat = gradcam_heatmaps(model, images)
        share = (heat * border).sum(axis=(1, 2)) / np.maximum(heat.sum(axis=(1, 2)), 1e-9)
        stats[experiment] = {
            "border_heat_share_mean": round(float(share.mean()), 3),
            "border_area_share": round(float(border.mean()), 3),
            "images": len(images),
        }
        means[experiment] = heat.mean(axis=0)
    figure, axes = plt.subplots(1, len(means), figsize=(3 * len(means), 3.2))
    for axis, (experiment, heat) in zip(np.atleast_1d(axes), means.items(), strict=True):
        axis.imshow(heat, cmap="jet", vmin=0)
        axis.add_patch(
            matplotlib.patches.Rectangle(
                (edge, edge),
                size - 2 * edge,
                size - 2 * edge,
                fill=False,
                color="white",
                linestyle="--",
            )
        )
        axis.set_title(
            f"{experiment}\n{stats[experiment]['border_heat_share_mean']:.0%} of heat outside",
            fontsize=8,
        )
        axis.axis("off")
    figure.suptitle("Mean Grad-CAM over the real test images (dashed: central 70%)", fontsize=9)
    figure.tight_layout()
    figure.savefig(ROOT / "docs/images/study_mean_gradcam.png", dpi=110)
    return stats


def run_estimate_lines(project: Path) -> list[str]:
    """The run's estimate at its start and the actual beside it at its end (cxr_gan.node_timing),
    from the run's info.log: a first run of the study, so the estimate is the cost model's."""
    lines = (project / "info.log").read_text(errors="replace").splitlines()
    return [
        line.split(" - INFO - ", 1)[-1].strip()  # info.log: "<time> - <logger> - INFO - <message>"
        for line in lines
        if "Run estimate:" in line or "Run took" in line
    ]


def report_check(project: Path) -> dict:
    """The demo report's Chromium check (tests/test_study_report_run.py) on this study's report."""
    check = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_study_report_run.py::test_a_real_data_study_report_passes_the_same_check",
        ],
        check=False,
        cwd=ROOT,
        env={**os.environ, "CXR_STUDY_PROJECT": str(project)},
        capture_output=True,
        text=True,
    )
    tail = check.stdout.strip().splitlines()[-1:] or [""]
    print(check.stdout[-3000:], flush=True)
    return {"passed": check.returncode == 0 and "1 passed" in tail[0], "pytest": tail[0]}


def main() -> None:
    for folder in (SHARED_XRAYS, SHARED_EVAL):
        if not folder.is_dir():
            raise SystemExit(f"{folder} is not on this machine")
    project = project_copy(
        catalog={
            "raw_xrays": {"type": "cxr_gan.datasets.XrayFolderDataset", "path": str(SHARED_XRAYS)},
            # cxr-eval as the external folder: the study's verdict rests on it
            "external_xrays": {
                "type": "cxr_gan.datasets.XrayFolderDataset",
                "path": str(SHARED_EVAL),
                "optional": True,
            },
        },
        parameters=PARAMETERS,
    )
    print(f"project copy: {project}", flush=True)
    timing = timed_kedro_run(project)
    images = ROOT / "docs/images"
    images.mkdir(parents=True, exist_ok=True)
    shutil.copy(
        latest(project, "08_reporting/classification_comparison.png/*/*.png"),
        images / "study_comparison.png",
    )
    shutil.copy(
        latest(project, "08_reporting/gan_grids_over_epochs.png/*/*.png"),
        images / "study_gan_grids_over_epochs.png",
    )
    shutil.copy(
        latest(project, "08_reporting/gan_loss_curves.png/*/*.png"),
        images / "study_gan_loss_curves.png",
    )
    synthetic = latest(project, "07_model_output/synthetic_xrays/*/manifest.csv").parent
    import cv2

    tiles = [
        cv2.resize(
            cv2.imread(str(p), cv2.IMREAD_GRAYSCALE), (112, 112), interpolation=cv2.INTER_AREA
        )
        for p in sorted(synthetic.glob("*.png"))[:16]
    ]
    cv2.imwrite(
        str(images / "study_synthetic_covid.png"),
        np.vstack([np.hstack(tiles[:8]), np.hstack(tiles[8:16])]),
    )
    result = {
        "command": "uv run python benchmarks/study_cxr_dev.py",
        "parameters": PARAMETERS,
        "timing": timing,
        "comparison": json.loads(
            latest(
                project,
                "08_reporting/classification_comparison.json/*/classification_comparison.json",
            ).read_text()
        ),
        "comparison_markdown": latest(
            project, "08_reporting/classification_comparison.md/*/*.md"
        ).read_text(),
        "gan_quality": {
            k: v
            for k, v in json.loads(
                latest(
                    project, "08_reporting/gan_quality_report.json/*/gan_quality_report.json"
                ).read_text()
            ).items()
            if k != "memorization"
        },
        "data_quality_totals": json.loads(
            latest(
                project, "08_reporting/data_quality_report.json/*/data_quality_report.json"
            ).read_text()
        )["totals"],
        "gradcam": gradcam_statistics(project),
        "run_estimate": run_estimate_lines(project),
        "report_check": report_check(project),
    }
    for experiment in result["comparison"]["experiments"]:
        experiment.pop("across_seeds", None)
    out = ROOT / "benchmarks/results/study_cxr_dev.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(result["comparison_markdown"])
    print(json.dumps(result["gradcam"], indent=2))
    if "--keep" not in sys.argv:
        shutil.rmtree(project)


if __name__ == "__main__":
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
    main()
