"""The study report: every result of one study on one page, as self-contained HTML and Markdown.

Plain Python, no Kedro: `build_study_report(StudyResults(...))` returns a StudyReport with

- `html`: one HTML page whose figures are embedded as base64 `data:image/png` URIs and whose
  style sits in the page (no external CSS, JavaScript or fonts): it opens offline from the file;
- `markdown`: the same content as Markdown, linking its figures by relative path
  (`figures/<name>.png`), and `figures`: {that relative path: PNG bytes}, to be written beside it.

Content, in order: a summary (the answer to "did the synthetic X-rays help?" and, next to it,
the data-quality report's confound and split-per-image warnings; the GAN's plain
collapse / copy line; every classifier that calls nearly every test image one class, whose
accuracy then means nothing; the shortcut and per-source warnings, experiments with the same
source-matched reading named in one sentence, their numbers in one table); a table of contents;
the data-quality summary and contact sheet; the GAN's curves, grids and quality (and those of
each GAN variant); the classification comparison (its Markdown, tables and sentences as the
classification pipeline wrote them), every experiment's metrics with 95% intervals and its
figures (training curves, ROC, Grad-CAM); the software (the project's version and git commit,
Python, TensorFlow, Keras, Kedro) and the device each model trained on; the parameters; and the
run and input versions the report was built from.

Paths are shown relative to the project's root (StudyResults.project_root, else the run
record's project_path): every occurrence of the root in the page's text is cut off.

Every part of StudyResults may be None (or empty): the page then says that part was not run and
which pipeline makes it, instead of failing. Inputs are the loaded catalog outputs (dicts of the
JSON reports, str of the comparison Markdown, PNG bytes of the figures); see StudyResults.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cxr_gan.reporting.comparison import (
    SOURCE_MATCHED,
    one_sided_flag,
    one_sided_lines,
    source_matched_groups,
    source_matched_sentence,
)
from cxr_gan.reporting.report_blocks import (
    Code,
    Contents,
    Figure,
    Heading,
    Markdown,
    Marker,
    Table,
    Text,
    check_figures,
    device_text,
    figure_or_note,
    interval,
    not_run,
    render_html,
    render_markdown,
)
from cxr_gan.reporting.report_gan import GanResults, gan_section, gan_verdict_line

PREVIEW_START = "<!-- preview:start -->"  # the summary kedro-viz previews (report_datasets.py)
PREVIEW_END = "<!-- preview:end -->"
# the classification metrics shown per experiment, in this order (metrics.classification.METRICS)
METRICS = ("accuracy", "roc_auc", "sensitivity", "specificity", "precision", "f1")
MAX_LISTED_PROBLEMS = 20  # data-quality problems listed by name; the rest are counted


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
    {"version", "path"}}} (cxr_gan.run_record); software: {name: version} of what built the
    page (reporting.software.software_versions); project_root: the folder paths are shown
    relative to (None: the run record's project_path, else paths are shown as they are)."""

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
    software: Mapping[str, str] | None = None
    project_root: str | None = None
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


def build_study_report(results: StudyResults) -> StudyReport:
    """Build the report's HTML page and Markdown twin from one study's results.

    Raises ValueError when a figure is not PNG bytes (e.g. a figure object instead of its file).
    """
    blocks: list[Any] = [Heading(1, results.title)]
    blocks += _run_line(results.run_record)
    blocks += [Marker(PREVIEW_START), *_summary(results), Marker(PREVIEW_END)]
    blocks.append(Contents())
    blocks += _data_section(results)
    blocks += gan_section("GAN training and quality", "", results.gan)
    for name, variant in results.variants.items():
        blocks += gan_section(f"GAN variant `{name}`", name, variant, level=3)
    if results.variants:
        blocks += figure_or_note(
            "gan_variant_comparison",
            results.variant_comparison,
            "Every variant's final samples side by side",
            "gan_training",
        )
    blocks += _classification_section(results)
    blocks += _software_section(results)
    blocks += _parameters_section(results.parameters, results.run_record)
    blocks += _inputs_section(results.run_record)
    root = results.project_root or ((results.run_record or {}).get("run") or {}).get("project_path")
    if root:
        blocks = [_relative(block, str(root)) for block in blocks]
    check_figures(blocks)
    figures = {f"figures/{b.name}.png": b.png for b in blocks if isinstance(b, Figure)}
    return StudyReport(render_html(blocks, results.title), render_markdown(blocks), figures)


# ------------------------------------------------------------------------------ sections


def _run_line(record: Mapping[str, Any] | None) -> list[Any]:
    run = (record or {}).get("run") or {}
    if not run:
        return [Text("Built outside a Kedro run: the input versions were not recorded.", "note")]
    parts = [
        f"built by run {run.get('run_id', '?')}",
        f"version {run.get('save_version', '?')}",
        f"environment {run.get('env') or 'local'}",
        f"Kedro {run.get('kedro_version', '?')}",
    ]
    if run.get("load_versions"):
        chosen = ", ".join(f"{k}={v}" for k, v in run["load_versions"].items())
        parts.append(f"--load-versions {chosen}")
    return [Text("This report was " + "; ".join(parts) + ".", "note")]


def _summary(results: StudyResults) -> list[Any]:
    blocks: list[Any] = [Heading(2, "Summary")]
    comparison = results.comparison or {}
    verdict = (comparison.get("verdict") or {}).get("sentence")
    effect = (comparison.get("synthetic_effect") or {}).get("sentence")
    if verdict or effect:
        blocks.append(Text(verdict or effect, "answer"))
    elif results.comparison is None:
        blocks.append(not_run("Did the synthetic X-rays help?", "classification"))
    else:
        blocks.append(
            Text(
                "No answer to 'did the synthetic X-rays help?': classification.experiments "
                "lacks `real` or `real_plus_synthetic`.",
                "note",
            )
        )
    # right after the answer: a confound or a per-image split can make it measure the files
    blocks += [Text(line, "warning") for line in _data_caveats(results.data_quality)]
    blocks.append(Text(gan_verdict_line(results.gan.quality), _gan_line_kind(results.gan.quality)))
    # the secondary questions (synthetic_pretrain), Holm-adjusted, after the primary's caveats
    blocks += [Text(r["sentence"]) for r in (comparison.get("secondary") or {}).values()]
    rows = comparison.get("experiments") or []
    blocks += [Text(line, "warning") for line in one_sided_lines(rows)]
    blocks += [Text(line, kind) for line, kind in _warnings(results)]
    blocks += _source_matched_table(rows)
    quality = results.data_quality or {}
    totals = quality.get("totals") or {}
    if totals:
        blocks.append(
            Text(
                f"Data: {totals.get('usable', '?')} usable images of "
                f"{totals.get('files_seen', '?')} files ({totals.get('left_out', 0)} left "
                f"out); {totals.get('train', '?')} for training, {totals.get('test', '?')} for "
                "testing."
            )
        )
    return blocks


def _data_caveats(quality: Mapping[str, Any] | None) -> list[str]:
    """The data-quality report's confound warnings (an attribute such as the file format that
    gives the class away) and its split-per-image warning, said next to the answer because
    either can make it measure the files rather than the disease."""
    quality = quality or {}
    lines = list(quality.get("confound_warnings") or [])
    if quality.get("patient_warning"):
        lines.append(quality["patient_warning"])
    return lines


def _gan_line_kind(quality: Mapping[str, Any] | None) -> str:
    """'warning' when the GAN line reports a problem (collapsed, unrealistic, copies), else
    'answer', so the page's colour follows what the line says."""
    if not quality:
        return "note"
    copies = (quality.get("memorization") or {}).get("count_above") or 0
    troubled = quality.get("collapsed") is not False or copies > 0
    realism = (quality.get("realism") or {}).get("status")
    return "warning" if troubled or realism == "told from real" else "answer"


def _warnings(results: StudyResults) -> list[tuple[str, str]]:
    """The shortcut probe's and the per-source warnings, and data problems worth a look, each
    with its kind: 'warning', or 'note' for a probe reading that finds no shortcut."""
    comparison = results.comparison or {}
    lines: list[str] = []
    notes: list[str] = []
    probe = comparison.get("shortcut_probe") or {}
    if probe.get("warning"):
        lines.append(probe["warning"])
    elif probe.get("reading"):
        reading = f"Shortcut probe: {probe['reading']}"
        (lines if "Caution" in reading else notes).append(reading)
    if comparison.get("sources_confounded"):
        lines.append(
            "Sources are confounded with the classes in the test split: an AUC can come from "
            "telling archives apart; see the per-source and source-matched tables below."
        )
    for key, overall, where in SOURCE_MATCHED:
        # experiments tested on one set often read the same: say it once, naming them
        found = [row for row in comparison.get("experiments") or [] if row.get(key)]
        lines += [
            source_matched_sentence(reading, group, key, overall, where)
            for reading, group in source_matched_groups(found, key)
        ]
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
    return [(line, "warning") for line in lines] + [(note, "note") for note in notes]


def _source_matched_table(rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    """Each experiment's AUC overall and source-matched, on every set where it was computed,
    in one table (the summary's grouped sentences give the readings)."""
    table = []
    for key, overall, where in SOURCE_MATCHED:
        for row in rows:
            matched = row.get(key) or {}
            if matched.get("computable") and matched.get("value") is not None:
                auc = (row.get(overall) or {}).get("roc_auc")
                table.append([row["name"], where, interval(auc), interval(matched)])
    if not table:
        return []
    return [Table(["experiment", "set", "AUC overall", "source-matched AUC"], table)]


def _data_section(results: StudyResults) -> list[Any]:
    blocks: list[Any] = [Heading(2, "Data quality")]
    quality = results.data_quality
    if quality:
        blocks += _quality_summary(quality)
    else:
        blocks.append(not_run("The data-quality report", "data_processing"))
    blocks += figure_or_note(
        "contact_sheet", results.contact_sheet, "Contact sheet: images per class", "data_processing"
    )
    return blocks


def _classification_section(results: StudyResults) -> list[Any]:
    blocks: list[Any] = [Heading(2, "Classification experiments")]
    if results.comparison_markdown:
        blocks.append(Markdown(_demote(results.comparison_markdown)))
    elif not results.comparison:
        blocks.append(not_run("The classification comparison", "classification"))
    blocks += figure_or_note(
        "classification_comparison",
        results.comparison_plot,
        "Every experiment's metrics with 95% intervals",
        "classification",
    )
    rows = {row["name"]: row for row in (results.comparison or {}).get("experiments") or []}
    for name in dict.fromkeys([*rows, *results.experiments]):
        blocks.append(Heading(3, f"Experiment `{name}`"))
        row = rows.get(name)
        if row:
            blocks += _experiment_metrics(row)
        figures = results.experiments.get(name) or ExperimentFigures()
        for key, png, caption in (
            ("training_curves", figures.training_curves, "Training curves"),
            ("roc_curve", figures.roc_curve, "ROC curve on the test split"),
            ("gradcam", figures.gradcam, "Grad-CAM on test images"),
        ):
            blocks += figure_or_note(f"{name}_{key}", png, f"{name}: {caption}", "classification")
    return blocks


def _experiment_metrics(row: Mapping[str, Any]) -> list[Any]:
    counts = row.get("training_set") or {}
    pretraining = row.get("pretraining") or {}
    first = (pretraining.get("training_set") or {}).get("images")
    before = (
        f"Pre-trained on {first} synthetic images of both classes (training "
        f"{pretraining.get('trainable')}), then fine-tuned on "
        if pretraining
        else "Trained on "
    )
    blocks: list[Any] = [
        Text(
            f"{before}{counts.get('real', '?')} real + {counts.get('synthetic', '?')} "
            "synthetic images. Metrics of the seed-averaged predictions with 95% bootstrap "
            "intervals:"
        )
    ]
    table_rows = [["test split", *(interval((row.get("metrics") or {}).get(m)) for m in METRICS)]]
    if row.get("external"):
        table_rows.append(["external folder", *(interval(row["external"].get(m)) for m in METRICS)])
    blocks.append(Table(["set", *METRICS], table_rows))
    for key, where in (("calls", "test split"), ("external_calls", "external folder")):
        flag = one_sided_flag(row.get(key))
        if flag:
            blocks.append(Text(f"On the {where}, `{row['name']}` {flag}.", "warning"))
    seeds = (row.get("across_seeds") or {}).get("roc_auc") or {}
    if seeds.get("values"):
        values = ", ".join(f"{v:.3f}" for v in seeds["values"] if v is not None)
        blocks.append(Text(f"AUC per seed: {values}.", "note"))
    blocks.append(Text(f"Device: {device_text(row.get('device'))}.", "note"))
    return blocks


def _software_section(results: StudyResults) -> list[Any]:
    """The versions of what built the page, and the device each model trained on (as its
    training node recorded it in gan_history or the experiment's evaluation)."""
    blocks: list[Any] = [Heading(2, "Software and devices")]
    if results.software:
        blocks.append(Table(["software", "version"], [[k, v] for k, v in results.software.items()]))
    else:
        blocks.append(Text("The software versions were not recorded.", "note"))
    devices = []
    if results.gan.history:
        devices.append(["GAN (generator)", device_text(results.gan.history.get("device"))])
    for name, variant in results.variants.items():
        if variant.history:
            devices.append([f"GAN variant `{name}`", device_text(variant.history.get("device"))])
    for row in (results.comparison or {}).get("experiments") or []:
        devices.append([f"classifier `{row['name']}`", device_text(row.get("device"))])
    if devices:
        blocks.append(Table(["model", "trained on"], devices))
    return blocks


def _relative(block: Any, root: str) -> Any:
    """The block with every occurrence of the project's root in its text cut to a path
    relative to it ("<root>/data/x" -> "data/x"); figures are left as they are."""
    prefix = root.rstrip("/") + "/"

    def cut(value: Any) -> Any:
        return value.replace(prefix, "") if isinstance(value, str) else value

    if isinstance(block, Table):
        return Table([cut(c) for c in block.header], [[cut(c) for c in r] for r in block.rows])
    if isinstance(block, Figure):
        return Figure(block.name, block.png, cut(block.caption))
    if isinstance(block, (Heading, Text, Markdown, Code)):
        return dataclasses.replace(block, text=cut(block.text))
    return block


def _demote(markdown: str) -> str:
    """Headings two levels down, so another report's "# title" sits under this page's "##"."""
    return re.sub(r"(?m)^(#{1,4}) ", lambda m: "#" * min(len(m.group(1)) + 2, 6) + " ", markdown)


def _parameters_section(
    parameters: Mapping[str, Any] | None, record: Mapping[str, Any] | None = None
) -> list[Any]:
    """The parameters of the run that built the page, with a warning when some results were
    loaded from earlier runs (a rebuild), whose settings may differ."""
    blocks: list[Any] = [Heading(2, "Parameters")]
    if not parameters:
        return [*blocks, Text("The parameters were not recorded.", "note")]
    run = (record or {}).get("run") or {}
    earlier = sorted(
        {
            entry["version"]
            for entry in ((record or {}).get("inputs") or {}).values()
            if entry.get("version") and entry["version"] != run.get("save_version")
        }
    )
    if earlier:
        blocks.append(
            Text(
                f"These are the parameters of the run that built this page (environment "
                f"{run.get('env') or 'local'}). Results above were loaded from earlier runs "
                f"(versions {', '.join(earlier)}), which may have used other settings; each "
                "output records its own (the GAN history's settings, each experiment's "
                "evaluation settings). Rebuild with the same --env as the study.",
                "warning",
            )
        )
    import yaml  # PyYAML ships with Kedro

    try:
        text = yaml.safe_dump(_plain(parameters), sort_keys=False, width=100)
    except yaml.YAMLError:
        text = json.dumps(parameters, indent=2, default=str)
    return [*blocks, Code(text)]


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
    blocks: list[Any] = [Heading(2, "Inputs of this report")]
    inputs = (record or {}).get("inputs") or {}
    if not inputs:
        return [*blocks, Text("The versions loaded were not recorded.", "note")]
    rows = [
        [name, entry.get("version") or "unversioned", entry.get("path") or ""]
        for name, entry in inputs.items()
    ]
    return [*blocks, Table(["dataset", "version loaded", "path"], rows)]


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
        Table(["class", "label", "files", "usable", "left out", "warnings", "train", "test"], rows)
    )
    formats = ", ".join(f"{k} {v}" for k, v in (quality.get("formats") or {}).items())
    sizes = quality.get("original_sizes") or {}
    facts = [f"Formats: {formats or 'n/a'}."]
    if sizes:
        width, height = (
            _span(sizes.get(f"{side}_min"), sizes.get(f"{side}_max"))
            for side in ("width", "height")
        )
        facts.append(f"Original sizes {width} x {height} px.")
    if quality.get("split_grouping"):
        facts.append(f"Split grouped by {quality['split_grouping']}.")
    facts.append(f"Fingerprint of the input images: {quality.get('fingerprint', 'n/a')}.")
    blocks.append(Text(" ".join(facts)))
    problems = list(quality.get("problems") or []) + list(quality.get("warnings") or [])
    if problems:
        listed = problems[:MAX_LISTED_PROBLEMS]
        blocks.append(
            Table(
                ["file", "status", "reason"],
                [
                    [p.get("relative_path", ""), p.get("status", ""), p.get("reason", "")]
                    for p in listed
                ],
            )
        )
        if len(problems) > len(listed):
            blocks.append(
                Text(f"... and {len(problems) - len(listed)} more in data_quality_report.", "note")
            )
    else:
        blocks.append(Text("No file was left out or flagged."))
    return blocks


def _span(low: Any, high: Any) -> str:
    """'256' when a range is one value, else '256-1024'."""
    return f"{low}" if low == high else f"{low}-{high}"
