"""kedro-viz: the static export builds offline, carries layers, namespaces and previews, and
really renders every pipeline in a headless browser.

`kedro viz build` runs once per module in a tmp copy of the session's tiny demo study
(conftest.demo_study, so previews have files to show: the study report, the synthetic sets); the
browser test serves that build on 127.0.0.1 and reads the DOM that chromium rendered.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tests.conftest import PROJECT_ROOT, DemoStudy
from tests.kedro_helpers import stop_process_group, write_conf

LAYERS = ["raw", "intermediate", "model_input", "models", "model_output", "reporting"]
EXPERIMENTS = {
    "real",
    "real_plus_synthetic",
    "classical_augmentation",
    "synthetic_only",
    "synthetic_pretrain",
}
VARIANT = "lr_0p01"
# one node each pipeline draws, as the graph labels it
PIPELINE_NODES = {
    "data_processing": "ingest_raw_xrays",
    "gan_training": "train_conditional_gan",
    "synthesis": "synthesize_xrays",
    "classification": "compare_experiments",
    "report": "build_study_report",
}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # kedro-viz's page asks Google Fonts for a font: fail that at once, offline and in CI
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--window-size=1600,1000",
]


def _run_in_own_group(command: list[str], cwd: Path, timeout: float) -> str:
    """Run a command in its own process group and kill the whole group afterwards, because
    kedro-viz and chromium both leave children behind when their parent ends."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("KEDRO_ENV", None)
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        output, errors = process.communicate(timeout=timeout)
        assert process.returncode == 0, (output + errors)[-3000:]
        return output
    finally:
        stop_process_group(process, timeout=10)


@pytest.fixture(scope="module")
def viz_build(tmp_path_factory: pytest.TempPathFactory, demo_study: DemoStudy) -> Path:
    """The build/ folder of `kedro viz build --include-previews` with one GAN variant, over a
    copy of the session's demo study (its outputs give the previews)."""
    project = tmp_path_factory.mktemp("viz") / "project"
    shutil.copytree(demo_study.project, project)
    write_conf(
        project,
        "local/catalog.yml",
        {
            "raw_xrays": {
                "type": "cxr_gan.datasets.PhantomXrayDataset",
                "count_per_class": 4,
                "image_size": 32,
                "metadata": {"kedro-viz": {"layer": "raw"}},
            }
        },
    )
    write_conf(project, "local/parameters.yml", {"gan_training": {"variants": {VARIANT: {}}}})
    write_conf(project, "local/globals.yml", {"data_root": "data/demo"})  # the demo's outputs
    output = _run_in_own_group(
        [sys.executable, "-m", "kedro", "viz", "build", "--include-previews"], project, 300
    )
    build = project / "build"
    # `kedro viz build` prints its errors but still exits 0: check what it wrote
    assert "Success" in output and (build / "api" / "main").is_file(), output[-3000:]
    return build


def _api(build: Path, name: str) -> dict:
    return json.loads((build / "api" / name).read_text())


def _data_node(build: Path, name: str) -> dict:
    main = _api(build, "main")
    [node] = [n for n in main["nodes"] if n["type"] == "data" and n["name"] == name]
    return _api(build, f"nodes/{node['id']}")


@pytest.mark.parametrize("env", ["base", "demo"])
def test_every_catalog_entry_names_a_known_layer(env: str) -> None:
    catalog = yaml.safe_load((PROJECT_ROOT / "conf" / env / "catalog.yml").read_text())
    missing = {
        name: (entry.get("metadata") or {}).get("kedro-viz", {}).get("layer")
        for name, entry in catalog.items()
        if not name.startswith("_")
        and (entry.get("metadata") or {}).get("kedro-viz", {}).get("layer") not in LAYERS
    }
    assert not missing, f"entries without a layer from {LAYERS}: {missing}"


@pytest.mark.slow
def test_viz_build_has_ordered_layers_namespaces_and_previews(viz_build: Path) -> None:
    main = _api(viz_build, "main")
    assert main["layers"] == LAYERS  # empty when kedro-viz finds a cycle among the layers
    unlayered = [n["name"] for n in main["nodes"] if n["type"] == "data" and not n.get("layer")]
    assert not unlayered
    namespaces = {n["name"] for n in main["nodes"] if n["type"] == "modularPipeline"}
    assert namespaces >= EXPERIMENTS | {"shortcut_probe", VARIANT}
    for pipeline in PIPELINE_NODES:
        assert _api(viz_build, f"pipelines/{pipeline}")["selected_pipeline"] == pipeline

    sheet = _data_node(viz_build, "contact_sheet")
    assert sheet["preview_type"] == "ImagePreview"
    assert base64.b64decode(sheet["preview"]).startswith(b"\x89PNG")
    manifest = _data_node(viz_build, "raw_manifest")
    assert manifest["preview_type"] == "TablePreview"
    assert "relative_path" in manifest["preview"]["columns"]
    assert len(manifest["preview"]["data"]) == 10  # 30 phantoms, cut at the catalog's nrows: 10
    assert _data_node(viz_build, "data_quality_report")["preview_type"] == "JSONPreview"

    synthetic = _data_node(viz_build, "synthetic_xrays")  # a thumbnail sheet of the set
    assert synthetic["preview_type"] == "ImagePreview"
    assert base64.b64decode(synthetic["preview"]).startswith(b"\x89PNG")
    report = _data_node(viz_build, "study_report")  # its summary, verdicts first
    assert report["preview_type"] == "HTMLPreview"
    assert "Summary</h2>" in report["preview"] and "The GAN has " in report["preview"]
    assert "data:image" not in report["preview"]  # not the whole page with its figures
    twin = _data_node(viz_build, "study_report_markdown")
    assert twin["preview_type"] == "HTMLPreview" and "## Summary" in twin["preview"]
    card = _data_node(viz_build, "generator_card")  # the generator's model card, Markdown
    assert card["preview_type"] == "HTMLPreview" and "Not for diagnosis" in card["preview"]


@pytest.fixture
def served(viz_build: Path) -> Iterator[str]:
    """The build served on 127.0.0.1 (kedro-viz fetches /api/..., so it must sit at the root)."""

    class QuietHandler(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep the test output clean
            pass

    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(viz_build))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class _GraphNodes(HTMLParser):
    """Names of the drawn graph nodes (<g class="pipeline-node ..." data-node-fullname=...>)
    and layer labels, as opposed to the sidebar's list, which renders without the graph."""

    def __init__(self) -> None:
        super().__init__()
        self.nodes: dict[str, str] = {}
        self.layers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        classes = (values.get("class") or "").split()
        if tag == "g" and "pipeline-node" in classes and values.get("data-node-fullname"):
            self.nodes[values["data-node-fullname"]] = values.get("data-node-type") or ""
        if "pipeline-layer-name" in classes:
            self.layers.append((values.get("data-id") or "").removeprefix("layer-label--"))


@pytest.mark.slow
@pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium on PATH: the render test needs a real browser (apt-get install chromium)",
)
def test_built_viz_renders_every_pipeline_in_chromium(served: str) -> None:
    for budget_ms in (15000, 45000):  # a second, longer look when a busy machine lays out slowly
        with tempfile.TemporaryDirectory() as profile:
            dom = _run_in_own_group(
                [
                    CHROMIUM,
                    *CHROMIUM_FLAGS,
                    f"--user-data-dir={profile}",
                    "--dump-dom",
                    f"--virtual-time-budget={budget_ms}",
                    served,
                ],
                Path(profile),
                120,
            )
        graph = _GraphNodes()
        graph.feed(dom)
        if set(PIPELINE_NODES.values()) <= set(graph.nodes):
            break
    missing = {p: n for p, n in PIPELINE_NODES.items() if graph.nodes.get(n) != "task"}
    assert not missing, f"graph lacks nodes of {missing}; drew {sorted(graph.nodes)[:40]}"
    collapsed = {name for name, kind in graph.nodes.items() if kind == "modularPipeline"}
    assert collapsed >= EXPERIMENTS | {VARIANT}  # namespaces drawn as one collapsed box each
    inside = [name for name, kind in graph.nodes.items() if kind == "task" and "." in name]
    assert not inside  # a namespace's own nodes ("real.train_and_evaluate") stay in its box
    assert graph.layers == LAYERS
