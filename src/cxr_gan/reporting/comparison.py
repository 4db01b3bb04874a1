"""The classification comparison as a report: a Markdown table with a plain-language summary
above it (the verdict, the GAN's quality, the shortcut probe, per-source and source-matched
AUCs), the sentence that repeats the GAN's verdict, and the comparison plot's title.

The numbers come from metrics.comparison; nothing here computes a metric.
"""

from __future__ import annotations

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
        pretrained = (row.get("pretraining") or {}).get("training_set")
        then = f" (after pre-training on {pretrained['images']})" if pretrained else ""
        lines.append(
            f"| {row['name']} | {counts['real']} + {counts['synthetic']}{then} | "
            + " | ".join(interval(row["metrics"][m]) for m in METRICS)
            + f" | {spread} |"
        )
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
        lines += [
            f"| {row['name']} | " + " | ".join(interval(row["external"][m]) for m in METRICS) + " |"
            for row in external
        ]
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
    for key, overall, what in (
        ("external_source_matched", "external", "external set"),
        ("source_matched", "metrics", "internal test set"),
    ):
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
        lines += [f"- {row['name']}: {row[key]['sentence']}" for row in found]
    return lines


def _source_row(experiment: str, source: str, group: dict[str, Any]) -> str:
    """One per-source table row; the source's name comes from data, so it is escaped."""
    counts, metrics = group["counts"], group["metrics"]
    return (
        f"| {experiment} | {markdown_text(source, True)} | {counts['images']} "
        f"({counts['label_0']} / {counts['label_1']}) | {interval(metrics['accuracy'])} | "
        f"{interval(metrics['roc_auc'])} |"
    )
