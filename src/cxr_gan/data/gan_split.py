"""The GAN's split of the classifier's TRAINING images: most train the GAN, a held-out share of
each class judges it. The classifier's test split never enters either side, so choosing a GAN
recipe never looks at test data."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from cxr_gan.data.lazy_rows import select_rows
from cxr_gan.data.split import stratified_group_split

logger = logging.getLogger(__name__)
GAN_TRAIN, GAN_EVAL = "train", "eval"


def gan_evaluation_split(xray_split: pd.DataFrame, fraction: float, seed: int) -> pd.DataFrame:
    """Hold out `fraction` of each class of the training split (xray_split rows with split
    "train"), whole patient and near-duplicate groups at a time (column `group`).

    Returns one row per training-split image: id, label, group, role ("train": the GAN trains
    on it; "eval": held out). fraction 0: every row is "train". Raises ValueError when the
    split has no training images."""
    train = xray_split[xray_split["split"] == "train"]
    if train.empty:
        raise ValueError("the split has no training images; re-run data_processing")
    role = np.full(len(train), GAN_TRAIN, dtype=object)
    if fraction > 0:
        held_out = stratified_group_split(
            train["label"].to_numpy(), train["group"].to_numpy(), fraction, seed
        )
        role[held_out] = GAN_EVAL
    gan_split = pd.DataFrame(
        {
            "id": train["id"].to_numpy(),
            "label": train["label"].to_numpy(),
            "group": train["group"].to_numpy(),
            "role": role,
        }
    )
    counts = gan_split.groupby(["label", "role"]).size()
    logger.info(
        "GAN split of the %d training images: %s (evaluation fraction %.2f)",
        len(gan_split),
        ", ".join(f"label {label} {role}: {count}" for (label, role), count in counts.items()),
        fraction,
    )
    return gan_split


def images_with_role(
    xray_arrays: dict[str, np.ndarray], gan_split: pd.DataFrame, role: str = GAN_TRAIN
) -> tuple[np.ndarray, np.ndarray]:
    """Images (a LazyRows selection of uint8 (n, h, w), read only when indexed) and int32
    labels (n,) of the rows of `gan_split` with `role`, in array order. Raises ValueError when
    there are no GAN training images."""
    wanted = set(gan_split.loc[gan_split["role"] == role, "id"])
    rows = np.flatnonzero(np.array([image_id in wanted for image_id in xray_arrays["ids"]]))
    if role == GAN_TRAIN and not len(rows):
        raise ValueError("the GAN split has no training images; re-run data_processing")
    return select_rows(xray_arrays["images"], rows), xray_arrays["labels"][rows].astype(np.int32)
