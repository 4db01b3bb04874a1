"""The classification comparison as a report: a Markdown table with a plain-language summary
above it (the verdict, the GAN's quality, the shortcut probe, per-source and source-matched
AUCs), the sentence that repeats the GAN's verdict, and the comparison plot's title.

The numbers come from metrics.comparison; nothing here computes a metric.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cxr_gan.metrics.comparison import CANDIDATE, SOURCE_CONFOUND
from cxr_gan.reporting.classification_figures import METRICS
from cxr_gan.reporting.report_blocks import interval, markdown_text


def gan_quality_line(gan_quality_report: dict[str, Any] | None) -> dict[str, Any]:
    """The synthesis report's verdict on the GAN ("collapsed: synthetic MS-SSIM 0.88 vs real
    0.44 at 64 px"), as the comparison repeats it beside its answer: {"verdict", "collapsed",
    "sentence"}, with a sentence saying so when the report carries no verdict."""
    report = gan_quality_report or {}
    verdict = report.get("verdict")
    sentence = (
        f"GAN quality, from the synthesis report: {str(verdict).rstrip('.')}."
        if verdict
        else "The GAN's quality was not assessed (no verdict in the synthesis quality report), "
        "so this answer cannot say whether the synthetic images were diverse or realistic."
    )
    return {"verdict": verdict, "collapsed": report.get("collapsed"), "sentence": sentence}


def comparison_title(comparison: dict[str, Any]) -> str:
    """The comparison plot's title: the verdict, the GAN's quality and any probe warning."""
    title = comparison.get("verdict", {}).get("sentence", "Classification experiments")
    title += "\n" + comparison["gan_quality"]["sentence"]
    if comparison.get("shortcut_probe", {}).get("warning"):
        title += "\n" + comparison["shortcut_probe"]["warning"]
    return title


CLASS_NAMES = {"covid": "COVID-19", "normal": "normal"}
SETS = {"calls": "internal test", "external_calls": "external"}  # row key -> the images' set
SOURCE_MATCHED = (  # row key, the row's overall metrics, the set's name
    ("external_source_matched", "external", "external set"),
    ("source_matched", "metrics", "internal test set"),
)


def one_sided_flag(calls: Mapping[str, Any] | None) -> str | None:
    """The flag of a classifier that calls at least 95% of its images one class (calls:
    metrics.classification.calls' result): "calls nearly every image COVID-19 (24 of 24 at
    0.5): its AUC ranks, its accuracy means nothing"; None when it is not one-sided or the
    counts were not recorded (older comparisons)."""
    side = (calls or {}).get("one_sided")
    if not side:
        return None
    count = calls[f"called_{side}"]
    return (
        f"calls nearly every image {CLASS_NAMES.get(side, side)} ({count} of {calls['images']} "
        f"at {calls.get('threshold', 0.5):g}): its AUC ranks, its accuracy means nothing"
    )


def _names(names: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def one_sided_lines(
    rows: Sequence[Mapping[str, Any]], keys: Sequence[str] = tuple(SETS)
) -> list[str]:
    """One sentence per set and side naming every experiment that calls nearly every image of
    that set one class, with its count: "real and shortcut_probe call nearly every internal
    test image COVID-19 (24 and 23 of 24 at 0.5): their AUCs rank, their accuracies mean
    nothing." keys: the rows' calls to read ("calls": the internal test set, "external_calls":
    the external folder). Empty when no experiment is one-sided."""
    lines = []
    for key in keys:
        where = SETS[key]
        groups: dict[str, list[Mapping[str, Any]]] = {}
        for row in rows:
            side = (row.get(key) or {}).get("one_sided")
            if side:
                groups.setdefault(side, []).append(row)
        for side, found in groups.items():
            counts = [row[key][f"called_{side}"] for row in found]
            images = {row[key]["images"] for row in found}
            total = images.pop() if len(images) == 1 else "their"
            one = len(found) == 1
            lines.append(
                f"{_names([row['name'] for row in found])} call{'s' if one else ''} nearly every "
                f"{where} image {CLASS_NAMES.get(side, side)} ({_names([str(c) for c in counts])}"
                f" of {total} at {found[0][key].get('threshold', 0.5):g}): "
                + (
                    "its AUC ranks, its accuracy means nothing."
                    if one
                    else "their AUCs rank, their accuracies mean nothing."
                )
            )
    return lines


def source_matched_groups(
    rows: Sequence[Mapping[str, Any]], key: str
) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """The experiments whose source-matched AUC (row[key]) reads the same, grouped: [(reading,
    rows)], in the rows' order. The reading is the one the comparison recorded
    (metrics.shortcuts.source_gap_reading), else the whole sentence (older comparisons, or a
    source-matched AUC that could not be computed)."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        matched = row.get(key) or {}
        reading = matched.get("reading") or matched.get("sentence")
        if reading:
            groups.setdefault(reading, []).append(row)
    return list(groups.items())


def source_matched_sentence(
    reading: str, rows: Sequence[Mapping[str, Any]], key: str, overall: str, where: str
) -> str:
    """One sentence for every experiment with the same source-matched reading on one set: the
    experiments, each with its AUC overall vs within a source, then the reading once."""
    if not (rows[0].get(key) or {}).get("reading"):  # a sentence of its own: said as it is
        return f"{_names([row['name'] for row in rows])} ({where}): {reading}"
    numbers = "; ".join(
        f"{row['name']} {row[overall]['roc_auc']['value']:.3f} vs {interval(row[key])}"
        for row in rows
    )
    return (
        f"{_names([row['name'] for row in rows])} ({where}; AUC overall vs source-matched: "
        f"{numbers}): {reading}."
    )


def comparison_markdown(comparison: dict[str, Any]) -> str:
    """The comparison as a Markdown table with a plain-language summary above it."""
    lines = ["# Did the synthetic X-rays help?", ""]
    probe = comparison.get("shortcut_probe")
    if probe and probe["warning"]:
        lines += [f"**{probe['warning']}**", ""]
    if comparison.get("sources_confounded"):
        lines += [f"**{SOURCE_CONFOUND}**", ""]
    effect = comparison.get("synthetic_effect")
    gan_quality = comparison.get("gan_quality")
    verdict = comparison.get("verdict")
    if verdict:
        lines += [f"**{verdict['sentence']}**", ""]
    if effect:
        lines += [effect["sentence"], ""]
    if gan_quality:  # beside the answer: "no difference" from a collapsed GAN says little
        emphasis = "**" if gan_quality.get("collapsed") else ""
        lines += [f"{emphasis}{gan_quality['sentence']}{emphasis}", ""]
    if effect:
        by_set = comparison.get("synthetic_effect_by_set") or {}
        for name, other in by_set.items():
            if other is not effect and other != effect:
                lines += [f"On the {name} set: {other['sentence']}", ""]
        seeds = comparison.get("synthetic_effect_per_seed_by_set") or {
            "deciding": comparison["synthetic_effect_per_seed"]
        }
        for name, differences in seeds.items():
            per_seed = ", ".join(f"{d:+.3f}" for d in differences if d is not None)
            lines += [f"Per seed, the AUC differences on the {name} set were {per_seed}.", ""]
    lines += _paired_lines(comparison)
    resolution = comparison.get("resolution")
    if resolution:
        lines += [resolution["sentence"], ""]
    lines += [
        f"Tested on the same {comparison['test_images']} real test images; metrics of the "
        f"seed-averaged predictions over seeds {comparison['seeds']}, with 95% bootstrap "
        "intervals over test images. The last column is the AUC's mean +- std across seeds.",
        "",
        "| experiment | training images (real + synthetic) | "
        + " | ".join(METRICS)
        + " | AUC across seeds |",
        "| --- | --- | " + " | ".join("---" for _ in METRICS) + " | --- |",
    ]
    for row in comparison["experiments"]:
        counts = row["training_set"]
        seeds = row["across_seeds"].get("roc_auc", {})
        spread = (
            f"{seeds['mean']:.3f} +- {seeds['std']:.3f}"
            if seeds.get("std") is not None
            else (f"{seeds['mean']:.3f}" if seeds.get("mean") is not None else "n/a")
        )
        flag = one_sided_flag(row.get("calls"))
        pretrained = (row.get("pretraining") or {}).get("training_set")
        then = f" (after pre-training on {pretrained['images']})" if pretrained else ""
        lines.append(
            f"| {row['name']}{f' ({flag})' if flag else ''} | {counts['real']} + "
            f"{counts['synthetic']}{then} | "
            + " | ".join(interval(row["metrics"][m]) for m in METRICS)
            + f" | {spread} |"
        )
    flagged = one_sided_lines(comparison["experiments"], ["calls"])
    if flagged:
        lines += [""] + [f"**{line}**" for line in flagged]
    if probe:
        lines += [
            "",
            f"`shortcut_probe` is the `real` recipe trained and tested with the central "
            f"{probe['mask_fraction']:.0%} of every side hidden (lungs and heart): what it scores "
            f"comes from borders, markers and exposure. {probe['reading']}",
        ]
    sourced = [row for row in comparison["experiments"] if row.get("per_source")]
    if sourced:
        lines += [
            "",
            "## Per source (seed-averaged predictions)",
            "",
            "| experiment | source | images (normal / covid) | accuracy | roc_auc |",
            "| --- | --- | --- | --- | --- |",
        ]
        for row in sourced:
            for source, group in row["per_source"]["groups"].items():
                lines.append(_source_row(row["name"], source, group))
        skipped = sourced[0]["per_source"]["skipped"]
        if skipped:
            lines += [
                "",
                f"Not scored (fewer than {sourced[0]['per_source']['min_images']} test images): "
                + ", ".join(f"{markdown_text(s['source'])} ({s['images']})" for s in skipped)
                + ".",
            ]
    external = [row for row in comparison["experiments"] if row.get("external")]
    if external:
        lines += [
            "",
            "## External validation (seed-averaged predictions on the external folder)",
            "",
            "| experiment | " + " | ".join(METRICS) + " |",
            "| --- | " + " | ".join("---" for _ in METRICS) + " |",
        ]
        for row in external:
            flag = one_sided_flag(row.get("external_calls"))
            lines.append(
                f"| {row['name']}{f' ({flag})' if flag else ''} | "
                + " | ".join(interval(row["external"][m]) for m in METRICS)
                + " |"
            )
        flagged = one_sided_lines(external, ["external_calls"])
        if flagged:
            lines += [""] + [f"**{line}**" for line in flagged]
        lines += _per_source_lines(external, "external_per_source", "external images")
    lines += _source_matched_lines(comparison["experiments"])
    return "\n".join(lines) + "\n"


def _p(value: float | None) -> str:
    return "n/a" if value is None else ("< 0.001" if value < 0.001 else f"{value:.3f}")


def _ci(low: float | None, high: float | None) -> str:
    return "undefined" if low is None else f"{low:+.3f} to {high:+.3f}"


def _paired_lines(comparison: dict[str, Any]) -> list[str]:
    """The secondary questions' sentences, then every paired AUC difference with `real` in one
    table: the primary (unadjusted) and the secondary ones (Holm-adjusted), on each set, the
    percentile bootstrap's interval and p-value beside DeLong's."""
    primary = comparison.get("synthetic_effect_by_set") or {}
    secondary = comparison.get("secondary") or {}
    if not primary and not secondary:
        return []
    lines = [f"{result['sentence']}" for result in secondary.values()]
    lines += [""] if lines else []
    rows = [("primary", CANDIDATE, name, effect) for name, effect in primary.items()]
    rows += [
        ("secondary", experiment, name, effect)
        for experiment, result in secondary.items()
        for name, effect in result["by_set"].items()
    ]
    confidence = next(iter(rows))[3]["confidence"]
    lines += [
        f"Paired AUC differences with `real` on the seed-averaged predictions: a "
        f"class-stratified percentile bootstrap and DeLong's test (DeLong et al. 1988), "
        f"{confidence:.0%} intervals. The primary question is not adjusted; the secondary ones "
        "are Holm-adjusted among themselves (Holm 1979).",
        "",
        "| question | experiment vs real | set | images | AUC difference | bootstrap CI | "
        "bootstrap p | DeLong CI | DeLong p | Holm-adjusted p (bootstrap / DeLong) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for question, experiment, set_name, effect in rows:
        delong, holm = effect.get("delong") or {}, effect.get("holm")
        adjusted = (
            f"{_p(holm['bootstrap_p'])} / {_p(holm['delong_p'])} (m = {holm['m']})"
            if holm
            else "not adjusted"
        )
        lines.append(
            f"| {question} | {experiment} | {set_name} | {effect['n_images']} | "
            f"{effect['difference']:+.3f} | {_ci(effect['ci_low'], effect['ci_high'])} | "
            f"{_p(effect.get('p_value'))} | {_ci(delong.get('ci_low'), delong.get('ci_high'))} "
            f"| {_p(delong.get('p_value'))} | {adjusted} |"
        )
    return [*lines, ""]


def _per_source_lines(rows: list[dict[str, Any]], key: str, what: str) -> list[str]:
    sourced = [row for row in rows if row.get(key)]
    if not sourced:
        return []
    lines = [
        "",
        f"### Per source on the {what} (seed-averaged predictions)",
        "",
        "| experiment | source | images (normal / covid) | accuracy | roc_auc |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in sourced:
        for source, group in row[key]["groups"].items():
            lines.append(_source_row(row["name"], source, group))
    return lines


def _source_matched_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The source-matched AUC next to the overall AUC, per set and experiment, with what the
    gap means; or, per set, why it cannot be computed."""
    lines: list[str] = []
    for key, overall, what in SOURCE_MATCHED:
        found = [row for row in rows if row.get(key)]
        if not found:
            continue
        lines += ["", f"## Source-matched AUC on the {what}", ""]
        if not found[0][key]["computable"]:
            lines.append(markdown_text(found[0][key]["reason"]))
            continue
        sources = ", ".join(
            f"{markdown_text(name)} ({c['label_0']} normal / {c['label_1']} covid)"
            for name, c in found[0][key]["sources"].items()
        )
        lines += [
            f"Only COVID-19 / normal pairs from the same source count (sources holding both "
            f"classes: {sources}): there, the archive cannot tell the classes apart.",
            "",
            "| experiment | AUC overall | source-matched AUC |",
            "| --- | --- | --- |",
        ]
        lines += [
            f"| {row['name']} | {interval(row[overall]['roc_auc'])} | {interval(row[key])} |"
            for row in found
        ]
        lines.append("")
        lines += [
            f"- {markdown_text(source_matched_sentence(reading, group, key, overall, what))}"
            for reading, group in source_matched_groups(found, key)
        ]
    return lines


def _source_row(experiment: str, source: str, group: dict[str, Any]) -> str:
    """One per-source table row; the source's name comes from data, so it is escaped."""
    counts, metrics = group["counts"], group["metrics"]
    return (
        f"| {experiment} | {markdown_text(source, True)} | {counts['images']} "
        f"({counts['label_0']} / {counts['label_1']}) | {interval(metrics['accuracy'])} | "
        f"{interval(metrics['roc_auc'])} |"
    )
