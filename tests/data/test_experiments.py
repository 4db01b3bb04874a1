"""Each experiment trains on what it says, and nothing from the test split reaches training."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from cxr_gan.data.experiments import (
    ImageSubset,
    LeakageError,
    check_no_leakage,
    concatenate,
    experiment_images,
    match_resolution,
    resolution_plan,
    split_real_images,
    synthetic_generator_size,
    synthetic_subset,
    training_set,
)


@pytest.fixture
def data():
    n = 40
    ids = np.array([f"{'covid' if i % 2 else 'normal'}/img{i:02d}.png" for i in range(n)])
    labels = (np.arange(n) % 2).astype(np.int8)
    arrays = {
        "images": np.zeros((n, 8, 8), np.uint8) + np.arange(n)[:, None, None].astype(np.uint8),
        "labels": labels,
        "ids": ids,
    }
    split = pd.DataFrame(
        {
            "id": ids,
            "label": labels,
            "patient_id": [f"p{i // 2}" for i in range(n)],  # two images per patient
            "split": ["test" if i >= 32 else "train" for i in range(n)],
        }
    )
    return split_real_images(arrays, split, validation_fraction=0.25, seed=0)


def _synthetic(count_per_label: dict[int, int], size: int = 16):
    rows = [(label, i) for label, count in count_per_label.items() for i in range(count)]
    return {
        "images": np.full((len(rows), size, size), 200, np.uint8),
        "manifest": pd.DataFrame(
            {
                "filename": [f"{'covid' if label else 'normal'}_{i:04d}.png" for label, i in rows],
                "label": [label for label, _ in rows],
            }
        ),
    }


def test_real_split_keeps_patients_together(data):
    assert len(data.test) == 8 and len(data.train) + len(data.validation) == 32
    patients = data.train_patients
    val_patients = {patients[i] for i in data.validation.ids}
    train_patients = {patients[i] for i in data.train.ids}
    assert val_patients and not val_patients & train_patients
    assert not data.validation.synthetic.any() and not data.test.synthetic.any()


def test_each_experiment_trains_on_what_it_says(data):
    covid_set, balanced = _synthetic({1: 5}), _synthetic({0: 3, 1: 3})
    real, augmentation = training_set("real", data, covid_set, balanced)
    assert augmentation is None and real.counts()["synthetic"] == 0
    assert real.counts()["real"] == len(data.train)

    mixed, _ = training_set("real_plus_synthetic", data, covid_set, balanced)
    assert mixed.counts()["real"] == len(data.train) and mixed.counts()["synthetic"] == 5
    assert (mixed.labels[mixed.synthetic] == 1).all()  # labelled as the class they were made as
    assert mixed.images.shape[1:] == (8, 8)  # resized to the real images' size

    augmented, preset = training_set("classical_augmentation", data, covid_set, balanced)
    assert preset == "strong" and np.array_equal(augmented.ids, real.ids)

    synthetic_only, _ = training_set("synthetic_only", data, covid_set, balanced)
    assert synthetic_only.counts() == {
        "images": 6,
        "real": 0,
        "synthetic": 6,
        "label_0": 3,
        "label_1": 3,
    }
    for subset in (real, mixed, augmented, synthetic_only):
        assert not set(subset.ids) & set(data.test.ids)
        assert not set(subset.ids) & set(data.validation.ids)

    # synthetic_pretrain: fine-tuned on `real`'s images after the balanced synthetic set
    fine_tuned, preset = training_set("synthetic_pretrain", data, covid_set, balanced)
    assert preset is None and np.array_equal(fine_tuned.ids, real.ids)
    images = experiment_images("synthetic_pretrain", data, covid_set, balanced)
    [(name, pretraining)] = images.pretraining
    assert name == "synthetic_balanced" and np.array_equal(pretraining.ids, synthetic_only.ids)
    assert experiment_images("real", data, covid_set, balanced).pretraining == []


def test_leaks_are_caught(data):
    leaked = concatenate(data.train, data.test)
    with pytest.raises(LeakageError, match="test or validation data reached training"):
        check_no_leakage(leaked, data)
    sneaky = ImageSubset(
        data.validation.images,
        data.validation.labels,
        data.validation.ids,
        np.zeros(len(data.validation), bool),
    )
    with pytest.raises(LeakageError):
        check_no_leakage(sneaky, data)
    with pytest.raises(ValueError, match="unknown experiment"):
        training_set("mystery", data, _synthetic({1: 1}), _synthetic({0: 1, 1: 1}))


def _textured(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """uint8 (n, size, size) random noise: fine detail that a trip through 8 px destroys."""
    return np.random.default_rng(seed).integers(0, 256, (n, size, size), dtype=np.uint8)


def test_match_resolution_goes_down_with_area_and_up_with_cubic_image_by_image():
    images = _textured(5)
    matched = match_resolution(images, 8)
    expected = np.stack(
        [
            cv2.resize(
                cv2.resize(image, (8, 8), interpolation=cv2.INTER_AREA),
                (32, 32),
                interpolation=cv2.INTER_CUBIC,
            )
            for image in images
        ]
    )
    assert matched.shape == images.shape and matched.dtype == np.uint8
    assert np.array_equal(matched[:], expected)
    assert not np.array_equal(expected, images)  # the detail above 8 px is gone
    # per image, no statistic across images: one image alone comes out the same as in a batch
    assert np.array_equal(match_resolution(images[3:4], 8)[0], expected[3])
    assert np.array_equal(match_resolution(images, 32)[:], images)  # nothing to lose at 32 px


def test_synthetic_images_are_enlarged_like_real_images_come_back():
    small = _textured(2, size=8)
    manifest = pd.DataFrame({"filename": ["covid_0000.png", "covid_0001.png"], "label": [1, 1]})
    subset = synthetic_subset({"images": small, "manifest": manifest}, 32)
    expected = [cv2.resize(image, (32, 32), interpolation=cv2.INTER_CUBIC) for image in small]
    assert np.array_equal(subset.images, np.stack(expected))


@pytest.mark.parametrize(
    ("enabled", "generator_px", "input_size", "matched", "words"),
    [
        (True, 16, 32, True, "were brought to the GAN's 16 px and back"),
        (False, 16, 32, False, "were NOT brought to the GAN's 16 px"),
        (True, 32, 32, False, "not below the classifier's 32 px"),
        (True, None, 32, False, "no synthetic set here records its generator's size"),
    ],
)
def test_resolution_plan_matches_only_below_the_classifier_input(
    enabled, generator_px, input_size, matched, words
):
    plan = resolution_plan(enabled, generator_px, image_size=64, input_size=input_size)
    assert plan["matched"] is matched and words in plan["sentence"]


def test_generator_size_comes_from_the_manifests():
    old = _synthetic({1: 2})  # a set written before manifests had generator_size
    assert synthetic_generator_size(old, None) is None
    new = _synthetic({1: 2})
    new["manifest"]["generator_size"] = 16
    assert synthetic_generator_size(old, new) == 16
