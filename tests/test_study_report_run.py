"""The study report through Kedro: the last node of a whole demo run writes it, it renders in
headless Chromium with every figure and verdict, `--pipelines report` rebuilds it alone (from the
latest or --load-versions outputs), a never-run input stops the rebuild with one line naming the
pipeline to run, and every run ends by printing the paths of what it wrote (a failed one too).
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from kedro.io.core import generate_timestamp

from cxr_gan.preflight import PreflightError
from tests.conftest import DemoStudy
from tests.kedro_helpers import DEMO_STUDY, captured_log, run_kedro, use_tiny_phantoms
from tests.test_viz import CHROMIUM, CHROMIUM_FLAGS

# every test here reads one tiny demo study run once per session (about 15-60 s)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

EXPERIMENTS = 6  # 5 experiments and the shortcut probe, at conf/base's defaults
# contact sheet; GAN losses, grids over epochs, last grid, quality figure, synthetic set; the
# comparison plot; each experiment's training curves, ROC and Grad-CAM
FIGURES = 1 + 5 + 1 + 3 * EXPERIMENTS
DATA_IMAGE = re.compile(r'<img\b[^>]*\bsrc="data:image/png;base64,([A-Za-z0-9+/=]+)"')
PNG = b"\x89PNG\r\n\x1a\n"


def _printed(lines: list[str], title: str) -> Path:
    (line,) = [line for line in lines if line.startswith(f"{title}: ")]
    return Path(line.split(": ", 1)[1])


def _latest_json(project: Path, name: str, data: str = "data/demo") -> dict:
    return json.loads(
        sorted((project / data / "08_reporting" / name).glob(f"*/{name}"))[-1].read_text()
    )


def _rendered(page: Path) -> str:
    """The page's DOM as headless Chromium rendered it."""
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout


def _copy(demo_study: DemoStudy, tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(demo_study.project, project)
    return project


def test_a_whole_run_ends_by_printing_the_report_and_key_outputs(demo_study: DemoStudy):
    lines = demo_study.run_log
    page = _printed(lines, "Study report")
    markdown = _printed(lines, "Study report, Markdown (its figures beside it)")
    assert page.is_file() and page.name == "study_report.html"
    assert markdown.is_file() and markdown.name == "study_report.md"
    version = page.parent.name
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d\.\d\d\.\d\d\.\d{3}Z", version)
    summary = next(line for line in lines if line.startswith("This run wrote "))
    assert f"({version})" in summary
    keys = dict(line.strip().split(": ", 1) for line in lines if line.startswith("  "))
    for name in (
        "generator",
        "generator_card",
        "synthetic_xrays",
        "classification_comparison_table",
    ):
        assert Path(keys[name]).exists() and f"/{version}" in keys[name], name


def test_the_report_renders_in_chromium_with_every_figure_and_verdict(demo_study: DemoStudy):
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    page = _printed(demo_study.run_log, "Study report")
    rendered = _rendered(page)
    images = DATA_IMAGE.findall(rendered)
    assert len(images) == len(re.findall(r"<img\b", rendered)) == FIGURES
    assert all(base64.b64decode(data).startswith(PNG) for data in images)
    text = html.unescape(rendered)
    verdict = _latest_json(demo_study.project, "classification_comparison.json")["verdict"]
    assert verdict["sentence"] in text
    quality = _latest_json(demo_study.project, "gan_quality_report.json")
    assert quality["verdict"] in text and "The GAN has " in text and "Copies: " in text
    assert "not run yet" not in text  # every part of the study was found
    assert "real_plus_synthetic" in text and "shortcut_probe" in text
    assert "\n  gan_image_size: 16\n" in text  # the run's parameters, key by key

    twin = _printed(demo_study.run_log, "Study report, Markdown (its figures beside it)")
    linked = re.findall(r"\]\((figures/[^)]+\.png)\)", twin.read_text())
    assert len(linked) == FIGURES
    assert all((twin.parent / link).read_bytes().startswith(PNG) for link in linked)
    _says_what_a_careful_reader_needs(demo_study.project, rendered, twin.read_text())


STUDY_PROJECT = os.environ.get("CXR_STUDY_PROJECT")  # benchmarks/study_cxr_dev.py sets it


@pytest.mark.skipif(
    not STUDY_PROJECT,
    reason="reads a real-data study: benchmarks/study_cxr_dev.py runs it on the study it made",
)
def test_a_real_data_study_report_passes_the_same_check():
    """The report of a study on real X-rays (cxr-dev, cxr-eval as the external folder), kept by
    benchmarks/study_cxr_dev.py: rendered in Chromium, every figure a PNG, the verdicts, and what
    a careful reader needs, as the demo's report."""
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    project = Path(str(STUDY_PROJECT))
    reports = project / "data/08_reporting"
    page = sorted(reports.glob("study_report.html/*/study_report.html"))[-1]
    rendered = _rendered(page)
    comparison = _latest_json(project, "classification_comparison.json", "data")
    images = DATA_IMAGE.findall(rendered)
    figures = FIGURES - 3 * EXPERIMENTS + 3 * len(comparison["experiments"])
    assert len(images) == len(re.findall(r"<img\b", rendered)) == figures
    assert all(base64.b64decode(data).startswith(PNG) for data in images)
    text = html.unescape(rendered)
    assert comparison["verdict"]["sentence"] in text
    assert "external" in comparison["verdict"]["sentence"]  # the answer rests on cxr-eval
    quality = _latest_json(project, "gan_quality_report.json", "data")
    assert quality["verdict"] in text and "The GAN has " in text and "Copies: " in text
    assert "not run yet" not in text
    assert "synthetic_pretrain" in text and "shortcut_probe" in text
    twin = sorted(reports.glob("study_report_md/*/study_report.md"))[-1]
    linked = re.findall(r"\]\((figures/[^)]+\.png)\)", twin.read_text())
    assert len(linked) == len(images)
    _says_what_a_careful_reader_needs(project, rendered, twin.read_text(), "data")


def _says_what_a_careful_reader_needs(
    project: Path, rendered: str, twin: str, data: str = "data/demo"
) -> None:
    """The rendered page (and its Markdown twin) flags each one-sided classifier, names the
    distances' feature space, links every heading from its contents, names the software and
    each model's device, and shows no absolute path of the project."""
    import platform
    from importlib import metadata

    from cxr_gan.reporting.comparison import one_sided_flag

    text = html.unescape(re.sub(r"<[^>]+>", "", rendered))
    comparison = _latest_json(project, "classification_comparison.json", data)
    summary = rendered.split("<!-- preview:start -->", 1)[1].split("<!-- preview:end -->", 1)[0]
    for row in comparison["experiments"]:
        flag = one_sided_flag(row["calls"])
        if flag:  # in its row of the comparison table, under its experiment, in the summary
            assert f"{row['name']} ({flag})" in text and f"{row['name']} {flag}" in text
            assert re.search(rf"\b{row['name']}\b[^<]* call", summary)
        else:
            assert f"{row['name']} calls nearly" not in text
    assert "KID x1000 vs evaluation split (random-CNN features; not comparable with published " in (
        text
    )
    assert "FID (random-CNN features; not comparable with published values)" in text
    nav = rendered.split('<nav class="contents">', 1)[1].split("</nav>", 1)[0]
    links = re.findall(r'href="#([^"]+)"', nav)
    ids = set(re.findall(r'\bid="([^"]+)"', rendered))
    assert len(links) >= 10 and set(links) <= ids
    assert {f"experiment-{row['name']}" for row in comparison["experiments"]} <= set(links)
    assert "- [Summary](#summary)" in twin
    section = text.split("Software and devices", 2)[2]
    for name, version in (
        ("cxr-gan", metadata.version("cxr-gan")),
        ("Python", platform.python_version()),
        ("TensorFlow", metadata.version("tensorflow")),
        ("Keras", metadata.version("keras")),
    ):
        assert f"{name}{version}" in section  # table cells, side by side once tags are gone
    assert "git commit" in section
    devices = re.findall(r"(?:CPU|GPU):\d[^,]*, strategy default, 1 replica", section)
    assert len(devices) == 1 + len(comparison["experiments"])  # the GAN and every classifier
    assert "not recorded" not in section
    assert str(project) not in text and str(project) not in twin


def test_the_demos_figures_titles_lie_within_their_figures(demo_study: DemoStudy):
    """The figures with long titles, rebuilt from the demo's saved outputs as the pipelines
    build them: every title's drawn extent lies within its figure."""
    import numpy as np
    import pandas as pd

    from cxr_gan.pipelines.gan_training.nodes import plot_grids_over_epochs
    from cxr_gan.pipelines.gan_training.params import GanTrainingParams
    from cxr_gan.reporting.classification_figures import plot_comparison
    from cxr_gan.reporting.comparison import comparison_title
    from cxr_gan.reporting.figure_text import overflowing

    comparison = _latest_json(demo_study.project, "classification_comparison.json")
    figure = plot_comparison(comparison["experiments"], comparison_title(comparison))
    assert overflowing(figure) == []
    history = _latest_json(demo_study.project, "gan_history.json")
    epochs = [record["epoch"] for record in history["epochs"]]
    size = history["settings"]["gan_image_size"]
    grids = {  # the saved grids' size: 2 class rows of 8 samples at the GAN's size
        "images": [np.zeros((2 * size, 8 * size), np.uint8) for _ in epochs],
        "manifest": pd.DataFrame({"epoch": epochs}),
    }
    figure = plot_grids_over_epochs(grids, history, GanTrainingParams())
    assert overflowing(figure) == []
    assert "lower = more varied" in " ".join(figure._suptitle.get_text().split())


def test_the_report_pipeline_rebuilds_the_page_alone_from_chosen_versions(
    demo_study: DemoStudy, tmp_path: Path
):
    project = _copy(demo_study, tmp_path)
    sheets = project / "data/demo/08_reporting/contact_sheet.png"
    (latest,) = [folder.name for folder in sheets.iterdir()]
    older = "2000-01-01T00.00.00.000Z"  # an older contact sheet: a 1x1 PNG
    (sheets / older).mkdir()
    tiny = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg=="
    )
    (sheets / older / "contact_sheet.png").write_bytes(tiny)
    before = {path for path in (project / "data").rglob("*") if path.is_file()}

    with captured_log() as lines:
        run_kedro(
            project,
            env="demo",
            params=DEMO_STUDY,
            pipeline_names=["report"],
            load_versions={"contact_sheet": older},
        )
    page = _printed(lines, "Study report")
    written = {path for path in (project / "data").rglob("*") if path.is_file()} - before
    reports = project / "data/demo/08_reporting"
    assert {path.relative_to(reports).parts[0] for path in written} == {
        "study_report.html",
        "study_report_md",
    }
    assert page in written and page.parent.name != latest
    text = page.read_text()
    assert base64.b64encode(tiny).decode() in text  # the chosen (older) sheet is the one shown
    assert f"<td>contact_sheet</td><td>{older}</td>" in text  # and the inputs table says so
    assert f"--load-versions contact_sheet={older}" in text
    assert "This run did not rebuild the study report" not in "\n".join(lines)


def test_a_report_of_a_study_never_run_names_what_to_run(project_copy: Path):
    use_tiny_phantoms(project_copy, count_per_class=12, env="demo")
    with pytest.raises(PreflightError) as caught:
        run_kedro(project_copy, env="demo", params=DEMO_STUDY, pipeline_names=["report"])
    problems = {problem.split(":", 1)[0]: problem for problem in caught.value.problems}
    for name, pipeline in (
        ("contact_sheet", "data_processing"),
        ("gan_history", "gan_training"),
        ("gan_quality_report", "synthesis"),
        ("real.gradcam", "classification"),
    ):
        # the hint keeps the run's --env and --params
        assert f"run `kedro run --pipelines {pipeline} --env demo --params " in problems[name]
        assert "\n" not in problems[name]
    written = [p for p in (project_copy / "data").rglob("*") if p.is_file()]
    assert not [p for p in written if "mlruns" not in p.parts]  # MLflow's store is no output


def test_a_failed_run_prints_the_paths_it_wrote(demo_study: DemoStudy, tmp_path: Path):
    """data_processing writes its outputs, then the report fails on a broken comparison."""
    project = _copy(demo_study, tmp_path)
    # the latest version (dated now: one dated in the future would be refused before any node)
    comparisons = project / "data/demo/08_reporting/classification_comparison.json"
    broken = comparisons / generate_timestamp()
    broken.mkdir()
    (broken / "classification_comparison.json").write_text("{ not json")
    with captured_log() as lines, pytest.raises(Exception, match="classification_comparison"):
        run_kedro(
            project, env="demo", params=DEMO_STUDY, pipeline_names=["data_processing", "report"]
        )
    assert lines[0] == "This run failed; it wrote 5 output(s) before the error:"
    printed = dict(line.strip().split(": ", 1) for line in lines[1:])
    assert set(printed) == {
        "raw_manifest",
        "xray_arrays",
        "xray_split",
        "data_quality_report",
        "contact_sheet",
    }
    assert all(Path(path).exists() for path in printed.values())
    assert len(list((project / "data/demo/08_reporting/study_report.html").glob("*/*.html"))) == 1
