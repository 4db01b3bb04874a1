import numpy as np
import pytest
import tensorflow as tf

from cxr_gan.data.augmentation import apply_augmentation, augment_images, sample_augmentation
from cxr_gan.data.augmentation_presets import PRESETS, AugmentationParams, resolve_augmentation
from tests.conftest import gradient_image


def batch(count: int = 8) -> np.ndarray:
    return np.stack([gradient_image(48, 40)] * count)  # (count, 40, 48) uint8


def test_same_seed_same_batch_other_seed_differs():
    images = batch()
    first = augment_images(images, 7, "classical")
    np.testing.assert_array_equal(first, augment_images(images, 7, "classical"))
    assert not np.allclose(first, augment_images(images, 8, "classical"))
    assert first.shape == images.shape and first.dtype == np.float32


def test_no_transform_returns_the_input_exactly():
    images = batch(3)
    np.testing.assert_array_equal(augment_images(images, 1, AugmentationParams()), images)


def test_flip_only_mirrors_or_keeps_each_image():
    images = batch(16)
    out = augment_images(images, 3, AugmentationParams(horizontal_flip=True))
    kept = [np.array_equal(o, images[0]) for o in out]
    mirrored = [np.array_equal(o, images[0][:, ::-1]) for o in out]
    assert all(k or m for k, m in zip(kept, mirrored, strict=True))
    assert any(kept) and any(mirrored)


def test_classical_preset_draws_in_the_studys_ranges():
    rows = sample_augmentation(500, 40, 48, seed=0, params="classical").numpy()
    zoom_x, zoom_y = np.abs(rows[:, 0]), rows[:, 4]  # shear of 0.2 deg barely changes a11
    assert zoom_x.min() >= 0.8 and zoom_x.max() <= 1.2 and zoom_x.std() > 0.05
    assert zoom_y.min() >= 0.79 and zoom_y.max() <= 1.21
    assert (rows[:, 0] < 0).mean() == pytest.approx(0.5, abs=0.1)  # flipped half the time
    np.testing.assert_array_equal(rows[:, 8], 0)  # no brightness change
    np.testing.assert_array_equal(rows[:, 9], 1)  # no contrast change


def test_strong_preset_changes_intensity_within_range():
    images = batch()
    out = augment_images(images, 5, "strong")
    assert out.min() >= 0 and out.max() <= 255
    means = out.reshape(len(out), -1).mean(axis=1)
    assert means.std() > 2  # brightness/contrast differ per image


def test_slices_give_the_same_images_as_the_whole_batch():
    images = batch(10).astype(np.float32)[..., None]
    transforms = sample_augmentation(10, 40, 48, seed=(4, 2), params="strong")
    whole = apply_augmentation(images, transforms).numpy()
    parts = [apply_augmentation(images[i : i + 3], transforms[i : i + 3]).numpy() for i in (0, 3)]
    np.testing.assert_allclose(np.concatenate(parts), whole[:6], atol=1e-4)
    np.testing.assert_allclose(augment_images(images, (4, 2), "strong"), whole, atol=1e-4)


def test_runs_in_a_tf_data_map_like_in_eager_numpy():
    images = batch(6)
    dataset = tf.data.Dataset.from_tensors(images).map(
        lambda x: augment_images(tf.cast(x, tf.float32), tf.constant([3, 9]), "strong")
    )
    from_graph = next(iter(dataset))
    assert isinstance(from_graph, tf.Tensor)
    np.testing.assert_allclose(
        from_graph.numpy(), augment_images(images, (3, 9), "strong"), atol=1e-3
    )


def test_presets_and_errors():
    assert resolve_augmentation(None) is None and resolve_augmentation("none") is None
    assert resolve_augmentation("strong") is PRESETS["strong"]
    with pytest.raises(ValueError, match="unknown augmentation"):
        resolve_augmentation("wild")
    with pytest.raises(ValueError, match="below 1"):
        AugmentationParams(zoom_range=1.0)
