"""The study report: every result of one study on one page, as self-contained HTML and Markdown.

Plain Python, no Kedro: `build_study_report(StudyResults(...))` returns a StudyReport with

- `html`: one HTML page whose figures are embedded as base64 `data:image/png` URIs and whose
  style sits in the page (no external CSS, JavaScript or fonts): it opens offline from the file;
- `markdown`: the same content as Markdown, linking its figures by relative path
  (`figures/<name>.png`), and `figures`: {that relative path: PNG bytes}, to be written beside it.

Content, in order: a summary (the answer to "did the synthetic X-rays help?", the GAN's plain
collapse / copy line, the shortcut and per-source warnings); the data-quality summary and
contact sheet; the GAN's curves, grids and quality (and those of each GAN variant); the
classification comparison (its Markdown, tables and sentences as the classification pipeline
wrote them), every experiment's metrics with 95% intervals and its figures (training curves,
ROC, Grad-CAM); the parameters; and the run and input versions the report was built from.

Every part of StudyResults may be None (or empty): the page then says that part was not run and
which pipeline makes it, instead of failing. Inputs are the loaded catalog outputs (dicts of the
JSON reports, str of the comparison Markdown, PNG bytes of the figures); see StudyResults.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PREVIEW_START = "<!-- preview:start -->"  # the summary kedro-viz previews (report_datasets.py)
PREVIEW_END = "<!-- preview:end -->"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# the classification metrics shown per experiment, in this order (metrics.classification.METRICS)
METRICS = ("accuracy", "roc_auc", "sensitivity", "specificity", "precision", "f1")
SMALL_FIGURE_PX = 200  # narrower figures (a 16 px GAN's grid) are shown enlarged, pixelated
MAX_LISTED_PROBLEMS = 20  # data-quality problems listed by name; the rest are counted


@dataclass
class GanResults:
    """One GAN's outputs (the main one, or a variant of gan_training.variants).

    history: gan_history (JSON); loss_curves, grids_over_epochs, final_grid, quality_figure,
    synthetic_sheet: PNG bytes (final_grid: the last sample grid; synthetic_sheet: thumbnails of
    the synthetic set); quality: gan_quality_report (JSON, with its "verdict")."""

    history: Mapping[str, Any] | None = None
    loss_curves: bytes | None = None
    grids_over_epochs: bytes | None = None
    final_grid: bytes | None = None
    quality: Mapping[str, Any] | None = None
    quality_figure: bytes | None = None
    synthetic_sheet: bytes | None = None


@dataclass
class ExperimentFigures:
    """One classification experiment's figures (PNG bytes)."""

    training_curves: bytes | None = None
    roc_curve: bytes | None = None
    gradcam: bytes | None = None


@dataclass
class StudyResults:
    """What the report shows; None (or empty) marks a part that was not run.

    data_quality: data_quality_report (JSON); contact_sheet: PNG bytes; gan: the main GAN;
    variants: {variant name: GanResults}; variant_comparison: PNG bytes; comparison:
    classification_comparison (JSON); comparison_markdown: classification_comparison_table;
    comparison_plot: PNG bytes; experiments: {experiment name: ExperimentFigures}, in order;
    parameters: the run's parameters; run_record: {"run": {...}, "inputs": {dataset name:
    {"version", "path"}}} (cxr_gan.run_record)."""

    data_quality: Mapping[str, Any] | None = None
    contact_sheet: bytes | None = None
    gan: GanResults = field(default_factory=GanResults)
    variants: Mapping[str, GanResults] = field(default_factory=dict)
    variant_comparison: bytes | None = None
    comparison: Mapping[str, Any] | None = None
    comparison_markdown: str | None = None
    comparison_plot: bytes | None = None
    experiments: Mapping[str, ExperimentFigures] = field(default_factory=dict)
    parameters: Mapping[str, Any] | None = None
    run_record: Mapping[str, Any] | None = None
    title: str = "cxr-gan study report"


@dataclass
class StudyReport:
    """The built report: html (self-contained page), markdown (its twin) and figures ({relative
    path the Markdown links: PNG bytes}); figure_count is the number of figures in either."""

    html: str
    markdown: str
    figures: dict[str, bytes]

    @property
    def figure_count(self) -> int:
        return len(self.figures)


# ------------------------------------------------------------------------------ blocks
# The page is built once as a list of blocks, then rendered to HTML and to Markdown, so the two
# always hold the same content.


@dataclass
class _Heading:
    level: int
    text: str


@dataclass
class _Text:
    text: str
    kind: str = ""  # "", "answer", "warning", "note"


@dataclass
class _Figure:
    name: str  # file name stem in the Markdown's figures/ folder; unique in a report
    png: bytes
    caption: str


@dataclass
class _Table:
    header: Sequence[str]
    rows: Sequence[Sequence[Any]]


@dataclass
class _Markdown:
    text: str  # Markdown written by another pipeline, shown as it is


@dataclass
class _Code:
    text: str


@dataclass
class _Marker:
    html: str  # a comment marking the preview's part (HTML and Markdown alike)


def build_study_report(results: StudyResults) -> StudyReport:
    """Build the report's HTML page and Markdown twin from one study's results.

    Raises ValueError when a figure is not PNG bytes (e.g. a figure object instead of its file).
    """
    blocks: list[Any] = [_Heading(1, results.title)]
    blocks += _run_line(results.run_record)
    blocks += [_Marker(PREVIEW_START), *_summary(results), _Marker(PREVIEW_END)]
    blocks += _data_section(results)
    blocks += _gan_section("GAN training and quality", "", results.gan)
    for name, variant in results.variants.items():
        blocks += _gan_section(f"GAN variant `{name}`", name, variant, level=3)
    if results.variants:
        blocks += _figure_or_note(
            "gan_variant_comparison",
            results.variant_comparison,
            "Every variant's final samples side by side",
            "gan_training",
        )
    blocks += _classification_section(results)
    blocks += _parameters_section(results.parameters)
    blocks += _inputs_section(results.run_record)
    _check_figures(blocks)
    figures = {f"figures/{b.name}.png": b.png for b in blocks if isinstance(b, _Figure)}
    return StudyReport(_render_html(blocks, results.title), _render_markdown(blocks), figures)


def gan_verdict_line(quality: Mapping[str, Any] | None) -> str:
    """One plain line on collapse and copying from a gan_quality_report: its verdict sentence,
    then how many synthetic images are near-copies of a GAN-training image.

    E.g. "The GAN has not collapsed: diverse: synthetic MS-SSIM 0.41 vs real 0.46 at 64 px.
    Copies: 0 of 50 synthetic images reach SSIM 0.90 with a GAN-training image (closest 0.62)."
    """
    if not quality:
        return "The GAN's quality was not assessed: run `kedro run --pipeline synthesis`."
    verdict = str(quality.get("verdict") or "no verdict in the quality report").rstrip(".")
    collapsed = quality.get("collapsed")
    state = {True: "The GAN has COLLAPSED", False: "The GAN has not collapsed"}.get(
        collapsed, "The GAN's collapse is unknown"
    )
    line = f"{state}: {verdict}."
    memorization = quality.get("memorization") or {}
    if memorization.get("count_above") is not None:
        total = len(memorization.get("nearest_ssim") or []) or quality.get("n_synthetic")
        line += (
            f" Copies: {memorization['count_above']} of {total} synthetic images reach SSIM "
            f"{memorization.get('threshold', 0):.2f} with a GAN-training image"
        )
        if memorization.get("max_ssim") is not None:
            line += f" (closest {memorization['max_ssim']:.2f})"
        line += "."
    return line


def interval(metric: Mapping[str, Any] | None) -> str:
    """'0.812 [0.701, 0.905]' from a metric block {"value", "ci_low", "ci_high"}; 'n/a'."""
    if not metric or metric.get("value") is None:
        return "n/a"
    if metric.get("ci_low") is None or metric.get("ci_high") is None:
        return f"{metric['value']:.3f}"
    return f"{metric['value']:.3f} [{metric['ci_low']:.3f}, {metric['ci_high']:.3f}]"


# ------------------------------------------------------------------------------ sections


def _not_run(what: str, pipeline: str) -> _Text:
    return _Text(f"{what}: not run yet (`kedro run --pipeline {pipeline}` makes it).", "note")


def _figure_or_note(name: str, png: bytes | None, caption: str, pipeline: str) -> list[Any]:
    return [_Figure(name, png, caption)] if png else [_not_run(caption, pipeline)]


def _run_line(record: Mapping[str, Any] | None) -> list[Any]:
    run = (record or {}).get("run") or {}
    if not run:
        return [_Text("Built outside a Kedro run: the input versions were not recorded.", "note")]
    parts = [
        f"built by run {run.get('run_id', '?')}",
        f"version {run.get('save_version', '?')}",
        f"environment {run.get('env') or 'local'}",
        f"Kedro {run.get('kedro_version', '?')}",
    ]
    if run.get("load_versions"):
        chosen = ", ".join(f"{k}={v}" for k, v in run["load_versions"].items())
        parts.append(f"--load-versions {chosen}")
    return [_Text("This report was " + "; ".join(parts) + ".", "note")]


def _summary(results: StudyResults) -> list[Any]:
    blocks: list[Any] = [_Heading(2, "Summary")]
    comparison = results.comparison or {}
    verdict = (comparison.get("verdict") or {}).get("sentence")
    effect = (comparison.get("synthetic_effect") or {}).get("sentence")
    if verdict or effect:
        blocks.append(_Text(verdict or effect, "answer"))
    elif results.comparison is None:
        blocks.append(_not_run("Did the synthetic X-rays help?", "classification"))
    else:
        blocks.append(
            _Text(
                "No answer to 'did the synthetic X-rays help?': classification.experiments "
                "lacks `real` or `real_plus_synthetic`.",
                "note",
            )
        )
    blocks.append(_Text(gan_verdict_line(results.gan.quality), "answer"))
    blocks += [_Text(line, "warning") for line in _warnings(results)]
    quality = results.data_quality or {}
    totals = quality.get("totals") or {}
    if totals:
        blocks.append(
            _Text(
                f"Data: {totals.get('usable', '?')} usable images of "
                f"{totals.get('files_seen', '?')} files ({totals.get('left_out', 0)} left "
                f"out); {totals.get('train', '?')} for training, {totals.get('test', '?')} for "
                "testing."
            )
        )
    return blocks


def _warnings(results: StudyResults) -> list[str]:
    """The shortcut probe's and the per-source warnings, and data problems worth a look."""
    comparison = results.comparison or {}
    lines = []
    probe = comparison.get("shortcut_probe") or {}
    if probe.get("warning"):
        lines.append(probe["warning"])
    elif probe.get("reading"):
        lines.append(f"Shortcut probe: {probe['reading']}")
    if comparison.get("sources_confounded"):
        lines.append(
            "Sources are confounded with the classes in the test split: an AUC can come from "
            "telling archives apart; see the per-source and source-matched tables below."
        )
    for row in comparison.get("experiments") or []:
        for key, where in (
            ("external_source_matched", "external set"),
            ("source_matched", "internal test set"),
        ):
            matched = row.get(key) or {}
            if matched.get("sentence"):
                lines.append(f"{row['name']} ({where}): {matched['sentence']}")
    quality = results.data_quality or {}
    across = quality.get("near_duplicates_across_splits")
    if across:
        lines.append(f"{across} near-duplicate image pair(s) sit across the train/test split.")
    conflicts = quality.get("label_conflicts") or []
    if conflicts:
        lines.append(
            f"{len(conflicts)} image(s) were left out for a label conflict (a near duplicate "
            "in another class)."
        )
    return lines


def _data_section(results: StudyResults) -> list[Any]:
    blocks: list[Any] = [_Heading(2, "Data quality")]
    quality = results.data_quality
    if quality:
        blocks += _quality_summary(quality)
    else:
        blocks.append(_not_run("The data-quality report", "data_processing"))
    blocks += _figure_or_note(
        "contact_sheet", results.contact_sheet, "Contact sheet: images per class", "data_processing"
    )
    return blocks


def _quality_summary(quality: Mapping[str, Any]) -> list[Any]:
    blocks: list[Any] = []
    rows = []
    for name, counts in (quality.get("classes") or {}).items():
        left = ", ".join(f"{k} {v}" for k, v in (counts.get("left_out_by_status") or {}).items())
        rows.append(
            [
                name,
                counts.get("label", ""),
                counts.get("files_seen", ""),
                counts.get("usable", ""),
                left or "0",
                counts.get("warnings", 0),
                counts.get("train", ""),
                counts.get("test", ""),
            ]
        )
    blocks.append(
        _Table(["class", "label", "files", "usable", "left out", "warnings", "train", "test"], rows)
    )
    formats = ", ".join(f"{k} {v}" for k, v in (quality.get("formats") or {}).items())
    sizes = quality.get("original_sizes") or {}
    facts = [f"Formats: {formats or 'n/a'}."]
    if sizes:
        facts.append(
            f"Original sizes {sizes.get('width_min')}-{sizes.get('width_max')} x "
            f"{sizes.get('height_min')}-{sizes.get('height_max')} px."
        )
    if quality.get("split_grouping"):
        facts.append(f"Split grouped by {quality['split_grouping']}.")
    facts.append(f"Fingerprint of the input images: {quality.get('fingerprint', 'n/a')}.")
    blocks.append(_Text(" ".join(facts)))
    problems = list(quality.get("problems") or []) + list(quality.get("warnings") or [])
    if problems:
        listed = problems[:MAX_LISTED_PROBLEMS]
        blocks.append(
            _Table(
                ["file", "status", "reason"],
                [
                    [p.get("relative_path", ""), p.get("status", ""), p.get("reason", "")]
                    for p in listed
                ],
            )
        )
        if len(problems) > len(listed):
            blocks.append(
                _Text(f"... and {len(problems) - len(listed)} more in data_quality_report.", "note")
            )
    else:
        blocks.append(_Text("No file was left out or flagged."))
    return blocks


def _gan_section(title: str, prefix: str, gan: GanResults, level: int = 2) -> list[Any]:
    name = f"{prefix}_" if prefix else ""
    blocks: list[Any] = [_Heading(level, title)]
    history = gan.history or {}
    if history:
        settings = history.get("settings") or {}
        epochs = history.get("epochs") or []
        blocks.append(
            _Text(
                f"{settings.get('architecture', '?')} GAN at {settings.get('gan_image_size', '?')}"
                f" px, {len(epochs)} epoch(s) run of {settings.get('epochs', '?')}; "
                f"{history.get('training_images', '?')} training and "
                f"{history.get('evaluation_images', '?')} held-out evaluation images."
            )
        )
    else:
        blocks.append(_not_run("The GAN's training history", "gan_training"))
    blocks += _figure_or_note(
        f"{name}gan_loss_curves", gan.loss_curves, "Losses over epochs", "gan_training"
    )
    blocks += _figure_or_note(
        f"{name}gan_grids_over_epochs",
        gan.grids_over_epochs,
        "Sample grids over epochs",
        "gan_training",
    )
    blocks += _figure_or_note(
        f"{name}gan_final_grid", gan.final_grid, "Samples at the last epoch", "gan_training"
    )
    blocks.append(_Heading(level + 1, "Quality of the synthetic images"))
    blocks.append(_Text(gan_verdict_line(gan.quality), "answer"))
    if gan.quality:
        blocks.append(_quality_table(gan.quality))
        if gan.quality.get("compared_with"):
            blocks.append(_Text(f"Compared with {gan.quality['compared_with']}.", "note"))
    blocks += _figure_or_note(
        f"{name}gan_quality",
        gan.quality_figure,
        "Synthetic images beside real ones, with the quality numbers",
        "synthesis",
    )
    blocks += _figure_or_note(
        f"{name}synthetic_xrays", gan.synthetic_sheet, "The synthetic set (thumbnails)", "synthesis"
    )
    return blocks


def _number(value: Any, form: str = ".3f") -> str:
    return "n/a" if value is None else format(value, form)


def _quality_table(quality: Mapping[str, Any]) -> _Table:
    evaluation = quality.get("kid_vs_evaluation") or {}
    training = quality.get("kid_vs_training") or {}
    coverage = quality.get("coverage") or {}
    auc = quality.get("real_vs_synthetic_auc") or {}
    diversity = quality.get("diversity") or {}
    memorization = quality.get("memorization") or {}
    rows = [
        ["KID x1000 vs evaluation split", _number(evaluation.get("x1000_mean"), ".1f")],
        ["KID x1000 vs GAN-training images", _number(training.get("x1000_mean"), ".1f")],
        ["FID", _number(quality.get("fid"), ".1f")],
        ["coverage", _number(coverage.get("coverage_mean"))],
        ["real-vs-synthetic AUC (0.5 = indistinguishable)", _number(auc.get("mean"))],
        [
            "MS-SSIM synthetic / real (higher = less diverse)",
            f"{_number(diversity.get('synthetic_ms_ssim'))} / "
            f"{_number(diversity.get('real_ms_ssim'))}",
        ],
        ["near-copies of training images", _number(memorization.get("count_above"), "d")],
    ]
    return _Table(["measure", "value"], rows)


def _classification_section(results: StudyResults) -> list[Any]:
    blocks: list[Any] = [_Heading(2, "Classification experiments")]
    if results.comparison_markdown:
        blocks.append(_Markdown(_demote(results.comparison_markdown)))
    elif not results.comparison:
        blocks.append(_not_run("The classification comparison", "classification"))
    blocks += _figure_or_note(
        "classification_comparison",
        results.comparison_plot,
        "Every experiment's metrics with 95% intervals",
        "classification",
    )
    rows = {row["name"]: row for row in (results.comparison or {}).get("experiments") or []}
    for name in dict.fromkeys([*rows, *results.experiments]):
        blocks.append(_Heading(3, f"Experiment `{name}`"))
        row = rows.get(name)
        if row:
            blocks += _experiment_metrics(row)
        figures = results.experiments.get(name) or ExperimentFigures()
        for key, png, caption in (
            ("training_curves", figures.training_curves, "Training curves"),
            ("roc_curve", figures.roc_curve, "ROC curve on the test split"),
            ("gradcam", figures.gradcam, "Grad-CAM on test images"),
        ):
            blocks += _figure_or_note(f"{name}_{key}", png, f"{name}: {caption}", "classification")
    return blocks


def _experiment_metrics(row: Mapping[str, Any]) -> list[Any]:
    counts = row.get("training_set") or {}
    blocks: list[Any] = [
        _Text(
            f"Trained on {counts.get('real', '?')} real + {counts.get('synthetic', '?')} "
            "synthetic images. Metrics of the seed-averaged predictions with 95% bootstrap "
            "intervals:"
        )
    ]
    table_rows = [["test split", *(interval((row.get("metrics") or {}).get(m)) for m in METRICS)]]
    if row.get("external"):
        table_rows.append(["external folder", *(interval(row["external"].get(m)) for m in METRICS)])
    blocks.append(_Table(["set", *METRICS], table_rows))
    seeds = (row.get("across_seeds") or {}).get("roc_auc") or {}
    if seeds.get("values"):
        values = ", ".join(f"{v:.3f}" for v in seeds["values"] if v is not None)
        blocks.append(_Text(f"AUC per seed: {values}.", "note"))
    return blocks


def _demote(markdown: str) -> str:
    """Headings two levels down, so another report's "# title" sits under this page's "##"."""
    return re.sub(r"(?m)^(#{1,4}) ", lambda m: "#" * min(len(m.group(1)) + 2, 6) + " ", markdown)


def _parameters_section(parameters: Mapping[str, Any] | None) -> list[Any]:
    blocks: list[Any] = [_Heading(2, "Parameters")]
    if not parameters:
        return [*blocks, _Text("The parameters were not recorded.", "note")]
    import yaml  # PyYAML ships with Kedro

    try:
        text = yaml.safe_dump(_plain(parameters), sort_keys=False, width=100)
    except yaml.YAMLError:
        text = json.dumps(parameters, indent=2, default=str)
    return [*blocks, _Code(text)]


def _plain(value: Any) -> Any:
    """Mappings and sequences as dict and list; a pydantic model (Kedro 1.7 hands nodes the
    validated parameter models) as its JSON-mode dump, defaults included."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _inputs_section(record: Mapping[str, Any] | None) -> list[Any]:
    blocks: list[Any] = [_Heading(2, "Inputs of this report")]
    inputs = (record or {}).get("inputs") or {}
    if not inputs:
        return [*blocks, _Text("The versions loaded were not recorded.", "note")]
    rows = [
        [name, entry.get("version") or "unversioned", entry.get("path") or ""]
        for name, entry in inputs.items()
    ]
    return [*blocks, _Table(["dataset", "version loaded", "path"], rows)]


def _check_figures(blocks: Sequence[Any]) -> None:
    names = set()
    for block in blocks:
        if not isinstance(block, _Figure):
            continue
        if not isinstance(block.png, bytes) or not block.png.startswith(PNG_SIGNATURE):
            raise ValueError(
                f"figure {block.name!r} is not PNG bytes ({type(block.png).__name__}); pass the "
                "saved PNG file's bytes"
            )
        if block.name in names:
            raise ValueError(f"two figures are called {block.name!r}")
        names.add(block.name)


# ------------------------------------------------------------------------------ rendering

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto;
  max-width: 1100px; padding: 1.5em; color: #1b1f24; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; } h2 { border-bottom: 1px solid #bbb; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; }
th { background: #f0f2f4; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figure img.small { width: 320px; image-rendering: pixelated; }
figcaption { color: #555; font-size: 0.9em; }
.answer { font-weight: 600; background: #eef6ee; border-left: 4px solid #2e7d32;
  padding: 0.5em 0.8em; }
.warning { background: #fff4e5; border-left: 4px solid #e65100; padding: 0.5em 0.8em; }
.note { color: #555; font-size: 0.92em; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
code { background: #f0f2f4; padding: 0 0.2em; }
"""


def _inline(text: str) -> str:
    """Escaped text with `code` spans (the only inline markup the report's own text uses)."""
    parts = str(text).split("`")
    return "".join(
        f"<code>{html.escape(part)}</code>" if index % 2 else html.escape(part)
        for index, part in enumerate(parts)
    )


def _markdown_to_html(text: str) -> str:
    from markdown_it import MarkdownIt

    renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
    return renderer.render(text)


def _render_html(blocks: Sequence[Any], title: str) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
    ]
    for block in blocks:
        if isinstance(block, _Heading):
            out.append(f"<h{block.level}>{_inline(block.text)}</h{block.level}>")
        elif isinstance(block, _Text):
            kind = f' class="{block.kind}"' if block.kind else ""
            out.append(f"<p{kind}>{_inline(block.text)}</p>")
        elif isinstance(block, _Figure):
            data = base64.b64encode(block.png).decode("ascii")
            caption = html.escape(block.caption)
            small = ' class="small"' if _png_width(block.png) < SMALL_FIGURE_PX else ""
            out.append(
                f'<figure id="{html.escape(block.name)}"><img{small} '
                f'src="data:image/png;base64,{data}" alt="{caption}">'
                f"<figcaption>{caption}</figcaption></figure>"
            )
        elif isinstance(block, _Table):
            header = "".join(f"<th>{_inline(cell)}</th>" for cell in block.header)
            rows = "".join(
                "<tr>" + "".join(f"<td>{_inline(cell)}</td>" for cell in row) + "</tr>"
                for row in block.rows
            )
            out.append(f"<table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>")
        elif isinstance(block, _Markdown):
            out.append(f'<div class="markdown">{_markdown_to_html(block.text)}</div>')
        elif isinstance(block, _Code):
            out.append(f"<pre>{html.escape(block.text)}</pre>")
        elif isinstance(block, _Marker):
            out.append(block.html)
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def _png_width(png: bytes) -> int:
    """The width in the PNG's header (IHDR: bytes 16-20, big-endian)."""
    return int.from_bytes(png[16:20], "big")


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _render_markdown(blocks: Sequence[Any]) -> str:
    out: list[str] = []
    for block in blocks:
        if isinstance(block, _Heading):
            out += ["#" * block.level + " " + block.text, ""]
        elif isinstance(block, _Text):
            text = block.text
            if block.kind == "answer":
                text = f"**{text}**"
            elif block.kind == "warning":
                text = f"> **Warning:** {text}"
            elif block.kind == "note":
                text = f"_{text}_"
            out += [text, ""]
        elif isinstance(block, _Figure):
            out += [f"![{block.caption}](figures/{block.name}.png)", "", f"*{block.caption}*", ""]
        elif isinstance(block, _Table):
            out.append("| " + " | ".join(_cell(c) for c in block.header) + " |")
            out.append("| " + " | ".join("---" for _ in block.header) + " |")
            out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in block.rows]
            out.append("")
        elif isinstance(block, _Markdown):
            out += [block.text.rstrip("\n"), ""]
        elif isinstance(block, _Code):
            out += ["```yaml", block.text.rstrip("\n"), "```", ""]
        elif isinstance(block, _Marker):
            out += [block.html, ""]
    return "\n".join(out)
