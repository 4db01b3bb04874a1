import numpy as np
import pytest

from cxr_gan.data.masking import MASK_VALUE, central_box, mask_center


def test_mask_hides_exactly_the_central_fraction():
    images = np.zeros((2, 20, 40), np.uint8)
    masked = mask_center(images, 0.7)
    rows, columns = central_box((20, 40), 0.7)
    assert (rows.start, rows.stop, columns.start, columns.stop) == (3, 17, 6, 34)
    assert (masked[:, 3:17, 6:34] == MASK_VALUE).all()
    outside = np.ones((20, 40), bool)
    outside[rows, columns] = False
    assert (masked[:, outside] == 0).all()  # borders untouched
    assert outside.sum() == 20 * 40 - 14 * 28
    assert (images == 0).all()  # a copy: the input is not changed


def test_mask_fraction_must_be_a_proper_fraction():
    for fraction in (0, 1, 1.5):
        with pytest.raises(ValueError, match="mask_fraction"):
            mask_center(np.zeros((1, 4, 4), np.uint8), fraction)
