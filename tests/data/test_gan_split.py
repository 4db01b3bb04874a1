"""The GAN's held-out evaluation images: from the training split only, per class, whole groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxr_gan.data.gan_split import GAN_EVAL, GAN_TRAIN, gan_evaluation_split, images_with_role


def _split(groups_per_class: int = 20, per_group: int = 2) -> pd.DataFrame:
    rows = []
    for label in (0, 1):
        for group in range(groups_per_class):
            for member in range(per_group):
                rows.append(
                    {
                        "id": f"{label}-{group}-{member}",
                        "label": label,
                        "group": label * 1000 + group,
                        "split": "test" if group < 4 else "train",
                    }
                )
    return pd.DataFrame(rows)


def test_holds_out_a_share_of_each_class_of_the_training_split_by_whole_groups():
    split = _split()
    gan_split = gan_evaluation_split(split, 0.25, seed=3)
    train_ids = set(split.loc[split["split"] == "train", "id"])
    assert set(gan_split["id"]) == train_ids  # no test image on either side
    held = gan_split[gan_split["role"] == GAN_EVAL]
    assert held.groupby("label").size().tolist() == [8, 8]  # 25% of 32 per class
    roles_per_group = gan_split.groupby("group")["role"].nunique()
    assert (roles_per_group == 1).all()  # a patient never on both sides
    again = gan_evaluation_split(split, 0.25, seed=3)
    pd.testing.assert_frame_equal(gan_split, again)
    other = gan_evaluation_split(split, 0.25, seed=4)
    assert set(other.loc[other["role"] == GAN_EVAL, "id"]) != set(held["id"])


def test_fraction_zero_keeps_every_training_image_for_the_gan():
    gan_split = gan_evaluation_split(_split(), 0.0, seed=3)
    assert (gan_split["role"] == GAN_TRAIN).all() and len(gan_split) == 64


def test_images_with_role_reads_only_that_role_in_array_order():
    split = _split()
    gan_split = gan_evaluation_split(split, 0.25, seed=3)
    ids = split["id"].to_numpy()
    images = np.arange(len(ids), dtype=np.uint8)[:, None, None] * np.ones((1, 4, 4), np.uint8)
    arrays = {"images": images, "labels": split["label"].to_numpy(), "ids": ids}
    held, labels = images_with_role(arrays, gan_split, GAN_EVAL)
    expected = np.flatnonzero(np.isin(ids, gan_split.loc[gan_split["role"] == GAN_EVAL, "id"]))
    np.testing.assert_array_equal(np.asarray(held)[:, 0, 0], expected)
    np.testing.assert_array_equal(labels, split["label"].to_numpy()[expected])
    with pytest.raises(ValueError, match="no training images"):
        images_with_role(arrays, gan_split.assign(role=GAN_EVAL), GAN_TRAIN)
