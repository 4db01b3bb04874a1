"""Which tf.distribute strategy trains the models: one device, several local devices, or several
machines (parameter `distribution.strategy` under gan_training and classification).

- default: tf.distribute.get_strategy(), the one-device strategy every TensorFlow program has;
  training is exactly what it was before strategies existed (seeded runs stay bit-identical).
- mirrored: MirroredStrategy over every local GPU (or, with none, the local CPU devices).
- multi_worker: MultiWorkerMirroredStrategy over the machines listed in the TF_CONFIG
  environment variable, one process per machine (see docs/distributed.md).

The configured batch size is the GLOBAL batch: Keras' fit splits every batch across the replicas.
Strategies are created once per process and reused, because TensorFlow allows only one
collective (multi-worker) configuration per process.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import tensorflow as tf

from cxr_gan.models.distribution_params import STRATEGIES, DistributionConfigError

_created: dict[str, tf.distribute.Strategy] = {}


def _check_tf_config(parameter: str) -> dict:
    """TF_CONFIG parsed and checked: a cluster with workers and this process's task in it."""
    raw = os.environ.get("TF_CONFIG")
    hint = (
        f"{parameter}: multi_worker needs the TF_CONFIG environment variable on every machine, "
        'e.g. TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
        '"task": {"type": "worker", "index": 0}}\' (see docs/distributed.md)'
    )
    if not raw:
        raise DistributionConfigError(f"TF_CONFIG is not set. {hint}")
    try:
        tf_config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise DistributionConfigError(f"TF_CONFIG is not valid JSON ({error}). {hint}") from error
    if not isinstance(tf_config, dict):
        raise DistributionConfigError(f"TF_CONFIG must be a JSON object. {hint}")
    cluster, task = tf_config.get("cluster"), tf_config.get("task")
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise DistributionConfigError(f"TF_CONFIG needs both 'cluster' and 'task'. {hint}")
    workers = cluster.get("worker")
    if not isinstance(workers, list) or not workers:
        raise DistributionConfigError(f"TF_CONFIG's cluster lists no 'worker' addresses. {hint}")
    kind, index = task.get("type"), task.get("index")
    members = cluster.get(kind)
    if not isinstance(members, list) or not isinstance(index, int) or not 0 <= index < len(members):
        raise DistributionConfigError(
            f"TF_CONFIG's task {task} is not in its cluster {cluster}. {hint}"
        )
    return tf_config


def make_strategy(
    name: str = "default", parameter: str = "distribution.strategy"
) -> tf.distribute.Strategy:
    """The strategy called `name`, created once per process.

    `parameter` is the parameter's full name, quoted in errors (e.g.
    gan_training.distribution.strategy).
    """
    if name not in STRATEGIES:
        raise DistributionConfigError(
            f"{parameter}: {name!r} is not a strategy; choose one of {list(STRATEGIES)}"
        )
    if name == "default":
        return tf.distribute.get_strategy()
    if name in _created:
        return _created[name]
    if name == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
    else:
        _check_tf_config(parameter)
        try:
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
        except (RuntimeError, ValueError) as error:
            raise DistributionConfigError(
                f"{parameter}: multi_worker could not start from TF_CONFIG "
                f"{os.environ.get('TF_CONFIG')} ({error}). Create it before any other TensorFlow "
                "work in the process, once per process (see docs/distributed.md)"
            ) from error
    _created[name] = strategy
    return strategy


def resolve_strategy(
    strategy: tf.distribute.Strategy | str | None, parameter: str = "distribution.strategy"
) -> tf.distribute.Strategy:
    """A strategy object from a strategy, a strategy name or None (the default strategy)."""
    if strategy is None:
        return tf.distribute.get_strategy()
    if isinstance(strategy, str):
        return make_strategy(strategy, parameter)
    return strategy


def is_chief(strategy: tf.distribute.Strategy | None = None) -> bool:
    """Whether this process writes the real outputs: always, except on a multi-worker cluster's
    non-chief workers (the chief is worker 0, or the task of type 'chief' when there is one)."""
    strategy = strategy or tf.distribute.get_strategy()
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    kind, index = resolver.task_type, resolver.task_id
    if kind is None:  # a cluster of one
        return True
    if kind == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return kind == "worker" and index == 0 and not has_chief


@contextlib.contextmanager
def chief_path(path: Path | str, strategy: tf.distribute.Strategy | None = None) -> Iterator[Path]:
    """`path` on the chief; on other workers a throwaway path in a temp folder, deleted on exit.

    Every worker must still do the writing (Keras' multi-worker guide): reading some distributed
    variables runs collective ops that all workers have to join, or the chief would wait forever.
    """
    path = Path(path)
    if is_chief(strategy):
        yield path
        return
    scratch = Path(tempfile.mkdtemp(prefix="cxr_gan_worker_"))
    try:
        yield scratch / path.name
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
