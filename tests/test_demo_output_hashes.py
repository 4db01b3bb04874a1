"""benchmarks/demo_output_hashes.py, its `hash` and `compare` modes on small output folders written
here: what varies from run to run (save versions, listed timing fields, the temp project's path,
zip entry times, PNG metadata) leaves the hashes alone; any change to an output's content shows.
Its `run` mode is the whole demo (3 minutes): the lead runs it before and after a change."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from tests.conftest import PROJECT_ROOT, gradient_image

SCRIPT = PROJECT_ROOT / "benchmarks" / "demo_output_hashes.py"


def _script(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _outputs(root: Path, version: str, seconds: float, auc: float = 0.9) -> Path:
    """A data/demo-like folder: versioned JSON, CSV, Markdown, PNG, .npz; an MLflow store."""
    data = root / "demo"
    project = f"/tmp/cxr-gan-bench-{version[11:13]}a_b"  # as tempfile.mkdtemp names it

    def out(name: str) -> Path:
        path = data / "08_reporting" / name / version / name
        path.parent.mkdir(parents=True)
        return path

    out("report.json").write_text(
        json.dumps({"auc": auc, "seconds": seconds, "inputs": {"raw": f"{project}/data/{version}"}})
    )
    out("table.csv").write_text(f"id,auc,seconds\na,{auc},{seconds}\n")
    out("report.md").write_text(f"AUC {auc}, written {version} from {project}\n")
    png = PngImagePlugin.PngInfo()
    png.add_text("Software", version)  # metadata differs, pixels do not
    Image.fromarray(gradient_image(32, 32)).save(out("figure.png"), pnginfo=png)
    np.savez(out("arrays.npz"), images=np.full((2, 4), int(auc * 10), np.uint8))
    (data / "mlruns" / "0").mkdir(parents=True)
    (data / "mlruns" / "0" / "meta.yaml").write_text(f"run_id: {version}\n")
    return data


def test_hashes_ignore_what_varies_between_runs_and_see_any_content_change(tmp_path):
    first = _outputs(tmp_path / "a", "2026-12-08T03.00.00.000Z", 1.5)
    time.sleep(2)  # zip entries record the time, to 2 s
    second = _outputs(tmp_path / "b", "2026-12-08T04.10.20.300Z", 2.5)
    changed = _outputs(tmp_path / "c", "2026-12-08T05.00.00.000Z", 1.5, auc=0.8)
    for name in ("figure.png",):  # the files differ (numpy writes .npz entries undated)
        path = f"08_reporting/{name}/{{}}/{name}"
        a = (first / path.format("2026-12-08T03.00.00.000Z")).read_bytes()
        assert a != (second / path.format("2026-12-08T04.10.20.300Z")).read_bytes()
    for data, out in ((first, "a.json"), (second, "b.json"), (changed, "c.json")):
        result = _script("hash", data, tmp_path / out)
        assert result.returncode == 0, result.stderr
    hashes = json.loads((tmp_path / "a.json").read_text())["hashes"]
    assert sorted(hashes) == [
        f"08_reporting/{name}/<version>/{name}"
        for name in ("arrays.npz", "figure.png", "report.json", "report.md", "table.csv")
    ]  # mlruns/ is excluded

    same = _script("compare", tmp_path / "a.json", tmp_path / "b.json")
    assert same.returncode == 0 and same.stdout.strip() == "same: 5 outputs", same.stdout
    differs = _script("compare", tmp_path / "a.json", tmp_path / "c.json")
    assert differs.returncode == 1
    assert differs.stdout.splitlines() == [
        f"differs:   08_reporting/{name}/<version>/{name}"
        for name in ("arrays.npz", "report.json", "report.md", "table.csv")
    ]


def test_compare_names_outputs_one_side_lacks(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"hashes": {"x": "1", "y": "2"}}))
    (tmp_path / "b.json").write_text(json.dumps({"hashes": {"y": "2", "z": "3"}}))
    result = _script("compare", tmp_path / "a.json", tmp_path / "b.json")
    assert result.returncode == 1
    assert result.stdout.splitlines() == ["only in A: x", "only in B: z"]


@pytest.mark.slow
def test_a_keras_model_saved_twice_hashes_the_same_and_other_weights_differ(tmp_path):
    """.keras files are zips with save times and Keras' date_saved: their weights are hashed."""
    script = (
        "import sys, time, keras\n"
        "keras.utils.set_random_seed(0)\n"
        "model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])\n"
        "model.save(sys.argv[1] + '/a/m.keras')\n"
        "time.sleep(2)\n"
        "model.save(sys.argv[1] + '/b/m.keras')\n"
        "model.layers[0].kernel.assign(model.layers[0].kernel + 1)\n"
        "model.save(sys.argv[1] + '/c/m.keras')\n"
    )
    for side in "abc":
        (tmp_path / side).mkdir()
    subprocess.run([sys.executable, "-c", script, tmp_path], check=True, timeout=240)
    assert (tmp_path / "a/m.keras").read_bytes() != (tmp_path / "b/m.keras").read_bytes()
    for side in "abc":
        assert _script("hash", tmp_path / side, tmp_path / f"{side}.json").returncode == 0
    assert _script("compare", tmp_path / "a.json", tmp_path / "b.json").returncode == 0
    assert _script("compare", tmp_path / "a.json", tmp_path / "c.json").returncode == 1
