"""Throughput and peak memory of data_processing (issue: >= 100 images/s, < 1 GB for 2,000).

    uv run python benchmarks/bench_data_processing.py cxr-dev         # ../shared/cxr-dev, 446 px
    uv run python benchmarks/bench_data_processing.py phantoms 2000   # 2,000 phantom PNGs, 446 px

Each measurement is a separate `kedro run --pipelines data_processing` process, so its peak RSS
is that run's alone (Python, Kedro, pandas and OpenCV included). Images/s counts files read,
hashed, decoded, resized and stored, over the ingest node's own time (from its log line).
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path

from _project import SHARED_XRAYS, project_copy, timed_kedro_run

from cxr_gan.data.phantom import write_phantom_folder


def main() -> None:
    which = sys.argv[1] if len(sys.argv) > 1 else "cxr-dev"
    if which == "cxr-dev":
        if not SHARED_XRAYS.is_dir():
            raise SystemExit(f"{SHARED_XRAYS} is not on this machine")
        folder, count = SHARED_XRAYS, 200
    else:
        count = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
        folder = Path(tempfile.mkdtemp(prefix="phantoms-"))
        write_phantom_folder(folder, count // 2, size=512, seed=7)
    project = project_copy(
        catalog={"raw_xrays": {"type": "cxr_gan.datasets.XrayFolderDataset", "path": str(folder)}},
    )
    measured = timed_kedro_run(project, "--pipelines", "data_processing")
    log = (project / "info.log").read_text() if (project / "info.log").exists() else ""
    rates = re.findall(r"Decoding X-rays: (\d+)/\d+ files \(([\d.]+)/s", log)
    measured.update(
        source=which,
        images=count,
        image_size=446,
        ingest_images_per_s=float(rates[-1][1]) if rates else None,
        whole_run_images_per_s=round(count / measured["seconds"], 1),
    )
    print(json.dumps(measured, indent=2))


if __name__ == "__main__":
    main()
