"""The report's datasets, the figures' load and the image sets' thumbnail preview."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
import pytest
from kedro.io.core import DatasetError, Version
from matplotlib.figure import Figure
from PIL import Image

from cxr_gan.datasets import (
    HTMLReportDataset,
    ImageSetDataset,
    MarkdownReportDataset,
    MatplotlibDataset,
    RunRecordDataset,
)

PNG = b"\x89PNG\r\n\x1a\n"
OLD, NEW = "2026-01-01T00.00.00.000Z", "2026-01-02T00.00.00.000Z"


def test_markdown_report_is_one_versioned_folder_with_its_figures(tmp_path: Path):
    data = {"markdown": "# R\n\n![a](figures/a.png)\n", "figures": {"figures/a.png": PNG + b"x"}}
    MarkdownReportDataset(filepath=str(tmp_path / "md"), version=Version(None, OLD)).save(data)
    assert (tmp_path / "md" / OLD / "study_report.md").is_file()
    assert (tmp_path / "md" / OLD / "figures" / "a.png").read_bytes() == PNG + b"x"
    latest = MarkdownReportDataset(filepath=str(tmp_path / "md"), version=Version(None, None))
    assert latest.load() == data
    assert latest.preview() == data["markdown"]
    with pytest.raises(DatasetError, match="names '../../evil.png', which is not a file inside"):
        MarkdownReportDataset(filepath=str(tmp_path / "md"), version=Version(None, NEW)).save(
            {"markdown": "", "figures": {"../../evil.png": PNG}}
        )
    assert not (tmp_path / "evil.png").exists() and not (tmp_path / "md" / NEW).exists()


def test_html_report_previews_its_summary_only(tmp_path: Path):
    page = "<html><h1>T</h1><!-- preview:start --><p>verdict</p><!-- preview:end --><img></html>"
    HTMLReportDataset(filepath=str(tmp_path / "r.html"), version=Version(None, OLD)).save(page)
    latest = HTMLReportDataset(filepath=str(tmp_path / "r.html"), version=Version(None, None))
    assert latest.load() == page
    assert latest.preview() == "<p>verdict</p>"


def test_the_preview_bounds_are_the_study_reports():
    from cxr_gan.datasets import report_datasets
    from cxr_gan.reporting import study_report

    assert report_datasets.PREVIEW_START == study_report.PREVIEW_START
    assert report_datasets.PREVIEW_END == study_report.PREVIEW_END


def test_a_saved_figure_loads_as_its_png_bytes(tmp_path: Path):
    figure = Figure()
    figure.add_subplot().plot([0, 1])
    MatplotlibDataset(filepath=str(tmp_path / "f.png"), version=Version(None, OLD)).save(figure)
    loaded = MatplotlibDataset(filepath=str(tmp_path / "f.png"), version=Version(None, None)).load()
    assert loaded == (tmp_path / "f.png" / OLD / "f.png").read_bytes() and loaded.startswith(PNG)


def test_an_image_set_previews_as_a_thumbnail_sheet(tmp_path: Path):
    images = np.stack([np.full((20, 20), 40 * i, np.uint8) for i in range(5)])
    manifest = pd.DataFrame({"filename": [f"i{i}.png" for i in range(5)]})
    ImageSetDataset(filepath=str(tmp_path / "set"), version=Version(None, OLD)).save(
        {"images": images, "manifest": manifest}
    )
    preview = ImageSetDataset(filepath=str(tmp_path / "set"), version=Version(None, None)).preview()
    sheet = np.asarray(Image.open(io.BytesIO(base64.b64decode(preview))))
    assert sheet.shape == (64 * 2 + 2, 64 * 3 + 4)  # 5 thumbnails of 64 px, 3 a row, 2 px gaps
    assert sheet[0, 0] == 0 and sheet[0, 66] == 40  # first and second thumbnails, in order


def test_run_record_loads_empty_and_cannot_be_saved():
    assert RunRecordDataset().load() == {}
    with pytest.raises(DatasetError, match="filled by the run's hook"):
        RunRecordDataset().save({})
