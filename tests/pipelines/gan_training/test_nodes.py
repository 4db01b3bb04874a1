"""gan_training nodes on in-memory data: the grid figure carries the diversity lines."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cxr_gan.pipelines.gan_training.nodes import plot_grids_over_epochs
from cxr_gan.pipelines.gan_training.params import GanTrainingParams
from cxr_gan.reporting.figure_text import overflowing


def test_grid_titles_show_each_class_diversity_beside_the_real_images():
    grids = {
        "images": [np.zeros((34, 98), np.uint8), np.full((34, 98), 128, np.uint8)],
        "manifest": pd.DataFrame({"filename": ["a.png", "b.png"], "epoch": [1, 50]}),
    }
    history = {
        "epochs": [
            {"epoch": 1, "ms_ssim_class_0": 0.91, "ms_ssim_class_1": 0.88},
            {"epoch": 50, "ms_ssim_class_0": 0.47, "ms_ssim_class_1": 0.52},
        ],
        "real_ms_ssim_class": {"0": 0.46, "1": 0.45},
    }
    figure = plot_grids_over_epochs(grids, history, GanTrainingParams())
    assert overflowing(figure) == []  # a narrow figure wraps its titles rather than clip them
    titles = [" ".join(axis.get_title(loc="left").split()) for axis in figure.axes]
    assert titles == [
        "epoch 1 | diversity label 0 0.91 (real 0.46), label 1 0.88 (real 0.45)",
        "epoch 50 | diversity label 0 0.47 (real 0.46), label 1 0.52 (real 0.45)",
    ]
