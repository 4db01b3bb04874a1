"""The study report module on small synthetic inputs: content, self-containment, the twin."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest
from PIL import Image

from cxr_gan.metrics.classification import calls
from cxr_gan.metrics.shortcuts import source_gap_reading, source_gap_sentence
from cxr_gan.reporting.comparison import comparison_markdown
from cxr_gan.reporting.report_blocks import PNG_SIGNATURE, interval
from cxr_gan.reporting.report_gan import GanResults, gan_verdict_line
from cxr_gan.reporting.study_report import ExperimentFigures, StudyResults, build_study_report

VERDICT = "Answer, from the external set: helped, AUC difference +0.120 (95% CI +0.010 to +0.230)."
GAN_VERDICT = "diverse: synthetic MS-SSIM 0.41 vs real 0.46 at 64 px"
SHORTCUT = "WARNING: the shortcut probe scores AUC 0.90 with the lungs hidden."
DATA_URI = re.compile(r'<img[^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _png(value: int, size: int = 8) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(np.full((size, size), value, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _metric(value: float) -> dict:
    return {"value": value, "ci_low": value - 0.1, "ci_high": value + 0.05}


def _row(name: str, auc: float) -> dict:
    metrics = {m: _metric(0.7) for m in ("accuracy", "sensitivity", "specificity")}
    metrics |= {"precision": _metric(0.6), "f1": _metric(0.65), "roc_auc": _metric(auc)}
    return {
        "name": name,
        "training_set": {"real": 20, "synthetic": 6 if "synthetic" in name else 0},
        "metrics": metrics,
        "across_seeds": {"roc_auc": {"mean": auc, "std": 0.01, "values": [auc, auc]}},
        "external": None,
        "source_matched": {"sentence": f"{name}: within sources the AUC is 0.50."},
    }


def _results() -> StudyResults:
    gan = GanResults(
        history={"settings": {"architecture": "dcgan", "gan_image_size": 16}, "epochs": [{}]},
        loss_curves=_png(1),
        grids_over_epochs=_png(2),
        final_grid=_png(3),
        quality={
            "verdict": GAN_VERDICT,
            "collapsed": False,
            "memorization": {"count_above": 2, "threshold": 0.9, "max_ssim": 0.93},
            "n_synthetic": 50,
        },
        quality_figure=_png(4),
        synthetic_sheet=_png(5),
    )
    return StudyResults(
        data_quality={
            "totals": {"files_seen": 30, "usable": 28, "left_out": 2, "train": 22, "test": 6},
            "classes": {"normal": {"label": 0, "files_seen": 15, "usable": 14}},
            "problems": [{"relative_path": "covid/a<b>.png", "status": "bad", "reason": "x"}],
        },
        contact_sheet=_png(6),
        gan=gan,
        variants={"lr_small": GanResults(quality={"verdict": "collapsed: 0.9", "collapsed": True})},
        variant_comparison=_png(7),
        comparison={
            "verdict": {"sentence": VERDICT},
            "shortcut_probe": {"warning": SHORTCUT},
            "sources_confounded": True,
            "experiments": [_row("real", 0.8), _row("real_plus_synthetic", 0.9)],
        },
        comparison_markdown="# Did the synthetic X-rays help?\n\n| a | b |\n| --- | --- |\n"
        "| 1 | 2 |\n",
        comparison_plot=_png(8),
        experiments={
            "real": ExperimentFigures(_png(9), _png(10), _png(11)),
            "real_plus_synthetic": ExperimentFigures(_png(12), _png(13), _png(14)),
        },
        parameters={"gan_training": {"epochs": 2}, "classification": {"seeds": [1, 2]}},
        run_record={
            "run": {"run_id": "r1", "save_version": "2026-01-01T00.00.00.000Z", "env": "demo"},
            "inputs": {"contact_sheet": {"version": "2025-12-31T00.00.00.000Z", "path": "/x"}},
        },
    )


def test_the_page_holds_every_figure_embedded_and_every_verdict():
    report = build_study_report(_results())
    expected = 14  # every figure given (the variant has none: its parts say "not run yet")
    embedded = DATA_URI.findall(report.html)
    assert len(embedded) == report.figure_count == expected
    assert all(base64.b64decode(data).startswith(PNG_SIGNATURE) for data in embedded)
    for sentence in (VERDICT, SHORTCUT, GAN_VERDICT):
        assert sentence in report.html and sentence in report.markdown
    assert "Copies: 2 of 50 synthetic images reach SSIM 0.90" in report.html
    assert "The GAN has COLLAPSED: collapsed: 0.9." in report.html  # the variant's line
    assert "0.900 [0.800, 0.950]" in report.html  # an interval of every experiment
    assert "<table>" in report.html and "<td>2</td>" in report.html  # the comparison's Markdown
    assert "a&lt;b&gt;.png" in report.html  # file names are escaped, never markup
    assert "epochs: 2" in report.html and "2025-12-31T00.00.00.000Z" in report.html
    assert "Sources are confounded" in report.html


def test_the_page_needs_nothing_from_outside():
    page = build_study_report(_results()).html
    assert not re.search(r"<script|<link|@import|url\(|https?://", page, re.IGNORECASE)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


def test_the_markdown_twin_links_each_figure_it_carries():
    report = build_study_report(_results())
    linked = re.findall(r"!\[[^\]]*\]\((figures/[^)]+\.png)\)", report.markdown)
    assert sorted(linked) == sorted(report.figures)
    assert all(png.startswith(PNG_SIGNATURE) for png in report.figures.values())
    assert "### Did the synthetic X-rays help?" in report.markdown  # demoted under the page


def test_parts_not_run_are_named_with_the_pipeline_that_makes_them():
    report = build_study_report(StudyResults())
    assert report.figure_count == 0 and not DATA_URI.search(report.html)
    for pipeline in ("data_processing", "gan_training", "synthesis", "classification"):
        assert f"kedro run --pipelines {pipeline}" in report.html
    assert "not run yet" in report.markdown
    assert "were not recorded" in report.html


def test_a_figure_that_is_not_png_bytes_is_refused():
    with pytest.raises(ValueError, match="contact_sheet.*not PNG bytes"):
        build_study_report(StudyResults(contact_sheet=b"GIF89a"))


def test_parameters_given_as_pydantic_models_are_shown_key_by_key():
    from cxr_gan.pipelines.gan_training.params import GanTrainingParams

    results = StudyResults(parameters={"gan_training": GanTrainingParams(epochs=7)})
    page = build_study_report(results).html
    assert "\n  epochs: 7\n" in page and "  gan_image_size: " in page  # defaults included
    assert "GanTrainingParams" not in page and "epochs=7" not in page


def test_verdict_line_and_interval():
    assert gan_verdict_line(None).endswith("`kedro run --pipelines synthesis`.")
    line = gan_verdict_line({"verdict": "collapsed: x.", "collapsed": True})
    assert line == "The GAN has COLLAPSED: collapsed: x."
    assert interval({"value": 0.5, "ci_low": None, "ci_high": None}) == "0.500"
    assert interval(None) == "n/a"


def test_the_gan_line_is_coloured_by_what_it_says_and_a_chance_probe_is_a_note():
    results = _results()  # 2 copies: a problem, so a warning
    assert re.search(
        r'<p class="warning">The GAN has not collapsed[^<]*Copies: 2',
        build_study_report(results).html,
    )
    results.gan.quality = {**results.gan.quality, "memorization": {"count_above": 0}}
    results.comparison["shortcut_probe"] = {"reading": "Borders alone are not distinguishable"}
    page = build_study_report(results).html
    assert re.search(r'<p class="answer">The GAN has not collapsed', page)
    assert '<p class="note">Shortcut probe: Borders alone' in page
    results.gan.quality = {**results.gan.quality, "realism": {"status": "told from real"}}
    assert re.search(
        r'<p class="warning">The GAN has not collapsed', build_study_report(results).html
    )


def test_a_rebuild_from_earlier_outputs_warns_that_the_parameters_are_this_runs():
    results = _results()  # contact_sheet was loaded from a version before this run's
    page = build_study_report(results).html
    assert "Results above were loaded from earlier runs (versions 2025-12-31T00.00.00.000Z)" in page
    results.run_record["inputs"]["contact_sheet"]["version"] = "2026-01-01T00.00.00.000Z"
    assert "loaded from earlier runs" not in build_study_report(results).html


def test_original_sizes_read_as_one_value_when_every_image_has_it():
    results = _results()
    results.data_quality["original_sizes"] = {
        "width_min": 256,
        "width_max": 256,
        "height_min": 200,
        "height_max": 300,
    }
    assert "Original sizes 256 x 200-300 px." in build_study_report(results).html


def test_a_source_matched_sentence_shared_by_experiments_is_said_once_naming_them():
    results = _results()
    same = "The source-matched AUC cannot be computed: no source holds both classes."
    for row in results.comparison["experiments"]:
        row["source_matched"] = {"sentence": same}
    page = build_study_report(results).html
    assert page.count(same) == 1
    assert f"real and real_plus_synthetic (internal test set): {same}" in page


def test_a_raw_file_name_with_html_stays_text_in_the_markdown_twin():
    from markdown_it import MarkdownIt

    name = "covid/<img src=x onerror=alert(1)>.png"
    results = _results()
    results.data_quality["problems"] = [{"relative_path": name, "status": "bad", "reason": name}]
    report = build_study_report(results)
    rendered = MarkdownIt("commonmark", {"html": True}).enable("table").render(report.markdown)
    assert "<img src=x" not in rendered and "<img src=x" not in report.html
    assert "covid/&lt;img src=x onerror=alert(1)&gt;.png" in rendered


FLAG = (
    "calls nearly every image COVID-19 (24 of 24 at 0.5): its AUC ranks, its accuracy means nothing"
)


def _summary(page: str) -> str:
    return page.split("<!-- preview:start -->", 1)[1].split("<!-- preview:end -->", 1)[0]


def test_a_classifier_calling_every_image_covid_is_flagged_in_its_row_and_the_summary():
    results = _results()
    real, candidate = results.comparison["experiments"]
    real["calls"] = calls(np.linspace(0.5, 0.99, 24))  # every image at or above 0.5
    candidate["calls"] = calls(np.r_[np.full(22, 0.9), np.full(2, 0.1)])  # 22 of 24: 92%
    page = build_study_report(results).html
    summary = _summary(page)
    assert "real calls nearly every internal test image COVID-19 (24 of 24 at 0.5): its AUC" in (
        summary
    )
    assert "real_plus_synthetic calls" not in page  # 92% on one side is not flagged
    section = page.split('id="experiment-real"', 1)[1].split("<h3", 1)[0]
    assert f"On the test split, <code>real</code> {FLAG}." in section
    comparison = {
        "test_images": 24,
        "seeds": [1],
        "experiments": [
            {**row, "across_seeds": {}, "source_matched": None} for row in (real, candidate)
        ],
    }
    table_row = next(
        line for line in comparison_markdown(comparison).splitlines() if line.startswith("| real ")
    )
    assert table_row.startswith(f"| real ({FLAG}) |")
    assert "**real calls nearly every internal test image COVID-19" in comparison_markdown(
        comparison
    )


def test_one_sided_counts_five_percent_either_side_of_the_threshold():
    assert calls(np.r_[np.full(19, 0.2), 0.6])["one_sided"] == "normal"  # 19 of 20: 95%
    assert calls(np.r_[np.full(18, 0.2), 0.6, 0.7])["one_sided"] is None  # 90%
    assert calls(np.full(5, 0.5))["one_sided"] == "covid"  # 0.5 is called COVID-19
    with pytest.raises(ValueError):
        calls(np.array([]))


def _matched(value: float, low: float, high: float, overall: float) -> dict:
    matched = {"computable": True, "value": value, "ci_low": low, "ci_high": high}
    matched["sources"] = {"a": {}, "b": {}}
    matched["sentence"] = source_gap_sentence(overall, matched)
    matched["reading"] = source_gap_reading(overall, matched)
    return matched


def test_experiments_with_one_source_matched_reading_share_one_sentence_and_a_table():
    results = _results()
    rows = results.comparison["experiments"]  # overall AUCs 0.8 and 0.9
    rows[0]["source_matched"] = _matched(0.52, 0.40, 0.64, 0.8)
    rows[1]["source_matched"] = _matched(0.55, 0.45, 0.66, 0.9)
    rows.append({**_row("classical_augmentation", 0.85)})
    rows[2]["source_matched"] = _matched(0.84, 0.78, 0.90, 0.85)
    summary = _summary(build_study_report(results).html)
    reading = rows[0]["source_matched"]["reading"]
    assert summary.count(reading) == 1 and reading == rows[1]["source_matched"]["reading"]
    assert (
        "real and real_plus_synthetic (internal test set; AUC overall vs source-matched: real "
        "0.800 vs 0.520 [0.400, 0.640]; real_plus_synthetic 0.900 vs 0.550 [0.450, 0.660]): "
        + reading
    ) in summary
    assert "classical_augmentation (internal test set; AUC overall vs source-matched: " in summary
    table = summary.split("<th>source-matched AUC</th>", 1)[1].split("</table>", 1)[0]
    assert table.count("<tr>") == 3 and "<td>0.550 [0.450, 0.660]</td>" in table


def test_the_page_has_a_table_of_contents_linking_every_heading():
    report = build_study_report(_results())
    ids = re.findall(r'<h[1-6] id="([^"]+)"', report.html)
    nav = report.html.split('<nav class="contents">', 1)[1].split("</nav>", 1)[0]
    links = re.findall(r'href="#([^"]+)"', nav)
    assert {"summary", "experiment-real_plus_synthetic", "software-and-devices"} <= set(links)
    assert "did-the-synthetic-x-rays-help" in links  # a heading of the comparison's Markdown
    assert set(links) <= set(ids) and len(ids) == len(set(ids))
    assert "- [Summary](#summary)" in report.markdown
    assert "  - [Experiment `real`](#experiment-real)" in report.markdown


def test_the_software_and_each_models_device_are_named():
    results = _results()
    results.software = {"cxr-gan": "0.1.0", "git commit": "unknown", "Python": "3.11.7"}
    results.gan.history["device"] = {
        "devices": ["GPU:0 (NVIDIA H100)"],
        "strategy": "default",
        "replicas": 1,
        "precision": "float32",
    }
    results.comparison["experiments"][0]["device"] = {
        "devices": ["CPU:0"],
        "strategy": "default",
        "replicas": 1,
        "precision": "float32",
    }
    page = build_study_report(results).html
    section = page.split('id="software-and-devices"', 1)[1].split("<h2", 1)[0]
    for cell in ("cxr-gan", "0.1.0", "git commit", "unknown", "Python", "3.11.7"):
        assert f"<td>{cell}</td>" in section
    assert "<td>GAN (generator)</td><td>GPU:0 (NVIDIA H100), strategy default, 1 replica" in (
        section
    )
    assert "<td>classifier <code>real</code></td><td>CPU:0, strategy default" in section
    assert "<td>classifier <code>real_plus_synthetic</code></td><td>not recorded</td>" in section
    assert "Device: CPU:0, strategy default, 1 replica, float32." in page


def test_paths_are_shown_relative_to_the_project():
    results = _results()
    results.project_root = "/home/me/cxr-gan"
    results.comparison["verdict"]["sentence"] = (
        "Answer, from the external set (600 images, /home/me/cxr-gan/data/01_raw_external)."
    )
    results.run_record["inputs"]["contact_sheet"]["path"] = (
        "/home/me/cxr-gan/data/08_reporting/contact_sheet.png/v/contact_sheet.png"
    )
    report = build_study_report(results)
    for text in (report.html, report.markdown):
        assert "/home/me/cxr-gan" not in text
    assert "(600 images, data/01_raw_external)" in report.html
    assert "<td>data/08_reporting/contact_sheet.png/v/contact_sheet.png</td>" in report.html
