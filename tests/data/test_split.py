import numpy as np
import pytest

from cxr_gan.data.split import connected_groups, links_from_keys, stratified_group_split


def test_split_is_stratified_and_seeded():
    labels = np.array([0] * 50 + [1] * 30)
    groups = np.arange(80)
    is_test = stratified_group_split(labels, groups, 0.2, seed=3)
    assert is_test[labels == 0].sum() == 10 and is_test[labels == 1].sum() == 6
    np.testing.assert_array_equal(is_test, stratified_group_split(labels, groups, 0.2, seed=3))
    assert not np.array_equal(is_test, stratified_group_split(labels, groups, 0.2, seed=4))


def test_groups_never_straddle_the_split():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    groups = rng.integers(0, 60, 200)  # about 3 images per patient
    is_test = stratified_group_split(labels, groups, 0.25, seed=1)
    for group in np.unique(groups):
        assert len(set(is_test[groups == group])) == 1
    assert 0.15 < is_test.mean() < 0.3


def test_links_and_connected_groups():
    links = links_from_keys(["p1", "", "p1", "p2", "", "p2"]) + [(1, 3)]
    groups = connected_groups(6, links)
    assert groups[0] == groups[2]
    assert groups[1] == groups[3] == groups[5]
    assert len(set(groups)) == 3  # {0,2}, {1,3,5}, {4}


def test_bad_fraction_is_refused():
    with pytest.raises(ValueError, match="between 0 and 1"):
        stratified_group_split(np.zeros(4), np.arange(4), 1.0, 0)
