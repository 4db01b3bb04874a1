"""The study report through Kedro: the last node of a whole demo run writes it, it renders in
headless Chromium with every figure and verdict, `--pipelines report` rebuilds it alone (from the
latest or --load-versions outputs), a never-run input stops the rebuild with one line naming the
pipeline to run, and every run ends by printing the paths of what it wrote (a failed one too).
"""

from __future__ import annotations

import base64
import html
import json
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


def _latest_json(project: Path, name: str) -> dict:
    return json.loads(
        sorted((project / "data/demo/08_reporting" / name).glob(f"*/{name}"))[-1].read_text()
    )


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
    with tempfile.TemporaryDirectory() as profile:
        rendered = subprocess.run(
            [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
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
        assert f"run `kedro run --pipelines {pipeline}`, which makes it," in problems[name]
        assert "\n" not in problems[name]
    assert not [path for path in (project_copy / "data").rglob("*") if path.is_file()]


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
