"""Confounds said without being asked: an attribute of the files (format, colour mode, bit
depth, size, source) or the pair format x colour mode that nearly separates the classes is
warned in the data-quality report, in the log, and next to the study report's answer."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from cxr_gan.reporting.confounds import find_confounds, separation_auc
from cxr_gan.reporting.data_quality import build_quality_report
from cxr_gan.reporting.study_report import StudyResults, build_study_report

CLASSES = {"normal": 0, "covid": 1}


def _manifest(normal: list[tuple], covid: list[tuple], **columns) -> pd.DataFrame:
    """Usable manifest rows; each tuple (format, mode, width, height), repeated as given."""
    rows = []
    for folder, files in (("normal", normal), ("covid", covid)):
        for index, (image_format, mode, width, height) in enumerate(files):
            rows.append(
                {
                    "id": f"{folder}/{index:03d}",
                    "relative_path": f"{folder}/{index:03d}",
                    "class_folder": folder,
                    "label": CLASSES[folder],
                    "status": "ok",
                    "reason": "",
                    "sha256": f"{folder}{index}",
                    "format": image_format,
                    "mode": mode,
                    "width": width,
                    "height": height,
                    "patient_id": "",
                    "patient_source": "",
                }
            )
    manifest = pd.DataFrame(rows)
    for name, values in columns.items():
        manifest[name] = values
    return manifest


def _split(manifest: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {"id": manifest["id"], "label": manifest["label"], "patient_id": "", "split": "train"}
    )


def test_separation_auc_needs_a_value_shared_by_several_images():
    labels = np.array([0] * 50 + [1] * 50)
    assert separation_auc(pd.Series(["PNG"] * 50 + ["JPEG"] * 50), labels) == 1.0
    # every value once per class, or once at all: nothing to learn, whatever leave-one-out does
    assert separation_auc(pd.Series([f"{i}" for i in range(50)] * 2), labels) <= 0.5
    assert separation_auc(pd.Series([f"{i}" for i in range(100)]), labels) == 0.5
    rng = np.random.default_rng(0)
    assert separation_auc(pd.Series(rng.integers(0, 3, 400)), rng.integers(0, 2, 400)) < 0.6


def test_the_format_and_mode_pair_is_warned_when_neither_alone_separates():
    normal = [("PNG", "L", 512, 512)] * 50
    covid = [("JPEG", "L", 512, 512)] * 25 + [("PNG", "RGB", 512, 512)] * 25
    confounds = find_confounds(_manifest(normal, covid), CLASSES)
    assert [c["attribute"] for c in confounds] == ["format x colour_mode"]
    assert confounds[0]["sentence"].startswith(
        "every normal image is a grayscale PNG and every covid image is JPEG or colour (RGB): "
        "a model can learn the file format instead of the disease"
    )


def test_one_attribute_alone_is_warned_alone():
    normal = [("PNG", "L", 512, 512)] * 49 + [("JPEG", "L", 512, 512)]
    covid = [("JPEG", "L", 512, 512)] * 48 + [("PNG", "L", 512, 512)] * 2
    confounds = find_confounds(_manifest(normal, covid), CLASSES)
    assert [c["attribute"] for c in confounds] == ["format"]  # the pair adds nothing
    assert confounds[0]["sentence"].startswith(
        "98% of normal images are PNG and 96% of covid images are JPEG"
    )


@pytest.mark.parametrize(
    ("attribute", "covid_file", "words"),
    [
        ("bit_depth", ("PNG", "I;16", 512, 512), "every covid image is 16-bit"),
        ("size", ("PNG", "L", 1024, 1024), "every covid image is 1024x1024 px"),
    ],
)
def test_bit_depth_and_size_are_attributes_too(attribute, covid_file, words):
    normal = [("PNG", "L", 300 + i, 300) for i in range(40)]  # sizes differ: no signal there
    confounds = find_confounds(_manifest(normal, [covid_file] * 40), CLASSES)
    assert attribute in [c["attribute"] for c in confounds]
    assert any(words in c["sentence"] for c in confounds)


def test_a_source_column_is_an_attribute():
    normal = [("PNG", "L", 512, 512)] * 30
    covid = [("PNG", "L", 512, 512)] * 30
    sources = ["nih"] * 30 + ["papers"] * 28 + ["nih"] * 2
    confounds = find_confounds(_manifest(normal, covid, source_repo=sources), CLASSES)
    assert [c["attribute"] for c in confounds] == ["source"]
    assert (
        "every normal image is from nih and 93% of covid images are from papers"
        in (confounds[0]["sentence"])
    )


def test_no_warning_when_the_classes_look_alike_or_sizes_are_all_different():
    rng = np.random.default_rng(1)
    files = [
        (str(rng.choice(["PNG", "JPEG"])), str(rng.choice(["L", "RGB"])), 200 + i, 300 + i)
        for i in range(120)
    ]
    assert find_confounds(_manifest(files[:60], files[60:]), CLASSES) == []


def test_the_quality_report_tabulates_attributes_and_logs_each_warning(caplog):
    normal = [("PNG", "L", 512, 512)] * 50
    covid = [("JPEG", "L", 512, 512)] * 25 + [("PNG", "RGBA", 512, 512)] * 25
    manifest = _manifest(normal, covid)
    with caplog.at_level(logging.WARNING):
        report = build_quality_report(manifest, _split(manifest), CLASSES, {})
    table = {
        attribute: {
            folder: {row["value"]: row["images"] for row in rows} for folder, rows in by.items()
        }
        for attribute, by in report["attributes_by_class"].items()
    }
    assert table["format"] == {"normal": {"PNG": 50}, "covid": {"JPEG": 25, "PNG": 25}}
    assert table["colour_mode"]["covid"] == {"L": 25, "RGBA": 25}
    assert table["bit_depth"]["normal"] == {"8": 50}
    assert table["size"]["covid"] == {"512x512": 50}
    assert report["confound_warnings"] == [f"WARNING: {report['confounds'][0]['sentence']}"]
    assert report["confounds"][0]["auc"] > 0.9
    assert "a model can learn the file format" in caplog.text
    assert "split per image" in report["patient_warning"]  # and no patient key at all


def test_the_study_report_says_it_next_to_its_answer():
    answer = "Answer: helped, AUC difference +0.120."
    confound = "WARNING: every normal image is a grayscale PNG and ..."
    quality = {"confound_warnings": [confound], "patient_warning": "WARNING: split per image"}
    report = build_study_report(
        StudyResults(data_quality=quality, comparison={"verdict": {"sentence": answer}})
    )
    for page in (report.html, report.markdown):
        assert page.index(answer) < page.index(confound) < page.index("WARNING: split per image")
        assert page.index("WARNING: split per image") < page.index("Data quality")
