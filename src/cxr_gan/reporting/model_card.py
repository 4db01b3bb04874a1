"""The generator's model card: what data it learned from, under which licences, with which
settings, how good its images are, and what it is for, as JSON and as Markdown.

Plain module (no Kedro, no TensorFlow); the synthesis pipeline's describe_generator node builds
the card from saved outputs, and the catalog saves it beside the generator
(data/06_models/generator_card/<version>/model_card.{json,md}).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from cxr_gan.data.ingest import usable_mask
from cxr_gan.reporting.data_quality import usable_fingerprint

INTENDED_USE = (
    "Research only: synthetic chest X-rays to study data augmentation and GAN quality on this "
    "data. Not for diagnosis, clinical decisions or any use on patients, and not a medical "
    "device. Its images are not real patients' and must not be presented as such."
)
LIMITATIONS = (
    "Trained on a small set of images; its images inherit the training data's sources, "
    "devices, labels and their errors, and carry its biases. Check the quality figures (and the "
    "realism judgement against real images it never saw) before using its images anywhere."
)
NOT_STATED = "not stated"
_LICENCE_COLUMN = re.compile(r"^(csv_)?licen[cs]es?$", re.IGNORECASE)


def licence_column(manifest: pd.DataFrame) -> str | None:
    """The manifest's licence column (from the patient CSV: license, licence, csv_license...,
    any case), or None when it has none."""
    return next((c for c in manifest.columns if _LICENCE_COLUMN.match(str(c).strip())), None)


def build_model_card(
    *,
    generator_path: str,
    history: Mapping[str, Any],
    gan_split: pd.DataFrame,
    manifest: pd.DataFrame,
    quality: Mapping[str, Any] | None,
    classes: Mapping[str, int],
) -> dict[str, Any]:
    """The card as a JSON-ready dict.

    generator_path: the saved generator's file (its version folder names its version);
    history: gan_history (settings, training_images, generator_epoch, epochs); gan_split: the
    GAN's split (id, label, role "train"/"eval"); manifest: raw_manifest (id, status, sha256,
    and a licence column when the patient CSV gave one); quality: gan_quality_report or None
    (not assessed); classes: data_processing.classes (folder -> label).

    Keys: model, version, path, data_fingerprint, trained_on {classes: {folder: images},
    total, evaluation_images}, licences ({licence: training images} or None when the manifest
    has no licence column), parameters (the GAN's settings), epoch_kept, epochs_run,
    quality (verdict, collapsed, KID x1000, FID, real-vs-synthetic AUC, coverage, near-copies;
    None when not assessed), intended_use, limitations."""
    training = gan_split[gan_split["role"] == "train"]
    folder_of = {label: folder for folder, label in classes.items()}
    per_class = {
        folder_of.get(int(label), str(label)): int(count)
        for label, count in training.groupby("label").size().items()
    }
    licences = None
    column = licence_column(manifest)
    if column is not None:
        usable = manifest[usable_mask(manifest)].drop_duplicates("id").set_index("id")
        values = usable[column].reindex(training["id"]).fillna("")
        counts = values.astype(str).str.strip().replace("", NOT_STATED).value_counts()
        licences = {str(k): int(v) for k, v in sorted(counts.items())}
    path = str(generator_path)
    version = path.replace("\\", "/").rsplit("/", 2)[-2] if path.count("/") >= 2 else None
    return {
        "model": "conditional GAN generator (cxr-gan)",
        "version": version,
        "path": path,
        "data_fingerprint": usable_fingerprint(manifest),
        "trained_on": {
            "classes": per_class,
            "total": int(len(training)),
            "evaluation_images": int((gan_split["role"] == "eval").sum()),
        },
        "licences": licences,
        "parameters": dict(history.get("settings") or {}),
        "epoch_kept": history.get("generator_epoch"),
        "epochs_run": len(history.get("epochs") or []),
        "quality": _quality(quality),
        "intended_use": INTENDED_USE,
        "limitations": LIMITATIONS,
    }


def _quality(report: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not report:
        return None
    realism = report.get("realism") or {}
    return {
        "verdict": report.get("verdict"),
        "collapsed": report.get("collapsed"),
        "kid_x1000_vs_evaluation": (report.get("kid_vs_evaluation") or {}).get("x1000_mean"),
        "fid": report.get("fid"),
        "real_vs_synthetic_auc": realism.get("auc")
        if realism.get("auc") is not None
        else (report.get("real_vs_synthetic_auc") or {}).get("mean"),
        "coverage": (report.get("coverage") or {}).get("coverage_mean"),
        "near_copies": (report.get("memorization") or {}).get("count_above"),
        "n_synthetic": report.get("n_synthetic"),
    }


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def model_card_markdown(card: Mapping[str, Any]) -> str:
    """The card (build_model_card's dict) as a Markdown page: intended use first, then the data,
    licences, parameters and quality, as tables."""
    trained = card["trained_on"]
    lines = [
        "# Model card: conditional GAN generator",
        "",
        f"**Intended use.** {card['intended_use']}",
        "",
        f"**Limitations.** {card['limitations']}",
        "",
        "## The model",
        "",
        "| | |",
        "| --- | --- |",
        f"| file | `{card['path']}` |",
        f"| version | {_cell(card['version'])} |",
        f"| epoch kept | {_cell(card['epoch_kept'])} of {_cell(card['epochs_run'])} run |",
        "",
        "## Data it learned from",
        "",
        f"Data fingerprint: `{card['data_fingerprint']}` (the data-quality report's; equal "
        "fingerprints mean identical usable images).",
        "",
        "| class | training images |",
        "| --- | --- |",
        *(f"| {_cell(k)} | {v} |" for k, v in trained["classes"].items()),
        f"| total | {trained['total']} |",
        "",
        f"{trained['evaluation_images']} more training-split images were held out to judge it.",
        "",
        "## Licences of the training images",
        "",
    ]
    if card["licences"] is None:
        lines.append(
            "The raw manifest has no licence column: check the licences of the source data "
            "yourself (a `license` column in the patient CSV is copied here)."
        )
    else:
        lines += ["| licence | training images |", "| --- | --- |"]
        lines += [f"| {_cell(k)} | {v} |" for k, v in card["licences"].items()]
    lines += ["", "## Parameters", "", "| parameter | value |", "| --- | --- |"]
    lines += [f"| {_cell(k)} | {_cell(v)} |" for k, v in card["parameters"].items()]
    lines += ["", "## Quality of its images", ""]
    quality = card["quality"]
    if quality is None:
        lines.append("Not assessed yet: `kedro run --pipelines synthesis` measures it.")
    else:
        lines += [
            f"{_cell(quality['verdict'])}",
            "",
            "| measure | value |",
            "| --- | --- |",
            f"| collapsed | {_cell(quality['collapsed'])} |",
            f"| KID x1000 vs evaluation split | {_cell(quality['kid_x1000_vs_evaluation'])} |",
            f"| FID | {_cell(quality['fid'])} |",
            "| real-vs-synthetic AUC (0.5 = indistinguishable) | "
            f"{_cell(quality['real_vs_synthetic_auc'])} |",
            f"| coverage | {_cell(quality['coverage'])} |",
            f"| near-copies of training images | {_cell(quality['near_copies'])} |",
            f"| synthetic images judged | {_cell(quality['n_synthetic'])} |",
        ]
    return "\n".join(lines) + "\n"
