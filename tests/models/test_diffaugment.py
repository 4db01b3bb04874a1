import keras
import numpy as np
import pytest
import tensorflow as tf

from cxr_gan.models.diffaugment import diff_augment


def _batch(n=4, size=16):
    return tf.constant(np.random.default_rng(0).uniform(-1, 1, (n, size, size, 1)), tf.float32)


def test_shapes_are_kept_and_gradients_flow():
    images = tf.Variable(_batch())
    with tf.GradientTape() as tape:
        augmented = diff_augment(images, keras.random.SeedGenerator(1))
        loss = tf.reduce_sum(augmented**2)
    assert augmented.shape == images.shape
    gradient = tape.gradient(loss, images)
    assert gradient is not None and float(tf.reduce_sum(tf.abs(gradient))) > 0


def test_each_policy_changes_images_and_is_seeded():
    images = _batch()
    for policy in (("color",), ("translation",), ("cutout",)):
        first = diff_augment(images, keras.random.SeedGenerator(3), policy)
        again = diff_augment(images, keras.random.SeedGenerator(3), policy)
        np.testing.assert_array_equal(first.numpy(), again.numpy())
        assert not np.allclose(first.numpy(), images.numpy()), policy


def test_cutout_zeroes_a_square_of_half_the_side():
    images = tf.ones((8, 16, 16, 1))
    out = diff_augment(images, keras.random.SeedGenerator(0), ("cutout",)).numpy()
    zeroed = (out == 0).sum(axis=(1, 2, 3))
    assert (zeroed > 0).all() and (zeroed <= 64).all()  # at most 8x8, clipped at borders


def test_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="unknown DiffAugment policy"):
        diff_augment(_batch(), keras.random.SeedGenerator(0), ("saturation",))
