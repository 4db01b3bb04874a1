"""LazyRows indexes like the ndarray it stands for, and reads only the rows asked for."""

from __future__ import annotations

import numpy as np
import pytest

from cxr_gan.data.lazy_rows import LazyRows, read_in_chunks

SOURCE = np.arange(6 * 3 * 4).reshape(6, 3, 4)
ROWS = [4, 0, 5, 2]


@pytest.mark.parametrize(
    "key",
    [
        1,
        -1,
        slice(1, 3),
        slice(None, None, -1),
        [3, 0],
        np.array([True, False, True, False]),
        (1, 2),
        (1, slice(None), 0),
        (slice(0, 2), 1),
        (slice(0, 2), [2, 0]),
    ],
)
def test_indexing_matches_the_array_of_those_rows(key):
    expected = SOURCE[ROWS][key]
    np.testing.assert_array_equal(LazyRows(SOURCE, ROWS)[key], expected)


def test_keys_numpy_would_read_differently_are_refused_not_misread():
    for key in ((Ellipsis, 0), (None, 0), ([2, 1], slice(1, 3), [0, 3])):
        with pytest.raises(TypeError):
            LazyRows(SOURCE, ROWS)[key]


def test_concatenated_and_transformed_selections_read_the_same_rows():
    lazy = LazyRows.concatenate(LazyRows(SOURCE, [1, 2]), SOURCE[:2]).with_transform(lambda b: -b)
    np.testing.assert_array_equal(lazy[:], -np.concatenate([SOURCE[[1, 2]], SOURCE[:2]]))
    chunks = list(read_in_chunks(lazy, rows_per_chunk=3))
    assert [len(chunk) for chunk in chunks] == [3, 1]
    assert chunks[0].dtype == SOURCE.dtype


def test_asarray_copies_and_refuses_a_no_copy_request():
    lazy = LazyRows(SOURCE, ROWS)
    np.testing.assert_array_equal(np.asarray(lazy), SOURCE[ROWS])
    with pytest.raises(ValueError):
        lazy.__array__(copy=False)
