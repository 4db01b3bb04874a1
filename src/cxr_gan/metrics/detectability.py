"""Can a simple classifier tell synthetic images from real ones? A two-sample test by AUC.

The classifier two-sample test (Lopez-Paz & Oquab 2017): a cross-validated logistic regression on
image features learns "real" vs "synthetic"; its out-of-fold ROC AUC is 0.5 when the two sets are
indistinguishable in that feature space and 1.0 when every synthetic image is told apart. Unlike
KID it needs no kernel choice and reads directly as "how detectable are the fakes".
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from cxr_gan.metrics.delong import delong_auc


def real_vs_synthetic_scores(
    real_features: np.ndarray,
    synthetic_features: np.ndarray,
    folds: int = 5,
    seed: int = 0,
    regularization: float = 1.0,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Labels (int (N + M,), 1 = synthetic) and out-of-fold decision scores (float (N + M,)) of
    a logistic regression telling synthetic from real.

    real (N, d) and synthetic (M, d) float features. Features are standardised inside each
    training fold (StandardScaler), folds are stratified and shuffled with `seed`. `regularization`
    is sklearn's C (inverse L2 strength): with d ~ 256 features and ~50 images per side, the
    default keeps the fit from memorising. None when either side has fewer than 2 rows (no fold
    could hold both)."""
    real = np.asarray(real_features, np.float64)
    synthetic = np.asarray(synthetic_features, np.float64)
    if min(len(real), len(synthetic)) < 2:
        return None
    features = np.concatenate([real, synthetic])
    labels = np.concatenate([np.zeros(len(real), int), np.ones(len(synthetic), int)])
    splits = StratifiedKFold(min(folds, len(real), len(synthetic)), shuffle=True, random_state=seed)
    model = make_pipeline(
        StandardScaler(), LogisticRegression(C=regularization, max_iter=2000, random_state=seed)
    )
    scores = cross_val_predict(model, features, labels, cv=splits, method="decision_function")
    return labels, scores


def real_vs_synthetic_auc(
    real_features: np.ndarray,
    synthetic_features: np.ndarray,
    folds: int = 5,
    seed: int = 0,
    regularization: float = 1.0,
) -> float | None:
    """Out-of-fold ROC AUC (computed once over all out-of-fold scores) of
    real_vs_synthetic_scores; None when either side has fewer than 2 rows."""
    scored = real_vs_synthetic_scores(
        real_features, synthetic_features, folds, seed, regularization
    )
    return None if scored is None else float(roc_auc_score(*scored))


def real_vs_synthetic_auc_se(
    real_features: np.ndarray,
    synthetic_features: np.ndarray,
    folds: int = 5,
    seed: int = 0,
    regularization: float = 1.0,
) -> tuple[float, float] | None:
    """(AUC, DeLong standard error) of the out-of-fold scores of real_vs_synthetic_scores.

    The SE treats the out-of-fold scores as those of one fixed classifier (DeLong et al. 1988),
    which ignores the fold-to-fold variation of the fit: an interval from it is a little narrow
    for a cross-validated AUC. None when either side has fewer than 2 rows."""
    scored = real_vs_synthetic_scores(
        real_features, synthetic_features, folds, seed, regularization
    )
    return None if scored is None else delong_auc(*scored)
