"""k-NN precision, recall, density and coverage (Naeem et al. 2020) on hand-checkable features."""

from __future__ import annotations

import numpy as np
import pytest

from cxr_gan.metrics.coverage import knn_radii, knn_scores


def test_radii_are_the_distance_to_the_kth_other_point():
    line = np.arange(8, dtype=float)[:, None]  # points 0..7 on a line
    np.testing.assert_allclose(knn_radii(line, k=2), [2, 1, 1, 1, 1, 1, 1, 2])


def test_scores_match_the_definitions_on_a_line():
    real = np.arange(8, dtype=float)[:, None]  # radii (k=2): 2 1 1 1 1 1 1 2
    fake = np.array([[0.5], [0.6], [0.7], [20.0]])
    scores = knn_scores(real, fake, k=2)
    # fakes 0.5, 0.6, 0.7 each lie (strictly) inside the balls of real 0 and 1; 20 in none
    assert scores.precision == pytest.approx(3 / 4)
    assert scores.density == pytest.approx(6 / (2 * 4))
    assert scores.coverage == pytest.approx(2 / 8)
    # fake radii (k=2): 0.2, 0.1, 0.2, 19.4; fake 20's ball holds real 1..7, no ball holds 0
    assert scores.recall == pytest.approx(7 / 8)


def test_same_distribution_is_covered_and_a_collapsed_or_half_set_is_not():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(300, 8))
    same = knn_scores(real, rng.normal(size=(300, 8)))
    assert same.coverage > 0.9 and 0.7 < same.density < 1.3 and same.precision > 0.9

    one_point = np.repeat(rng.normal(size=(1, 8)), 300, axis=0) + 1e-3 * rng.normal(size=(300, 8))
    collapsed = knn_scores(real, one_point)
    assert collapsed.coverage < 0.05 and collapsed.recall < 0.05

    # two modes in real; the fake set has only the first
    modes = np.concatenate([rng.normal(size=(150, 8)), rng.normal(8.0, 1.0, size=(150, 8))])
    half = knn_scores(modes, rng.normal(size=(300, 8)))
    assert 0.4 < half.coverage < 0.55
    assert half.precision > 0.9  # every fake is realistic: only coverage sees the gap


def test_too_few_rows_or_mismatched_sizes_are_refused():
    with pytest.raises(ValueError, match="more than k=5"):
        knn_scores(np.zeros((5, 2)), np.zeros((10, 2)))
    with pytest.raises(ValueError, match="feature sizes differ"):
        knn_scores(np.zeros((10, 2)), np.zeros((10, 3)))
