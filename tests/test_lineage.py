"""Lineage (cxr_gan.lineage): every versioned output records the data it derives from, and a run
refuses inputs derived from other data, in one line naming both fingerprints and the rebuild.

Real Kedro runs through a KedroSession in throwaway project copies, on real PNG files: a tiny
study of the user's own folder (module fixture), and the session's tiny demo study
(conftest.demo_study), each copied before a test changes it. The demo apart (conf/demo's
data_root) is here too: it is what keeps a user's run from reading the demo's outputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import cv2
import pandas as pd
import pytest
from kedro.io.core import generate_timestamp

from cxr_gan.data.phantom import COVID, draw_phantom, write_phantom_folder
from cxr_gan.data.sources import scan_folder
from cxr_gan.lineage import (
    EXTERNAL,
    LINEAGE_FILE,
    LineageError,
    conflicts,
    fingerprint_now,
    raw_listing,
    rebuild_command,
    stale_names,
    version_time,
)
from cxr_gan.preflight import PreflightError
from cxr_gan.reporting.data_quality import usable_fingerprint
from tests.conftest import DemoStudy, copy_project
from tests.kedro_helpers import DEMO_STUDY, TINY_STUDY, captured_log, run_kedro

USER = TINY_STUDY  # the user's own study: the default env, data/ as its root
PARAMS_SHOWN = '--params "data_processing.image_size=32,'  # the rebuild keeps --params


def _latest(folder: Path) -> Path:
    """The newest version folder of a dataset's folder."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and version_time(p.name))[-1]


def _fingerprint(project: Path, root: str = "data") -> str:
    report = _latest(project / root / "08_reporting/data_quality_report.json")
    return json.loads((report / "data_quality_report.json").read_text())["fingerprint"]


def _data_files(project: Path) -> set[Path]:
    return {p for p in (project / "data").rglob("*") if p.is_file() and p.name != ".gitkeep"}


def _copy(project: Path, tmp_path: Path) -> Path:
    target = tmp_path / "project"
    shutil.copytree(project, target)
    return target


@pytest.fixture(scope="module")
def user_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A whole tiny study of the user's own folder: 12 phantom PNGs per class in data/01_raw."""
    project = copy_project(tmp_path_factory.mktemp("lineage") / "project")
    write_phantom_folder(project / "data" / "01_raw", count_per_class=12, size=32, seed=3)
    # an external folder (catalog external_xrays: data/01_raw_external): scored, never trained on
    write_phantom_folder(project / "data" / "01_raw_external", count_per_class=3, size=32, seed=9)
    run_kedro(project, params=USER)
    return project


@pytest.mark.slow  # the module's study
def test_what_was_scored_on_the_external_folder_records_that_folder(user_study: Path):
    external = user_study / "data" / "01_raw_external"
    predictions = list(
        (user_study / "data/08_reporting/classification").glob("*/external_predictions.csv")
    )
    assert predictions  # one per experiment
    for dataset in predictions:
        record = json.loads((_latest(dataset) / LINEAGE_FILE).read_text())
        assert record["external"]["source"].endswith("01_raw_external")
        assert record["external"]["listing"] == raw_listing(scan_folder(external))
        assert record["external"]["files"] == 6
        assert record["fingerprint"] == _fingerprint(user_study)  # still the training data's
    # what never saw the external folder records none
    generator = json.loads(
        (_latest(user_study / "data/06_models/generator.keras") / LINEAGE_FILE).read_text()
    )
    assert generator["external"] is None


# ------------------------------------------------------------------ the rules, without Kedro


def test_the_newest_inputs_data_is_kept_and_the_rest_is_stale():
    records = {
        "xray_arrays": {"version": "2026-01-02T00.00.00.000Z", "fingerprint": "b" * 64},
        "synthetic_xrays": {
            "version": "2026-01-01T00.00.00.000Z",
            "fingerprint": "a" * 64,
            "ancestors": {"generator": "g1", "xray_arrays": "old"},
            "models": {"generator": "g1"},
        },
    }
    [(what, kept, others)] = conflicts(records)
    assert (what, kept, others) == ("fingerprint", ["xray_arrays"], ["synthetic_xrays"])
    # the fresh arrays are not stale; the stale set's generator is
    assert stale_names(kept, others, records) == ["generator", "synthetic_xrays"]
    # pinned with --load-versions, the odd input is the one used anyway, not the kept one
    [(_, kept, others)] = conflicts(records, pinned={"xray_arrays"})
    assert (kept, others) == (["synthetic_xrays"], ["xray_arrays"])


def test_two_sets_from_two_generators_conflict_on_the_generator():
    records = {
        "synthetic_xrays": {"fingerprint": "a" * 64, "models": {"generator": "2026-02"}},
        "synthetic_balanced_xrays": {"fingerprint": "a" * 64, "models": {"generator": "2026-01"}},
    }
    assert conflicts(records) == [("generator", ["synthetic_xrays"], ["synthetic_balanced_xrays"])]


def test_evaluations_scored_on_two_states_of_the_external_folder_conflict():
    def scored(version: str, listing: str) -> dict:
        external = {"source": "data/01_raw_external", "listing": listing, "files": 6}
        return {"version": version, "fingerprint": "a" * 64, "external": external}

    records = {
        "real.external_evaluation": scored("2026-01-01T00.00.00.000Z", "c" * 64),
        "real_plus_synthetic.external_evaluation": scored("2026-01-02T00.00.00.000Z", "d" * 64),
        "classification_data": {"version": None, "fingerprint": "a" * 64, "external": None},
    }
    assert conflicts(records) == [
        (EXTERNAL, ["real_plus_synthetic.external_evaluation"], ["real.external_evaluation"])
    ]
    records["real.external_evaluation"]["external"]["listing"] = "d" * 64  # the same files
    assert conflicts(records) == []


def test_the_rebuild_keeps_env_and_params_and_runs_from_the_first_stale_pipeline():
    run = {
        "pipeline_names": ["classification"],
        "env": "demo",
        "runtime_params": {"gan_training": {"epochs": 200}, "classification": {"seeds": [1]}},
    }
    assert rebuild_command(run, ["generator"]) == (
        "kedro run --pipelines gan_training,synthesis,classification --env demo "
        '--params "gan_training.epochs=200,classification.seeds=[1]"'
    )
    default = {"pipeline_names": None, "env": "local", "runner": "None"}  # as Kedro records it
    assert rebuild_command(default, ["generator"]) == "kedro run"


def test_the_raw_folder_changes_its_fingerprint_only_when_its_usable_images_do(tmp_path: Path):
    """raw_listing notices any change without reading a file; fingerprint_now then says whether
    the data changed: a touched file or new clutter leaves it as data_processing recorded it,
    an added image changes it."""
    raw = tmp_path / "raw"
    write_phantom_folder(raw, count_per_class=3, size=16, seed=1)
    (raw / "covid" / "notes.txt").write_text("not an image, left out")
    rows = []
    for path in sorted(p for p in raw.rglob("*") if p.is_file()):
        relative = path.relative_to(raw).as_posix()
        status = "skipped" if path.suffix == ".txt" else "ok"
        rows.append({"relative_path": relative, "status": status, "sha256": _sha(path)})
    manifest = pd.DataFrame(rows)
    recorded = usable_fingerprint(manifest)
    listing = raw_listing(scan_folder(raw))
    classes = ["normal", "covid"]
    assert fingerprint_now(scan_folder(raw), manifest, classes) == recorded

    image = raw / "normal" / "phantom_00000.png"
    os.utime(image, ns=(1, 1))  # touched: listed differently, the same bytes
    (raw / "covid" / ".DS_Store").write_bytes(b"clutter")
    (raw / "README.txt").write_text("outside every class folder")
    assert raw_listing(scan_folder(raw)) != listing
    assert fingerprint_now(scan_folder(raw), manifest, classes) == recorded

    cv2.imwrite(str(raw / "covid" / "added.png"), draw_phantom(COVID, 7, seed=5, size=16))
    assert fingerprint_now(scan_folder(raw), manifest, classes) != recorded


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------ real runs


@pytest.mark.slow  # KedroSession runs
def test_images_added_then_classification_is_refused_naming_both_fingerprints(
    user_study: Path, tmp_path: Path
):
    """User data A, a full run, images added, then `kedro run --pipelines classification`:
    refused in one line before any node. With data_processing in the same run, its new arrays
    reach classification's first node, which refuses the synthetic sets made from A (the
    check each node makes); data_processing found the very fingerprint the first line named.
    A classification run alone is then refused again, now naming what to rebuild from the GAN on."""
    project = _copy(user_study, tmp_path)
    old = _fingerprint(project)
    for index in range(3):
        image = draw_phantom(COVID, index, seed=99, size=32)
        cv2.imwrite(str(project / "data/01_raw/covid" / f"added_{index}.png"), image)
    before = _data_files(project)
    with pytest.raises(LineageError) as caught:
        run_kedro(project, params=USER, pipeline_names=["classification"])
    first = caught.value.message
    assert "\n" not in first and old[:12] in first and first.endswith("(nothing was run)")
    assert "data/01_raw now holds data with fingerprint" in first
    assert "kedro run --pipelines data_processing,gan_training,synthesis,classification" in first
    assert PARAMS_SHOWN in first
    assert _data_files(project) == before  # nothing trained, nothing written

    with pytest.raises(LineageError) as caught:
        run_kedro(project, params=USER, pipeline_names=["data_processing", "classification"])
    message = caught.value.message
    manifest = _latest(project / "data/02_intermediate/raw_manifest.csv") / "raw_manifest.csv"
    new = usable_fingerprint(pd.read_csv(manifest, dtype=str, keep_default_na=False))
    assert new != old and new[:12] in first  # the first line named the data's real fingerprint
    assert message.startswith("node prepare_classification_data: ")
    assert "\n" not in message and old[:12] in message and new[:12] in message
    assert message.endswith("(this node was not run)")
    classifiers = {p for p in _data_files(project) if "classifiers" in p.parts}
    assert classifiers == {p for p in before if "classifiers" in p.parts}  # none trained

    with pytest.raises(LineageError) as caught:
        run_kedro(project, params=USER, pipeline_names=["classification"])
    message = caught.value.message
    assert "\n" not in message and old[:12] in message and new[:12] in message
    assert "synthetic_xrays" in message
    assert "kedro run --pipelines gan_training,synthesis,classification" in message


@pytest.mark.slow  # KedroSession runs
def test_a_synthesis_stopped_between_its_two_sets_then_classification_is_refused(
    user_study: Path, tmp_path: Path
):
    """A new generator, then a synthesis run that saved its first set and no more (what a kill
    between the two saves leaves), then classification: refused, naming both generators."""
    project = _copy(user_study, tmp_path)
    generators = project / "data/06_models/generator.keras"
    first = _latest(generators).name
    run_kedro(project, params=USER, pipeline_names=["gan_training"])
    second = _latest(generators).name
    run_kedro(project, params=USER, node_names=["synthesize_xrays"])
    before = _data_files(project)
    with pytest.raises(LineageError) as caught:
        run_kedro(project, params=USER, pipeline_names=["classification"])
    message = caught.value.message
    assert "\n" not in message and first in message and second in message
    assert "synthetic_balanced_xrays" in message and "synthetic_xrays" in message
    assert "kedro run --pipelines synthesis,classification" in message
    assert _data_files(project) == before


@pytest.mark.slow  # KedroSession runs
def test_the_demo_then_a_users_data_never_meet(demo_study: DemoStudy, tmp_path: Path):
    """The demo, then a user's data, then a partial classification run: the demo's files all
    lie under data/demo, so the user's run finds no synthetic set and stops before training."""
    project = _copy(demo_study.project, tmp_path)
    demo = project / "data" / "demo"
    assert _data_files(project) and all(demo in p.parents for p in _data_files(project))
    write_phantom_folder(project / "data" / "01_raw", count_per_class=12, size=32, seed=3)
    run_kedro(project, params=USER, pipeline_names=["data_processing"])
    with pytest.raises(PreflightError) as caught:
        run_kedro(project, params=USER, pipeline_names=["classification"])
    assert any(p.startswith("synthetic_xrays: no saved version yet") for p in caught.value.problems)
    assert not list((project / "data").glob("0*/classifiers"))  # no classifier of the user's
    assert _fingerprint(project) != _fingerprint(project, "data/demo")


@pytest.mark.slow  # KedroSession runs
def test_every_versioned_output_of_the_demo_records_its_lineage_and_the_card_names_it(
    demo_study: DemoStudy,
):
    root = demo_study.project / "data" / "demo"
    fingerprint = _fingerprint(demo_study.project, "data/demo")
    versions = [p for p in root.rglob("*") if p.is_dir() and version_time(p.name)]
    assert len(versions) > 30
    for folder in versions:
        record = json.loads((folder / LINEAGE_FILE).read_text())
        assert record["fingerprint"] == fingerprint, folder
        assert record["version"] == folder.name and record["run"]["env"] == "demo"
        assert record["environment"]["packages"]["kedro"]
    generator = _latest(root / "06_models/generator.keras")
    record = json.loads((generator / LINEAGE_FILE).read_text())
    assert (
        record["parameters"]["params:gan_training"]["epochs"] == DEMO_STUDY["gan_training.epochs"]
    )
    assert record["raw"]["source"].startswith("phantom(")
    synthetic = json.loads(
        (_latest(root / "07_model_output/synthetic_xrays") / LINEAGE_FILE).read_text()
    )
    assert synthetic["models"] == {"generator": generator.name}

    card_folder = _latest(root / "06_models/generator_card")
    card = json.loads((card_folder / "model_card.json").read_text())
    assert card["data_fingerprint"] == fingerprint and card["version"] == generator.name
    assert card["trained_on"]["total"] > 0 and card["quality"]["verdict"]
    assert fingerprint in (card_folder / "model_card.md").read_text()
    report = (_latest(root / "08_reporting/study_report_md") / "study_report.md").read_text()
    assert f"{card_folder.name}/model_card.md" in report  # the report links the card


@pytest.mark.slow  # KedroSession runs
def test_a_version_dated_in_the_future_is_refused_by_name(demo_study: DemoStudy, tmp_path: Path):
    project = _copy(demo_study.project, tmp_path)
    generators = project / "data/demo/06_models/generator.keras"
    ahead = generators / "2999-01-01T00.00.00.000Z"
    shutil.copytree(_latest(generators), ahead)
    with pytest.raises(LineageError) as caught:
        run_kedro(project, env="demo", params=DEMO_STUDY, pipeline_names=["synthesis"])
    message = caught.value.message
    assert "\n" not in message and "generator: its latest version 2999-01-01" in message
    assert f"06_models/generator.keras/{ahead.name}" in message
    assert "--load-versions generator:" in message


@pytest.mark.slow  # KedroSession runs
def test_an_input_from_other_data_is_refused_unless_named_with_load_versions(
    demo_study: DemoStudy, tmp_path: Path
):
    project = _copy(demo_study.project, tmp_path)
    fingerprint = _fingerprint(project, "data/demo")
    sheets = project / "data/demo/08_reporting/contact_sheet.png"
    other = sheets / generate_timestamp()  # the latest contact sheet, made from other data
    shutil.copytree(_latest(sheets), other)
    record = json.loads((other / LINEAGE_FILE).read_text())
    (other / LINEAGE_FILE).write_text(json.dumps({**record, "fingerprint": "0" * 64}))

    with pytest.raises(LineageError) as caught:
        run_kedro(project, env="demo", params=DEMO_STUDY, pipeline_names=["report"])
    message = caught.value.message
    assert "\n" not in message and "000000000000" in message and fingerprint[:12] in message
    assert "--env demo" in message and "contact_sheet" in message

    with captured_log("cxr_gan.lineage") as lines:
        run_kedro(
            project,
            env="demo",
            params=DEMO_STUDY,
            pipeline_names=["report"],
            load_versions={"contact_sheet": other.name},
        )
    assert any("000000000000" in line and "--load-versions" in line for line in lines)
    report = json.loads(
        (_latest(project / "data/demo/08_reporting/study_report.html") / LINEAGE_FILE).read_text()
    )
    assert report["fingerprint"] == fingerprint
    assert report["mixed"] == [
        {
            "input": "contact_sheet",
            "version": other.name,
            "fingerprint": "0" * 64,
            "conflict": "fingerprint",
            "pinned": True,
        }
    ]


@pytest.mark.slow  # KedroSession runs
def test_outputs_saved_before_lineage_are_used_with_one_warning(
    demo_study: DemoStudy, tmp_path: Path
):
    project = _copy(demo_study.project, tmp_path)
    for record in (project / "data").rglob(LINEAGE_FILE):
        record.unlink()
    with captured_log("cxr_gan.lineage") as lines:
        run_kedro(project, env="demo", params=DEMO_STUDY, pipeline_names=["report"])
    warnings = [line for line in lines if "saved before cxr-gan recorded lineage" in line]
    assert len(warnings) == 1 and "contact_sheet" in warnings[0]
    assert (
        "kedro run --pipelines data_processing,gan_training,synthesis,classification,report"
        in warnings[0]
    )
    report = json.loads(
        (_latest(project / "data/demo/08_reporting/study_report.html") / LINEAGE_FILE).read_text()
    )
    assert report["fingerprint"] is None and "contact_sheet" in report["unrecorded_inputs"]
