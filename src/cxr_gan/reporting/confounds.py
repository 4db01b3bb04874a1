"""Confounds said without being asked: file attributes that give the class away.

A folder of X-rays often carries its class in how the files were made, not in the lungs: every
normal a grayscale PNG from one archive, the COVID-19 images JPEGs cut from publications. A
classifier learns that as readily as the disease. For each attribute (format, colour mode, bit
depth, original size, source) and for the pair format x colour mode, a simple classifier that
sees only that attribute is scored: its score for an image is the share of each class among the
*other* images with the same value (leave-one-out, so a value held by one image says nothing),
and its ROC AUC is measured. Over CONFOUND_AUC the attribute nearly separates the classes and a
warning sentence says how, e.g. "every normal image is a grayscale PNG and 98% of covid images
are JPEG or colour (RGB, RGBA): a model can learn the file format instead of the disease".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

CONFOUND_AUC = 0.9  # a classifier on the attribute alone above this: warned
PAIR_MARGIN = 0.01  # the pair is warned only when it separates better than each of its parts
SOURCE_COLUMNS = ("source_repo", "source", "dataset", "archive")  # manifest columns, first wins
ATTRIBUTES = ("format", "colour_mode", "bit_depth", "size", "source")
PAIR = ("format", "colour_mode")
# joins a pair's two values: not NUL, which pandas' string dtype drops without pyarrow
PAIR_SEPARATOR = "\x1f"
LEARNS = {
    "format": "file format",
    "colour_mode": "colour mode",
    "bit_depth": "bit depth",
    "size": "image size (and aspect ratio)",
    "source": "archive the image came from",
    "format x colour_mode": "file format",
}
GRAYSCALE_MODES = {"L", "I", "F", "1", "MONOCHROME1", "MONOCHROME2"}
TOP_VALUES = 8  # values listed per class and attribute; the rest are counted as "other"


def image_attributes(usable: pd.DataFrame) -> pd.DataFrame:
    """One row per usable image: format, colour_mode (the stored mode without its bit depth:
    L, RGB, RGBA, P, I, MONOCHROME2, ...), bit_depth ("8", "16", "32", "1", "unknown" for DICOM
    whose mode does not state it), size ("WxH" px as stored) and, when the manifest has a source
    column (SOURCE_COLUMNS, e.g. carried from the patient CSV), source. usable: manifest rows
    with columns format, mode, width, height; raises KeyError without them."""
    modes = usable["mode"].fillna("").astype(str)
    formats = usable["format"].fillna("").astype(str)
    attributes = pd.DataFrame(
        {
            "format": formats,
            "colour_mode": modes.str.split(";").str[0],
            "bit_depth": [_bit_depth(m, f) for m, f in zip(modes, formats, strict=True)],
            "size": usable["width"].astype(int).astype(str)
            + "x"
            + usable["height"].astype(int).astype(str),
        },
        index=usable.index,
    )
    column = next((c for c in SOURCE_COLUMNS if c in usable.columns), None)
    if column is not None:
        sources = usable[column].fillna("").astype(str).str.strip()
        if (sources != "").any():
            attributes["source"] = sources.replace("", "unknown")
    return attributes


def _bit_depth(mode: str, image_format: str) -> str:
    if ";" in mode:
        return "".join(ch for ch in mode.split(";", 1)[1] if ch.isdigit()) or "unknown"
    if mode in ("I", "F"):
        return "32"
    if mode == "1":
        return "1"
    return "unknown" if image_format == "DICOM" else "8"


def attributes_by_class(
    usable: pd.DataFrame, classes: Mapping[str, int]
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """attribute -> class folder -> [{"value", "images"}], the TOP_VALUES most common values
    first (the rest as one "other (n values)" entry); lists, so that experiment trackers that
    log a report's numbers as metrics skip them. usable: manifest rows as image_attributes
    takes, with class_folder."""
    attributes = image_attributes(usable)
    table: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for attribute in attributes.columns:
        table[attribute] = {}
        for folder in classes:
            counts = attributes.loc[usable["class_folder"] == folder, attribute].value_counts()
            shown = [
                {"value": str(k), "images": int(v)} for k, v in counts.head(TOP_VALUES).items()
            ]
            if len(counts) > TOP_VALUES:
                rest = counts.iloc[TOP_VALUES:]
                shown.append({"value": f"other ({len(rest)} values)", "images": int(rest.sum())})
            table[attribute][folder] = shown
    return table


def separation_auc(values: pd.Series, labels: np.ndarray) -> float:
    """How well one attribute alone separates the classes: the ROC AUC (0.5..1; one class
    against the rest, the best class; with two classes both give the same) of a classifier
    whose score for an image is its class's share among the other images with the same value
    (leave-one-out, smoothed towards the class's overall share by one image). A value held by a
    single image says nothing. values, labels: one per image; returns 0.5 with fewer than two
    classes."""
    labels = np.asarray(labels)
    keys = pd.Series(values).astype(str).to_numpy()
    classes = np.unique(labels)
    if len(classes) < 2:
        return 0.5
    best = 0.5
    _, inverse, group_sizes = np.unique(keys, return_inverse=True, return_counts=True)
    for label in classes if len(classes) > 2 else classes[:1]:
        positive = (labels == label).astype(float)
        in_group = np.bincount(inverse, weights=positive)[inverse] - positive
        others = group_sizes[inverse] - 1
        prior = (positive.sum() - positive) / (len(labels) - 1)
        score = (in_group + prior) / (others + 1)
        # not max(auc, 1 - auc): leave-one-out scores fall below 0.5 where there is no signal
        best = max(best, _roc_auc(score, positive.astype(bool)))
    return float(best)


def _roc_auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Mann-Whitney AUC with ties counted half."""
    ranks = pd.Series(score).rank(method="average").to_numpy()
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        return 0.5
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def find_confounds(usable: pd.DataFrame, classes: Mapping[str, int]) -> list[dict[str, Any]]:
    """The attributes (and the pair format x colour mode) that nearly separate the classes:
    [{"attribute", "auc", "sentence"}], AUC over CONFOUND_AUC, highest first. The pair is listed
    only when it separates better (by PAIR_MARGIN) than each of its parts alone. usable: the
    usable manifest rows (image_attributes' columns, class_folder, label); classes: folder ->
    label. Returns [] for fewer than two classes with images."""
    if usable.empty or usable["label"].nunique() < 2:
        return []
    attributes = image_attributes(usable)
    labels = usable["label"].to_numpy()
    pair_name = " x ".join(PAIR)
    attributes[pair_name] = attributes[PAIR[0]] + PAIR_SEPARATOR + attributes[PAIR[1]]
    aucs = {name: separation_auc(attributes[name], labels) for name in attributes.columns}
    found = []
    for name, auc in aucs.items():
        if auc <= CONFOUND_AUC:
            continue
        if name == pair_name and any(aucs[part] >= auc - PAIR_MARGIN for part in PAIR):
            continue
        found.append(
            {
                "attribute": name,
                "auc": round(auc, 3),
                "sentence": _sentence(name, attributes[name], usable, classes, auc),
            }
        )
    return sorted(found, key=lambda c: -c["auc"])


def _describe(attribute: str, value: str) -> str:
    """A value as a sentence names it: 'grayscale PNG', 'colour (RGB)', '512x512 px'."""
    if attribute == " x ".join(PAIR):
        image_format, mode = value.split(PAIR_SEPARATOR)
        return f"{_mode_word(mode)} {image_format}"
    if attribute == "colour_mode":
        return _mode_word(value)
    if attribute == "bit_depth":
        return f"{value}-bit" if value.isdigit() else f"of {value} bit depth"
    if attribute == "size":
        return f"{value} px"
    if attribute == "source":
        return f"from {value}"
    return value


def _mode_word(mode: str) -> str:
    if mode in GRAYSCALE_MODES:
        return "grayscale" if mode in ("L", "MONOCHROME2") else f"grayscale ({mode})"
    if mode in ("LA", "PA"):
        return f"grayscale with alpha ({mode})"
    if mode == "P":
        return "palette"
    return f"colour ({mode})"


def _others(attribute: str, values: pd.Series, dominant: str) -> str:
    """What the images without the dominant value are, most common first."""
    rest = values[values != dominant]
    if attribute != " x ".join(PAIR):
        listed = [_describe(attribute, v) for v in rest.value_counts().index[:3]]
        more = " or other values" if rest.nunique() > 3 else ""
        return " or ".join(listed) + more
    image_format, mode = dominant.split(PAIR_SEPARATOR)
    parts = rest.str.split(PAIR_SEPARATOR, expand=True)
    words = []
    formats = parts[0][parts[0] != image_format].value_counts().index.tolist()
    if formats:
        words.append(" or ".join(formats))
    modes = parts[1][parts[1] != mode].value_counts().index.tolist()
    if modes:
        colour = [m for m in modes if m not in GRAYSCALE_MODES]
        if colour and len(colour) == len(modes):
            words.append(f"colour ({', '.join(colour)})")
        else:
            words.append(" or ".join(_mode_word(m) for m in modes))
    return " or ".join(words)


def _sentence(
    attribute: str,
    values: pd.Series,
    usable: pd.DataFrame,
    classes: Mapping[str, int],
    auc: float,
) -> str:
    """'every normal image is a grayscale PNG and 98% of covid images are JPEG or colour
    (RGB, RGBA): a model can learn the file format ...' for the class whose commonest value is
    most common in it, against the other classes."""
    folders = usable["class_folder"].astype(str)
    best = None
    for folder in classes:
        members = values[folders == folder]
        if len(members):
            counts = members.value_counts()
            share = counts.iloc[0] / len(members)
            if best is None or share > best[2]:
                best = (folder, str(counts.index[0]), share)
    folder, dominant, share = best
    others = values[folders != folder]
    other_share = float((others != dominant).mean()) if len(others) else 0.0
    other_names = [f for f in classes if f != folder]
    other_name = other_names[0] if len(other_names) == 1 else "other"
    described = _describe(attribute, dominant)
    if share == 1:
        article = "an" if described[:1].lower() in "aeiou8" else "a"
        article = "" if attribute in ("size", "source", "bit_depth") else f"{article} "
        first = f"every {folder} image is {article}{described}"
    else:
        first = f"{_percent(share)} of {folder} images are {described}"
    rest = _others(attribute, others, dominant)
    if other_share == 1:
        second = f"every {other_name} image is {rest}"
    else:
        second = f"{_percent(other_share)} of {other_name} images are {rest}"
    return (
        f"{first} and {second}: a model can learn the {LEARNS[attribute]} "
        f"instead of the disease ({attribute.replace('_', ' ')} alone separates the classes "
        f"with AUC {auc:.2f})"
    )


def _percent(share: float) -> str:
    """A share as a whole percentage that never rounds to 100% or 0% unless it is."""
    if share >= 1:
        return "100%"
    return f"{min(99, max(1 if share > 0 else 0, round(100 * share)))}%"
