"""Shared by the benchmarks: a throwaway copy of the project and a measured `kedro run`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED_XRAYS = ROOT.parent / "shared" / "cxr-dev"


def project_copy(
    catalog: dict | None = None, parameters: dict | None = None, root: Path = ROOT
) -> Path:
    """conf/ and pyproject of `root` (default this checkout) in a temp folder (outputs never
    land in the repo's data/)."""
    target = Path(tempfile.mkdtemp(prefix="cxr-gan-bench-"))
    shutil.copy(root / "pyproject.toml", target)
    shutil.copy(root / ".telemetry", target)
    shutil.copytree(root / "conf", target / "conf", ignore=shutil.ignore_patterns("local"))
    (target / "conf/local").mkdir()
    (target / "src").mkdir()
    for name, content in (("catalog", catalog), ("parameters", parameters)):
        if content:
            (target / f"conf/local/{name}.yml").write_text(yaml.safe_dump(content))
    return target


def timed_kedro_run(project: Path, *args: str) -> dict:
    """Run `kedro run ARGS` in a child process; wall seconds and that child's own peak RSS."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.perf_counter()
    with tempfile.TemporaryFile() as output:
        child = subprocess.Popen(
            [sys.executable, "-m", "kedro", "run", *args],
            cwd=project,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(child.pid, 0)  # rusage of this child alone
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            output.seek(0)
            print(output.read().decode(errors="replace")[-4000:], file=sys.stderr)
            raise SystemExit(f"kedro run {' '.join(args)} failed")
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024)}


def cxr_dev_training_split():
    """data_processing on ../shared/cxr-dev at 446 px in a temp project; the training split's
    uint8 images and int32 labels."""
    import numpy as np
    import pandas as pd

    from cxr_gan.datasets import NpyFolderDataset

    project = project_copy(
        catalog={
            "raw_xrays": {"type": "cxr_gan.datasets.XrayFolderDataset", "path": str(SHARED_XRAYS)}
        }
    )
    timed_kedro_run(project, "--pipelines", "data_processing")
    inputs = project / "data/05_model_input"
    arrays = NpyFolderDataset(filepath=str(next(inputs.glob("xray_arrays/*/")))).load()
    split = pd.read_csv(next(inputs.glob("xray_split.csv/*/xray_split.csv")))
    train = set(split.loc[split["split"] == "train", "id"])
    mask = np.array([i in train for i in arrays["ids"]])
    shutil.rmtree(project, ignore_errors=True)
    return arrays["images"][mask], arrays["labels"][mask].astype(np.int32)
