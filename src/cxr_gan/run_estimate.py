"""How long a run will take, said at its start: from the node timings of earlier runs in the same
environment on this machine (stored), else from a simple model of the work each node does.

A node's stored time is used only when the parameters it reads and the number of raw images are
the ones it was measured with; any other node is estimated by `model_seconds`, a cost model of a
quiet 2-core x86 CPU without a GPU (the machine of docs/benchmarks.md), so on a GPU a first run's
estimate is pessimistic and the second run's (stored) is the one to trust. The timings are kept in
`<data_root>/node_timings.json` (data/node_timings.json, data/demo/ for `--env demo`), one entry
per Kedro env and host name, each node's latest time: the wall time from the end of the node
before it to its own end, so loading its inputs and saving the previous node's outputs count too,
and the node times add up to the run's.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cxr_gan.io_utils import atomic_path

TIMINGS_FILE = "node_timings.json"
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".dcm", ".dicom", ".bmp", ".tif", ".tiff"})
DEFAULT_IMAGES = 200  # when the raw folder cannot be counted (not there yet, not a folder)
MAX_COUNTED = 1_000_000

# The cost model's constants, seconds on a quiet 2-core x86 CPU (docs/benchmarks.md: the demo's
# per-node split; bench_gan.py node-speed at 64 px; the default GAN's 24 minutes for 750 epochs at
# 128 px; bench_feature_cache.py). Any node not named costs OTHER_NODE.
OTHER_NODE = 0.3
FIRST_TENSORFLOW_NODE = 6.0  # importing TensorFlow and building the first graph
INGEST_PER_IMAGE = 0.01
DCGAN_STEP = (0.07, 0.17)  # seconds per step: a + b * (gan_image_size / 128) ** 2
DENSE_GAN_STEP_446 = 3.25  # the study's dense GAN at 446 px, per step; scales with pixels
GAN_SAMPLE_SECONDS = 0.3  # a sample grid and the diversity line, every sample_every epochs
QUALITY_PER_SET = 8.0  # assess_synthetic_quality, per sample set of n_images
SMALL_CNN_EPOCH = (0.1, 0.004)  # seconds per epoch: a + b * training images
HEAD_EPOCH = (0.05, 0.0006)  # a frozen backbone's head on cached features
RESNET_IMAGE_224 = 0.13  # ResNet50 forward and backward per image at 224 px (no cache)
RESNET_FEATURES_224 = 0.087  # ResNet50 forward per image at 224 px (the feature cache)
SEED_OVERHEAD = 1.5  # building, scoring and bootstrapping one classifier


@dataclass(frozen=True)
class NodeEstimate:
    """One node's estimated wall seconds and where the number came from ("stored" or "model")."""

    seconds: float
    source: str


def parameters_fingerprint(
    inputs: Iterable[str], parameters: Mapping[str, Any], images: int
) -> str:
    """A short hash of what a node's time depends on: the parameters among `inputs`
    ("params:gan_training", "params:classification.seeds", "parameters") and the raw image count.

    Returns 12 hex characters; equal for equal values (key order does not matter)."""
    values: dict[str, Any] = {"images": images}
    for name in sorted(inputs):
        if name == "parameters":
            values[name] = parameters
        elif name.startswith("params:"):
            value: Any = parameters
            for key in name.removeprefix("params:").split("."):
                value = value.get(key) if isinstance(value, Mapping) else None
            values[name] = value
    text = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def count_raw_images(
    raw_config: Mapping[str, Any] | None, project_path: str | Path | None = None
) -> int:
    """How many images the raw_xrays catalog entry holds: count_per_class x 2 for phantoms, the
    image files under `path` for a folder (stops at MAX_COUNTED); DEFAULT_IMAGES when neither
    can be told (no entry, no folder yet). A relative path is taken from `project_path` (the
    working folder when None): `kedro run` may start in a subfolder of the project."""
    if not raw_config:
        return DEFAULT_IMAGES
    kind = str(raw_config.get("type", "")).rsplit(".", 1)[-1]
    if kind == "PhantomXrayDataset":
        return 2 * int(raw_config.get("count_per_class", 60))
    folder = raw_config.get("path") or raw_config.get("filepath")
    if folder and project_path is not None and not Path(str(folder)).is_absolute():
        folder = Path(project_path) / str(folder)
    if not folder or not Path(str(folder)).is_dir():
        return DEFAULT_IMAGES
    count = 0
    for _, _, files in os.walk(str(folder)):
        count += sum(Path(name).suffix.lower() in IMAGE_SUFFIXES for name in files)
        if count >= MAX_COUNTED:
            break
    return count or DEFAULT_IMAGES


def _settings(parameters: Mapping[str, Any]) -> tuple[Any, Any, Any, Any]:
    """The run's (data_processing, gan_training, synthesis, classification) settings objects,
    each section validated by its pipeline's params model (a missing section: its defaults), so
    the cost model reads the same values and defaults the nodes do. The run's parameter check
    has passed before any estimate is made."""
    from cxr_gan.pipelines.classification.params import ClassificationParams
    from cxr_gan.pipelines.data_processing.params import DataProcessingParams
    from cxr_gan.pipelines.gan_training.params import GanTrainingParams
    from cxr_gan.pipelines.synthesis.params import SynthesisParams

    def section(name: str) -> Mapping[str, Any]:
        value = parameters.get(name)
        return value if isinstance(value, Mapping) else {}

    return (
        DataProcessingParams.model_validate(section("data_processing")),
        GanTrainingParams.model_validate(section("gan_training")),
        SynthesisParams.model_validate(section("synthesis")),
        ClassificationParams.model_validate(section("classification")),
    )


def _experiment_images(experiment: str, images: int, settings: tuple[Any, ...]) -> float:
    """Training images of one classification experiment (real ones less the test and validation
    splits, plus the synthetic ones it adds)."""
    split, _, synthesis, classification = settings
    real = images * (1 - split.test_fraction) * (1 - classification.validation_fraction)
    balanced = 2 * synthesis.per_class_images
    if experiment == "synthetic_only":
        return balanced
    if experiment == "real_plus_synthetic":
        return real + synthesis.n_images
    if experiment == "synthetic_pretrain":
        return real + balanced
    return real


def _classifier_seconds(experiment: str, images: int, settings: tuple[Any, ...]) -> float:
    classification = settings[3]
    n_train = _experiment_images(experiment, images, settings)
    if classification.backbone == "small_cnn":
        per_epoch = SMALL_CNN_EPOCH[0] + SMALL_CNN_EPOCH[1] * n_train
    elif classification.uses_feature_cache:
        per_epoch = HEAD_EPOCH[0] + HEAD_EPOCH[1] * n_train
    else:
        per_epoch = RESNET_IMAGE_224 * (classification.input_size / 224) ** 2 * n_train
    return len(classification.seeds) * (classification.epochs * per_epoch + SEED_OVERHEAD)


def _gan_seconds(images: int, settings: tuple[Any, ...]) -> float:
    split, gan = settings[0], settings[1]
    n_train = images * (1 - split.test_fraction) * (1 - gan.evaluation_fraction)
    steps = math.ceil(max(n_train, 1) / gan.batch_size)
    size = float(gan.gan_image_size)
    if gan.architecture == "dense":
        step = DENSE_GAN_STEP_446 * (size / 446) ** 2
    else:
        step = DCGAN_STEP[0] + DCGAN_STEP[1] * (size / 128) ** 2
    samples = gan.epochs / max(gan.sample_every, 1)
    return gan.epochs * steps * step + samples * GAN_SAMPLE_SECONDS + FIRST_TENSORFLOW_NODE


def model_seconds(node_name: str, parameters: Mapping[str, Any], images: int) -> float:
    """A node's wall seconds by the cost model (module docstring), from the run's parameters
    (the whole merged dict: {"gan_training": {...}, "classification": {...}, ...}) and the raw
    image count. node_name may carry a namespace ("real.train_and_evaluate"); a GAN variant's
    own parameters are not looked up (the base recipe's cost is used). Never below OTHER_NODE.
    Raises pydantic.ValidationError for parameters the run's parameter check refuses."""
    namespace, _, base = node_name.rpartition(".")
    settings = _settings(parameters)
    classification = settings[3]
    if base == "ingest_raw_xrays":
        seconds = 0.5 + INGEST_PER_IMAGE * images
    elif base == "train_conditional_gan":
        seconds = _gan_seconds(images, settings)
    elif base == "assess_synthetic_quality":
        seconds = QUALITY_PER_SET * settings[2].quality_sample_sets
    elif base == "compute_backbone_features":
        seconds = OTHER_NODE
        if classification.uses_feature_cache:
            real = _experiment_images("real", images, settings)
            synthetic = _experiment_images("synthetic_only", images, settings)
            distinct = (real + synthetic) * (1 + classification.augmentation_draws) + images * 0.3
            seconds = distinct * RESNET_FEATURES_224 * (classification.input_size / 224) ** 2
    elif base == "train_and_evaluate":
        seconds = _classifier_seconds(namespace.split(".")[-1], images, settings)
    else:
        seconds = OTHER_NODE
    return max(seconds, OTHER_NODE)


def timings_key(env: str | None) -> str:
    """The stored timings' key: the Kedro env (None: local, Kedro's default) and this host."""
    return f"{env or 'local'}@{socket.gethostname()}"


def load_timings(path: Path) -> dict[str, Any]:
    """The stored timings file as a dict ({} when it is missing or unreadable)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_timings(
    path: Path, key: str, measured: Mapping[str, tuple[float, str]], stored: dict[str, Any]
) -> None:
    """Write `measured` ({node: (wall seconds, parameters fingerprint)}) over the nodes of
    stored[key], keeping every other node and key; written atomically."""
    entry = dict(stored.get(key) or {})
    for node, (seconds, fingerprint) in measured.items():
        entry[node] = {"seconds": round(seconds, 3), "fingerprint": fingerprint}
    data = {**stored, key: entry}
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def estimate_nodes(
    nodes: Mapping[str, str],
    stored: Mapping[str, Any],
    parameters: Mapping[str, Any],
    images: int,
) -> dict[str, NodeEstimate]:
    """Each node's estimate: its stored seconds when its fingerprint matches, else the model's.

    nodes: {node name: parameters_fingerprint} of the run; stored: the timings under this run's
    key ({node: {"seconds", "fingerprint"}}). Returns {node: NodeEstimate} in the nodes' order."""
    result = {}
    for name, fingerprint in nodes.items():
        entry = stored.get(name)
        if isinstance(entry, Mapping) and entry.get("fingerprint") == fingerprint:
            result[name] = NodeEstimate(float(entry["seconds"]), "stored")
        else:
            result[name] = NodeEstimate(model_seconds(name, parameters, images), "model")
    return result
