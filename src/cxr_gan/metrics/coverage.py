"""Do the synthetic images cover the real ones? k-NN fidelity and diversity (Naeem et al. 2020).

KID and FID fold realism and variety into one number, so one realistic image repeated can score
well. The k-nearest-neighbour metrics of Naeem, Oh, Uh, Choi and Yoo, "Reliable Fidelity and
Diversity Metrics for Generative Models" (ICML 2020), separate them on a feature space:

- each real feature r_i gets a ball of radius NND_k(r_i), the distance to its k-th nearest other
  real feature (k = 5 as in the paper);
- density = 1/(k M) sum_j sum_i 1[f_j in ball(r_i)]: how many real balls a synthetic sample falls
  into, ~1 for the same distribution, above 1 when samples crowd where real data is dense;
- coverage = 1/N sum_i 1[some f_j in ball(r_i)]: the fraction of real samples with a synthetic one
  nearby. A collapsed set covers few balls, a set missing a mode leaves its balls empty;
- precision and recall (Kynkaenniemi et al. 2019) come for free from the same distances.

Features are float arrays of shape (n, d); real N and synthetic M may differ. With few real
samples the balls are wide, so compare coverage only with a reference at the same N, M and k
(e.g. an equal number of other real images; see gan_quality).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.spatial.distance import cdist

NAEEM_K = 5


@dataclass(frozen=True)
class KnnScores:
    """precision, recall and coverage in [0, 1]; density >= 0 (about 1 for matching sets)."""

    precision: float
    recall: float
    density: float
    coverage: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _features(values: np.ndarray, what: str, k: int) -> np.ndarray:
    values = np.asarray(values, np.float64)
    if values.ndim != 2 or len(values) <= k:
        raise ValueError(
            f"{what}: expected more than k={k} feature rows (n, d), got {values.shape}"
        )
    return values


def knn_radii(features: np.ndarray, k: int = NAEEM_K) -> np.ndarray:
    """Distance from each row to its k-th nearest OTHER row: float64 (n,). Needs n > k."""
    features = _features(features, "features", k)
    distances = cdist(features, features)
    # column 0 of the sorted row is the row itself (distance 0); duplicates give 0 radii
    return np.sort(distances, axis=1)[:, k]


def knn_scores(real_features: np.ndarray, fake_features: np.ndarray, k: int = NAEEM_K) -> KnnScores:
    """Precision, recall, density and coverage of fake (M, d) against real (N, d) features.

    Balls are open (distance < radius), as in the authors' reference code (prdc). Recall needs
    M > k (radii within the fake set); with duplicated fakes those radii shrink to 0, so a
    collapsed set's recall is low as it should be."""
    real = _features(real_features, "real_features", k)
    fake = _features(fake_features, "fake_features", k)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sizes differ: real {real.shape[1]}, fake {fake.shape[1]}")
    real_radii, fake_radii = knn_radii(real, k), knn_radii(fake, k)
    real_to_fake = cdist(real, fake)  # (N, M)
    inside_real = real_to_fake < real_radii[:, None]  # fake j inside the ball of real i
    inside_fake = real_to_fake < fake_radii[None, :]  # real i inside the ball of fake j
    return KnnScores(
        precision=float(inside_real.any(axis=0).mean()),
        recall=float(inside_fake.any(axis=1).mean()),
        density=float(inside_real.sum() / (k * fake.shape[0])),
        coverage=float(inside_real.any(axis=1).mean()),
    )
