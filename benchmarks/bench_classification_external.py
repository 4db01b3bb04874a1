"""The classification pipeline before and after the shared feature cache, with an external set.

    nice -n 19 uv run python benchmarks/bench_classification_external.py [--base de99a9a]

One run measures, on the same inputs and machine:
- before: the classification pipeline of commit --base (main before issue 13; its code is
  exported with `git archive` and put first on PYTHONPATH), one seed (its default);
- after, one seed: this working tree, --params classification.seeds=[42];
- after, five seeds: this working tree, its default seeds [42, 43, 44, 45, 46].

Inputs: phantom X-rays only (no real image). Upstream outputs (data_processing at 128 px,
a 32 px GAN for 20 epochs, synthesis) are made once with `--env demo` on 100 + 100 phantoms
whose COVID-19 images all carry a corner marker (the source confound of cxr-dev), and copied
into each project. The external folder holds 600 phantoms from two made-up archives, both
classes in each (archive_a: 250 COVID-19 + 50 normal, every image marked; archive_b: 50 + 250,
unmarked), with a manifest.csv naming each image's source. The classifier is the study's:
ResNet50 (random weights: no download here) at 112 px (the study: 224), 100 epochs, 5
augmentation draws.
Writes benchmarks/results/classification_external.json and the after-run's comparison table
as benchmarks/results/classification_external_comparison.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import yaml
from _project import ROOT, project_copy, timed_kedro_run

RESULTS = ROOT / "benchmarks" / "results"
RAW = {
    "type": "cxr_gan.datasets.PhantomXrayDataset",
    "count_per_class": 100,
    "image_size": 256,
    "seed": 42,
    "confound": {"kind": "marker", "label": 1},
}
UPSTREAM = "gan_training.epochs=20,synthesis.quality_sample_sets=1"
# 112 px instead of the study's 224 (4x fewer pixels) so the three runs fit in half an hour on
# 2 shared cores; the number of images through the backbone, which the cache changes, is the same
CLASSIFY = [
    "--pipelines",
    "classification",
    "--params",
    "classification.weights=null,classification.input_size=112",
]


def _external_folder(target: Path) -> None:
    from cxr_gan.data.phantom import write_sourced_phantom_folder

    write_sourced_phantom_folder(
        target, {"archive_a": (250, 50, True), "archive_b": (50, 250, False)}, size=256, seed=7
    )


def _base_code(commit: str) -> Path:
    """src/ and conf/ of `commit`, exported (no worktree, nothing written to the repository)."""
    target = Path(tempfile.mkdtemp(prefix="cxr-gan-base-"))
    archive = subprocess.run(
        ["git", "archive", commit, "src", "conf"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def _project(catalog: dict, upstream: Path, conf_from: Path | None = None) -> Path:
    project = project_copy(catalog=catalog)
    if conf_from is not None:  # the base commit's own conf (its catalog and parameters)
        shutil.rmtree(project / "conf")
        shutil.copytree(
            conf_from / "conf", project / "conf", ignore=shutil.ignore_patterns("local")
        )
        (project / "conf/local").mkdir()
        (project / "conf/local/catalog.yml").write_text(json.dumps(catalog))
    shutil.copytree(upstream / "data", project / "data", dirs_exist_ok=True)
    return project


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="de99a9a", help="commit before the feature cache")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="cxr-gan-bench-external-"))
    external = scratch / "external"
    _external_folder(external)
    catalog = {
        "raw_xrays": RAW,
        "external_xrays": {"type": "cxr_gan.datasets.XrayFolderDataset", "path": str(external)},
    }
    upstream = project_copy(catalog=catalog)
    demo_catalog = upstream / "conf/demo/catalog.yml"  # --env demo never reads conf/local
    entries = yaml.safe_load(demo_catalog.read_text())
    entries["raw_xrays"] = RAW
    demo_catalog.write_text(yaml.safe_dump(entries))
    started = time.perf_counter()
    timed_kedro_run(
        upstream,
        "--env",
        "demo",
        "--pipelines",
        "data_processing,gan_training,synthesis",
        "--params",
        UPSTREAM,
    )
    upstream_seconds = time.perf_counter() - started
    base = _base_code(args.base)
    runs = {}
    load = {"before": os.getloadavg()}
    env_base = {"PYTHONPATH": str(base / "src")}
    for name, conf_from, extra, env in (
        ("before_1_seed", base, [], env_base),
        ("after_1_seed", None, ["--params", "classification.seeds=[42]"], {}),
        ("after_5_seeds", None, [], {}),
    ):
        project = _project(catalog, upstream, conf_from)
        params = list(CLASSIFY)
        if extra:
            params[-1] += "," + extra[1]
        saved = dict(os.environ)
        os.environ.update(env)
        try:
            runs[name] = timed_kedro_run(project, *params)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        runs[name]["load_average_1_5_15_after"] = [round(x, 2) for x in os.getloadavg()]
        print(name, runs[name], flush=True)
        if name == "after_5_seeds":
            table = next(
                (project / "data/08_reporting").glob("classification_comparison.md/*/*.md")
            )
            (RESULTS / "classification_external_comparison.md").write_text(table.read_text())
            comparison = json.loads(
                next(
                    (project / "data/08_reporting").glob(
                        "classification_comparison.json/*/classification_comparison.json"
                    )
                ).read_text()
            )
            runs[name]["verdict"] = comparison.get("verdict")
            predictions = list(
                (project / "data/08_reporting/classification").glob(
                    "real/external_predictions.csv/*/*.csv"
                )
            )
            runs[name]["external_predictions_rows"] = (
                len(predictions[0].read_text().splitlines()) - 1 if predictions else None
            )
        shutil.rmtree(project, ignore_errors=True)
    load["after"] = os.getloadavg()
    result = {
        "command": "nice -n 19 uv run python benchmarks/bench_classification_external.py",
        "base_commit": args.base,
        "inputs": {
            "internal": "200 phantoms (100 + 100), COVID-19 marked, 128 px arrays, 40 test",
            "external": "600 phantoms: archive_a 250 covid + 50 normal (marked), "
            "archive_b 50 + 250 (unmarked), manifest.csv with source_repo",
            "classifier": "resnet50, weights null, 112 px, 100 epochs, 5 augmentation draws",
            "experiments": "real, real_plus_synthetic, classical_augmentation, synthetic_only, "
            "shortcut_probe",
        },
        "upstream_seconds": round(upstream_seconds),
        "runs": runs,
        "load_average_1_5_15": {k: [round(x, 2) for x in v] for k, v in load.items()},
        "machine": f"{os.cpu_count()} CPU cores, no GPU",
    }
    (RESULTS / "classification_external.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    shutil.rmtree(upstream, ignore_errors=True)
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
