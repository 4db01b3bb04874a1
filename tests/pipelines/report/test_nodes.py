"""The report's choice of figures, without a Kedro run."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from cxr_gan.pipelines.report.nodes import _final_grid


def test_the_report_shows_the_grid_of_the_saved_generators_epoch():
    grids = {
        "images": [np.full((8, 8), value, np.uint8) for value in (10, 20, 30)],
        "manifest": pd.DataFrame({"epoch": [50, 100, 150]}),
    }

    def shown(history):
        png = np.frombuffer(_final_grid(grids, history), np.uint8)
        return int(cv2.imdecode(png, cv2.IMREAD_GRAYSCALE)[0, 0])

    assert shown({"generator_epoch": 100}) == 20  # keep_generator kept epoch 100
    assert shown({"generator_epoch": 150}) == 30
    assert shown({}) == 30  # histories from before generator_epoch: the last grid
