"""Pretrained weights: file names, download addresses, the Keras cache, and the one download.

Both downloads, ResNet50's for the classifier and InceptionV3's for the GAN-quality features, go
through `download_weights` into the folder `keras_cache_dir` names, and fail with an error that
says where to put the file by hand. No TensorFlow at import: the run's preflight
(cxr_gan.preflight) checks before any node runs whether the weights a parameter asks for are
present or downloadable; Keras is imported only when a file is fetched.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

RESNET50_WEIGHTS_FILE = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
RESNET50_WEIGHTS_MD5 = "4d473c1dd8becc155b73f8504c6f6626"
# Where keras.applications.ResNet50 downloads from; read at call time, so tests can point it
# (and INCEPTION_V3_NOTOP_URL) at a closed local port
RESNET50_WEIGHTS_ORIGIN = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
INCEPTION_V3_NOTOP_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
INCEPTION_V3_NOTOP_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
    + INCEPTION_V3_NOTOP_FILE
)
INCEPTION_V3_NOTOP_MD5 = "bcbd6486424b2319ff4ef7d526e38f63"  # as keras.applications checks it
FALLBACK_CACHE = Path("/tmp/.keras")  # where keras.utils.get_file goes when home is read-only


class WeightsUnavailableError(RuntimeError):
    """The backbone's pretrained weights cannot be found or loaded; the message says what to do."""


class FeatureExtractorUnavailable(RuntimeError):
    """The feature extractor cannot be built here (e.g. ImageNet weights missing offline)."""


def _keras_home() -> Path:
    return Path(os.environ.get("KERAS_HOME") or Path("~/.keras").expanduser())


def keras_cache_dir() -> Path:
    """The folder Keras caches downloads in: $KERAS_HOME, else ~/.keras, or /tmp/.keras when that
    cannot be written (as keras.utils.get_file falls back). Read at call time, so the lookup and
    the error messages follow the environment of this call; creates its models/ folder."""
    base = _keras_home()
    with contextlib.suppress(OSError):
        (base / "models").mkdir(parents=True, exist_ok=True)
    if not os.access(base, os.W_OK):
        base = FALLBACK_CACHE
    return base


def cached_weights(file_name: str) -> Path | None:
    """The file in the Keras cache ($KERAS_HOME/models, else ~/.keras/models, or /tmp/.keras/models
    where Keras falls back when the home cache is not writable), or None when it is in none."""
    for base in (_keras_home(), FALLBACK_CACHE):
        path = base / "models" / file_name
        if path.is_file() and path.stat().st_size > 0:
            return path
    return None


def download_weights(file_name: str, url: str, md5: str) -> Path:
    """The file from the Keras cache, downloading it there (checked against `md5`) when absent.

    Raises whatever the download raised (keras.utils.get_file raises a bare Exception for
    network failures); the callers turn it into an error that says what to do."""
    import keras  # TensorFlow: only when weights are fetched

    return Path(
        keras.utils.get_file(
            file_name, url, cache_subdir="models", file_hash=md5, cache_dir=str(keras_cache_dir())
        )
    )


def resolve_resnet50_weights(weights: str | None) -> str | None:
    """A local file path to load (downloading ImageNet weights into the Keras cache), or None.

    Raises WeightsUnavailableError, naming the file Keras expects and the alternatives, when the
    ImageNet file is neither cached nor downloadable (offline machines) or a local file is missing.
    """
    if weights is None:
        return None
    if weights != "imagenet":
        if not Path(weights).is_file():
            raise WeightsUnavailableError(
                f"classifier weights file {weights} does not exist; give the path of a ResNet50 "
                f"notop weights file (.h5 or .weights.h5), weights: imagenet, or weights: null"
            )
        return str(weights)
    target = keras_cache_dir() / "models" / RESNET50_WEIGHTS_FILE
    try:
        url = RESNET50_WEIGHTS_ORIGIN + RESNET50_WEIGHTS_FILE
        return str(download_weights(RESNET50_WEIGHTS_FILE, url, RESNET50_WEIGHTS_MD5))
    except Exception as error:
        raise WeightsUnavailableError(
            f"ImageNet weights for ResNet50 are not in the Keras cache and could not be "
            f"downloaded ({error}). Either put the file {RESNET50_WEIGHTS_FILE} at {target} "
            f"(the Keras cache: ~/.keras/models/, or $KERAS_HOME/models/ when KERAS_HOME is set; "
            f"download it from {RESNET50_WEIGHTS_ORIGIN}{RESNET50_WEIGHTS_FILE} on a machine with "
            f"internet), or set the classifier parameter weights: /path/to/local/"
            f"{RESNET50_WEIGHTS_FILE} to load a local copy, or weights: null to train from random "
            f"initialisation (much weaker than ImageNet transfer)."
        ) from error


def inception_weights_path(weights_path: str | os.PathLike | None = None) -> Path:
    """The InceptionV3 no-top ImageNet weights: the file given, else the Keras cache (downloading
    once if online). Offline without the file, FeatureExtractorUnavailable says what to do."""
    if weights_path is not None:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise FeatureExtractorUnavailable(
                f"InceptionV3 weights file {path} does not exist; download "
                f"{INCEPTION_V3_NOTOP_URL} there, or set feature_extractor: random_cnn to work "
                "offline (numbers then are not comparable to published FID/KID)"
            )
        return path
    expected = keras_cache_dir() / "models" / INCEPTION_V3_NOTOP_FILE
    try:
        return download_weights(
            INCEPTION_V3_NOTOP_FILE, INCEPTION_V3_NOTOP_URL, INCEPTION_V3_NOTOP_MD5
        )
    except Exception as error:  # urllib, socket and Keras all raise their own kinds
        raise FeatureExtractorUnavailable(
            f"feature_extractor inception_v3 needs the ImageNet weights, and downloading them "
            f"from {INCEPTION_V3_NOTOP_URL} failed ({type(error).__name__}: {error}). Offline, "
            f"copy that file to {expected} (the Keras cache: $KERAS_HOME/models or "
            f"~/.keras/models), or pass its path as the weights file, or set "
            f"feature_extractor: random_cnn (offline; numbers then are not comparable to "
            f"published FID/KID)"
        ) from error
