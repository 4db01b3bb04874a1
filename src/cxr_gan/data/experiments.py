"""Which images each classification experiment trains, validates and tests on.

Rules, checked every time a training set is assembled:
- every experiment is tested on the same real test split from data_processing;
- validation images are the same held-out part of the real training split in every experiment;
- synthetic images only ever enter training sets, never validation or test;
- no test image (by id) and no image of a test patient is ever in a training or validation set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from cxr_gan.data.lazy_rows import LazyRows, select_rows
from cxr_gan.data.masking import central_box, mask_center
from cxr_gan.data.preprocessing import down_and_up, resize_square
from cxr_gan.data.split import connected_groups, links_from_keys, stratified_group_split

STRONG_AUGMENTATION = "strong"
SHORTCUT_PROBE = "shortcut_probe"
SYNTHETIC_PRETRAIN = "synthetic_pretrain"


class LeakageError(AssertionError):
    """A test image (or its patient) reached training data: the comparison would be invalid."""


@dataclass(frozen=True)
class ImageSubset:
    # uint8 (n, s, s): an array, or for real images a LazyRows selection of the memory-mapped
    # xray_arrays that training and prediction read batch by batch (never copied whole)
    images: np.ndarray | LazyRows
    labels: np.ndarray  # int (n,)
    ids: np.ndarray  # str (n,)
    synthetic: np.ndarray  # bool (n,)

    def __len__(self) -> int:
        return len(self.labels)

    def counts(self) -> dict[str, int]:
        return {
            "images": len(self),
            "real": int((~self.synthetic).sum()),
            "synthetic": int(self.synthetic.sum()),
            **{f"label_{c}": int((self.labels == c).sum()) for c in np.unique(self.labels)},
        }


@dataclass(frozen=True, eq=False)
class RealSplits:
    """The real images every experiment shares: training, validation and test subsets, and the
    patients behind them (what check_no_leakage checks against)."""

    train: ImageSubset
    validation: ImageSubset  # the same held-out part of the training split in every experiment
    test: ImageSubset
    test_patients: tuple[str, ...]  # known patient ids of test images (sorted)
    train_patients: Mapping[str, str]  # training-split id -> patient id ("" when unknown)


def split_real_images(
    arrays: dict[str, np.ndarray], split: pd.DataFrame, validation_fraction: float, seed: int
) -> RealSplits:
    """Real train / validation / test subsets; validation is grouped by patient like the split.

    Subsets hold row numbers into arrays["images"] (LazyRows), not copies of the images."""
    by_id = split.set_index("id")
    ids = arrays["ids"]
    side = by_id.loc[ids, "split"].to_numpy()
    patients = by_id.loc[ids, "patient_id"].fillna("").astype(str).to_numpy()
    labels = arrays["labels"].astype(np.int32)
    train = np.flatnonzero(side == "train")
    is_val = np.zeros(len(train), bool)
    if validation_fraction > 0:
        groups = connected_groups(len(train), links_from_keys(patients[train].tolist()))
        is_val = stratified_group_split(labels[train], groups, validation_fraction, seed)

    def subset(index: np.ndarray) -> ImageSubset:
        return ImageSubset(
            select_rows(arrays["images"], index),
            labels[index],
            ids[index].astype(str),
            np.zeros(len(index), bool),
        )

    test = np.flatnonzero(side == "test")
    return RealSplits(
        train=subset(train[~is_val]),
        validation=subset(train[is_val]),
        test=subset(test),
        test_patients=tuple(sorted(set(patients[test]) - {""})),
        train_patients=dict(zip(ids[train].astype(str), patients[train], strict=True)),
    )


def synthetic_subset(image_set: dict[str, Any], size: int) -> ImageSubset:
    """A versioned synthetic set as training images at the real images' size: uint8
    (n, size, size), enlarged with cubic interpolation (resize_square), as match_resolution
    enlarges real images on their way back from the GAN's size."""
    images = np.stack(
        [
            image if image.shape == (size, size) else resize_square(image, size)
            for image in image_set["images"]
        ]
    )
    manifest = image_set["manifest"]
    ids = np.array([f"synthetic/{name}" for name in manifest["filename"]])
    return ImageSubset(images, manifest["label"].to_numpy(np.int32), ids, np.ones(len(ids), bool))


def synthetic_generator_size(*image_sets: dict[str, Any] | None) -> int | None:
    """The side in px of the generator behind the synthetic sets (the smallest, if they differ),
    from their manifests' generator_size column; None when no set records it (no set given, or
    sets written before manifests had that column)."""
    sizes = [
        int(size)
        for image_set in image_sets
        if image_set and "generator_size" in image_set["manifest"].columns
        for size in image_set["manifest"]["generator_size"]
    ]
    return min(sizes) if sizes else None


def resolution_plan(
    enabled: bool, generator_px: int | None, image_size: int, input_size: int
) -> dict[str, Any]:
    """Whether real images go through the GAN's resolution (match_resolution), and one sentence
    saying so for the comparison report.

    They do when `enabled` and the GAN works below both the classifier's input size and the real
    images' stored size: only then are synthetic images blurrier than real ones where the
    classifier looks, so sharpness alone would tell "synthetic COVID-19" from everything else.
    """
    plan: dict[str, Any] = {  # "matched": real images go through match_resolution
        "match_synthetic_resolution": enabled,
        "generator_size": generator_px,
        "image_size": image_size,
        "input_size": input_size,
        "matched": False,
    }
    if generator_px is None:
        plan["sentence"] = (
            "Real images were used as they are: no synthetic set here records its generator's "
            "size (manifest column generator_size; re-run synthesis to add it)."
        )
    elif generator_px >= min(input_size, image_size):
        plan["sentence"] = (
            f"The GAN works at {generator_px} px, not below the classifier's {input_size} px "
            "input, so real images were used as they are."
        )
    elif not enabled:
        plan["sentence"] = (
            f"Real images were NOT brought to the GAN's {generator_px} px and back "
            "(classification.match_synthetic_resolution: false): synthetic images are blurrier "
            "than real ones, so a classifier can tell them apart by sharpness alone."
        )
    else:
        plan["matched"] = True
        plan["sentence"] = (
            f"Real images were brought to the GAN's {generator_px} px and back (area down, "
            "cubic up), like the synthetic ones, so sharpness cannot tell them apart."
        )
    return plan


def match_resolution(images: np.ndarray | LazyRows, size: int) -> LazyRows:
    """The images (uint8 (n, s, s), an array or LazyRows) brought to size px and back
    (down_and_up) as each batch is read, still uint8 (n, s, s). Image by image: nothing is
    computed across images, so nothing crosses from one split to another."""
    return LazyRows.concatenate(images).with_transform(partial(down_and_up, size=size))


def concatenate(*subsets: ImageSubset) -> ImageSubset:
    """The subsets one after the other; images stay lazy (read when a batch needs them)."""
    return ImageSubset(
        LazyRows.concatenate(*(s.images for s in subsets)),
        np.concatenate([s.labels for s in subsets]),
        np.concatenate([s.ids for s in subsets]),
        np.concatenate([s.synthetic for s in subsets]),
    )


def as_seen_by(experiment: str, subset: ImageSubset, mask_fraction: float) -> ImageSubset:
    """The images as an experiment sees them: the shortcut probe sees borders only, in training,
    validation and test alike; every other experiment sees them as they are."""
    if experiment != SHORTCUT_PROBE:
        return subset
    central_box(subset.images.shape[1:3], mask_fraction)  # a bad fraction fails here, not later
    masked = LazyRows.concatenate(subset.images).with_transform(
        partial(mask_center, fraction=mask_fraction)
    )  # masked per batch as it is read
    return ImageSubset(masked, subset.labels, subset.ids, subset.synthetic)


def training_parts(
    experiment: str,
    data: RealSplits,
    synthetic_xrays: dict[str, Any],
    synthetic_balanced_xrays: dict[str, Any],
    mask_fraction: float = 0.7,
) -> tuple[list[tuple[str, ImageSubset]], str | None]:
    """The experiment's training images as named parts, in order ("train": the real training
    split as the experiment sees it, "synthetic", "synthetic_balanced"), and the augmentation
    preset it asks for (None: the configured one). Parts of the same name and view are the same
    images in every experiment, which is what lets experiments share backbone features."""
    real = data.train
    size = real.images.shape[1]
    if experiment == "real":
        return [("train", real)], None
    if experiment == "real_plus_synthetic":
        return [("train", real), ("synthetic", synthetic_subset(synthetic_xrays, size))], None
    if experiment == "classical_augmentation":
        return [("train", real)], STRONG_AUGMENTATION
    if experiment == SYNTHETIC_PRETRAIN:  # fine-tuned on `real`'s images after pretraining_parts
        return [("train", real)], None
    if experiment == "synthetic_only":
        return [("synthetic_balanced", synthetic_subset(synthetic_balanced_xrays, size))], None
    if experiment == SHORTCUT_PROBE:  # the same recipe as `real`, on borders only
        return [("train", as_seen_by(experiment, real, mask_fraction))], None
    raise ValueError(f"unknown experiment {experiment!r}")


def pretraining_parts(
    experiment: str, data: RealSplits, synthetic_balanced_xrays: dict[str, Any]
) -> list[tuple[str, ImageSubset]]:
    """The images an experiment is pre-trained on before its training_parts, as named parts:
    for synthetic_pretrain the balanced synthetic set (both classes, at the real images' size,
    the same "synthetic_balanced" part synthetic_only trains on); [] for every other
    experiment. Raises KeyError when synthetic_pretrain gets no balanced set."""
    if experiment != SYNTHETIC_PRETRAIN:
        return []
    size = data.train.images.shape[1]
    return [("synthetic_balanced", synthetic_subset(synthetic_balanced_xrays, size))]


@dataclass(frozen=True, eq=False)
class ExperimentImages:
    """Everything one experiment trains, validates and tests on, as it sees it."""

    experiment: str
    parts: list[tuple[str, ImageSubset]]  # training_parts' named parts, in order
    augmentation: str | None  # the preset the experiment asks for (None: the configured one)
    validation: ImageSubset
    test: ImageSubset
    external: ImageSubset | None  # the external folder, None without one
    # pretraining_parts: trained on first, then fine-tuned on `parts` ([]: no pre-training)
    pretraining: list[tuple[str, ImageSubset]] = field(default_factory=list)

    def seen(self) -> dict[str, ImageSubset | None]:
        """{"validation", "test", "external"}: the evaluation inputs by name."""
        return {"validation": self.validation, "test": self.test, "external": self.external}


def experiment_images(
    experiment: str,
    data: RealSplits,
    synthetic_xrays: dict[str, Any],
    synthetic_balanced_xrays: dict[str, Any],
    external: ImageSubset | None = None,
    mask_fraction: float = 0.7,
) -> ExperimentImages:
    """The experiment's training parts, its pre-training parts (pretraining_parts) and its
    validation, test and external images as it sees them (as_seen_by: borders only for the
    shortcut probe)."""
    parts, augmentation = training_parts(
        experiment, data, synthetic_xrays, synthetic_balanced_xrays, mask_fraction
    )
    return ExperimentImages(
        experiment,
        parts,
        augmentation,
        as_seen_by(experiment, data.validation, mask_fraction),
        as_seen_by(experiment, data.test, mask_fraction),
        None if external is None else as_seen_by(experiment, external, mask_fraction),
        pretraining_parts(experiment, data, synthetic_balanced_xrays),
    )


def training_set(
    experiment: str,
    data: RealSplits,
    synthetic_xrays: dict[str, Any],
    synthetic_balanced_xrays: dict[str, Any],
    mask_fraction: float = 0.7,
) -> tuple[ImageSubset, str | None]:
    """The experiment's training images, and the augmentation preset it asks for (None: the
    configured one)."""
    parts, augmentation = training_parts(
        experiment, data, synthetic_xrays, synthetic_balanced_xrays, mask_fraction
    )
    return joined_parts(parts, data), augmentation


def joined_parts(parts: list[tuple[str, ImageSubset]], data: RealSplits) -> ImageSubset:
    """training_parts' parts as one training set, checked for leaks (check_no_leakage)."""
    subsets = [subset for _, subset in parts]
    chosen = subsets[0] if len(subsets) == 1 else concatenate(*subsets)
    check_no_leakage(chosen, data)
    return chosen


def check_no_leakage(training: ImageSubset, data: RealSplits) -> None:
    """Raise LeakageError if any test or validation image, or test patient, is in training."""
    test_ids, validation_ids = set(data.test.ids), set(data.validation.ids)
    leaked = sorted((set(training.ids) & test_ids) | (set(training.ids) & validation_ids))
    test_patients = set(data.test_patients)
    patients = data.train_patients
    leaked += sorted(i for i in training.ids if patients.get(i, "") in test_patients - {""})
    if data.test.synthetic.any() or data.validation.synthetic.any():
        leaked.append("synthetic images in test or validation")
    if leaked:
        raise LeakageError(f"test or validation data reached training: {leaked[:5]}")
