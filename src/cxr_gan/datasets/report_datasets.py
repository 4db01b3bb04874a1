"""Datasets of the study report (pipelines/report): the HTML page, its Markdown twin, and the
record of what the report's run loaded.

- HTMLReportDataset: one self-contained HTML file, written atomically (as TextDataset); kedro-viz
  previews the page's summary (the part between PREVIEW_START and PREVIEW_END), not the whole
  page with its embedded images.
- MarkdownReportDataset: a folder <filepath>/<version>/{<filename>, figures/*.png}, written as
  one unit (a hidden folder renamed into place), so the Markdown's relative links always resolve.
- RunRecordDataset: nothing on disk; it loads {} and the run's hook (cxr_gan.run_record) replaces
  that with the versions and paths the report node loaded, when the node runs in a session.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError, Version
from kedro_datasets._typing import HTMLPreview

from cxr_gan.datasets._local import LocalVersionedDataset
from cxr_gan.datasets.atomic import TextDataset
from cxr_gan.io_utils import atomic_directory, inside_folder

# the summary's bounds in a report (the same strings as cxr_gan.reporting.study_report's; a
# dataset does not import the reporting layer, docs/code-map.md)
PREVIEW_START = "<!-- preview:start -->"
PREVIEW_END = "<!-- preview:end -->"

PREVIEW_MAX_CHARS = 200_000  # kedro-viz's API payload for one node stays small


def _preview_part(text: str) -> str:
    """The marked part of a report (the summary), else its beginning."""
    start, end = text.find(PREVIEW_START), text.find(PREVIEW_END)
    if start >= 0 and end > start:
        text = text[start + len(PREVIEW_START) : end]
    return text[:PREVIEW_MAX_CHARS]


class HTMLReportDataset(TextDataset):
    """An HTML page saved atomically and versioned like TextDataset (data: the page as str).

    Example catalog entry::

        study_report:
          type: cxr_gan.datasets.HTMLReportDataset
          filepath: data/08_reporting/study_report.html
          versioned: true
    """

    def preview(self) -> HTMLPreview:
        """kedro-viz's preview: the page's summary section as HTML."""
        return HTMLPreview(_preview_part(self.load()))


class MarkdownReportDataset(LocalVersionedDataset):
    """A Markdown file with its figures beside it, saved and loaded as one versioned folder.

    Data: {"markdown": str, "figures": {relative path under the folder (e.g.
    "figures/contact_sheet.png"): PNG bytes}}. Layout: <filepath>/<version>/<filename> and the
    figures, so the Markdown links to them by relative path. Raises DatasetError for a figure
    path that leaves the folder."""

    def __init__(
        self,
        *,
        filepath: str,
        filename: str = "study_report.md",
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(filepath=filepath, version=version, metadata=metadata)
        self._filename = filename

    def _get_versioned_path(self, version: str) -> PurePosixPath:
        # <filepath>/<version>/<filename>: the Markdown file marks a complete version
        return super()._get_versioned_path(version).parent / self._filename

    def _markdown_path(self, for_save: bool) -> Path:
        if self._version is None:
            return Path(self._filepath) / self._filename
        return Path(self._get_save_path() if for_save else self._get_load_path())

    def load(self) -> dict[str, Any]:
        path = self._markdown_path(for_save=False)
        folder = path.parent
        figures = {
            file.relative_to(folder).as_posix(): file.read_bytes()
            for file in sorted(folder.rglob("*.png"))
        }
        return {"markdown": path.read_text(encoding="utf-8"), "figures": figures}

    def save(self, data: dict[str, Any]) -> None:
        folder = self._markdown_path(for_save=True).parent
        with atomic_directory(folder) as temp_dir:
            for name, png in (data.get("figures") or {}).items():
                inside_folder(folder, name, "the Markdown report's figures")
                target = temp_dir / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(png)
            (temp_dir / self._filename).write_text(data["markdown"], encoding="utf-8")

    def preview(self) -> HTMLPreview:
        """kedro-viz's preview: the Markdown's summary (kedro-viz renders Markdown there)."""
        return HTMLPreview(_preview_part(self.load()["markdown"]))

    def _exists(self) -> bool:
        try:
            return self._markdown_path(for_save=False).exists()
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "filename": self._filename}


class RunRecordDataset(AbstractDataset[None, dict]):
    """What the node reading it loaded in this run: {} here; cxr_gan.run_record.RunRecordHooks
    replaces it, just before the node runs, with {"run": {...}, "inputs": {name: {"version",
    "path"}}}. Read-only: saving raises DatasetError."""

    def __init__(self, metadata: dict[str, Any] | None = None) -> None:
        self.metadata = metadata

    def load(self) -> dict:
        return {}

    def save(self, data: None) -> None:
        raise DatasetError("RunRecordDataset is filled by the run's hook and cannot be saved")

    def _describe(self) -> dict[str, Any]:
        return {}
