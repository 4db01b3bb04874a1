import numpy as np
import pytest

from cxr_gan.data.preprocessing import perceptual_hash, resize_square


def test_stretch_fills_the_square():
    image = np.full((40, 80), 200, np.uint8)
    out = resize_square(image, 32, "stretch")
    assert out.shape == (32, 32) and (out == 200).all()


def test_pad_keeps_aspect_ratio_with_black_bars():
    image = np.full((40, 80), 200, np.uint8)
    out = resize_square(image, 32, "pad")
    assert out.shape == (32, 32)
    assert (out[:8] == 0).all() and (out[-8:] == 0).all()  # 16 rows of image, centred
    assert (out[8:24] == 200).all()


def test_crop_keeps_the_centre():
    image = np.zeros((40, 80), np.uint8)
    image[:, 20:60] = 255  # the central square is white, the sides black
    out = resize_square(image, 32, "crop")
    assert out.shape == (32, 32) and (out == 255).all()


def test_unknown_resize_mode_is_refused():
    with pytest.raises(ValueError, match="stretch, pad or crop"):
        resize_square(np.zeros((4, 4), np.uint8), 2, "squash")


def test_enlarging_tiny_images_works():
    assert resize_square(np.full((1, 1), 9, np.uint8), 16, "pad").shape == (16, 16)


def test_perceptual_hash():
    image = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    assert perceptual_hash(image) == perceptual_hash(image.copy())
    assert perceptual_hash(image) != perceptual_hash(image.T)
