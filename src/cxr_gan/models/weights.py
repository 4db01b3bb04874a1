"""Where the pretrained weights come from: file names, download addresses, the Keras cache.

No TensorFlow here: the run's preflight (cxr_gan.preflight) checks before any node runs whether
the weights a parameter asks for are present or downloadable, and the models' modules download
them (cxr_gan.models.classifier, cxr_gan.metrics.gan_quality).
"""

from __future__ import annotations

import os
from pathlib import Path

RESNET50_WEIGHTS_FILE = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
RESNET50_WEIGHTS_MD5 = "4d473c1dd8becc155b73f8504c6f6626"
# Where keras.applications.ResNet50 downloads from
RESNET50_WEIGHTS_ORIGIN = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
INCEPTION_V3_NOTOP_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
INCEPTION_V3_NOTOP_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
    + INCEPTION_V3_NOTOP_FILE
)
INCEPTION_V3_NOTOP_MD5 = "bcbd6486424b2319ff4ef7d526e38f63"  # as keras.applications checks it


def cached_weights(file_name: str) -> Path | None:
    """The file in the Keras cache ($KERAS_HOME/models, else ~/.keras/models, or /tmp/.keras/models
    where Keras falls back when the home cache is not writable), or None when it is in none."""
    home = os.environ.get("KERAS_HOME")
    bases = [Path(home) if home else Path("~/.keras").expanduser(), Path("/tmp/.keras")]
    for base in bases:
        path = base / "models" / file_name
        if path.is_file() and path.stat().st_size > 0:
            return path
    return None
