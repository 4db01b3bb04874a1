"""Where a training node runs: the devices TensorFlow sees, the strategy, the precision.

The start-up filter (cxr_gan.tf_startup) hides TensorFlow's own "GPU will not be used" line, so
every training node says instead, in one log line, which device(s) it trains on, under which
strategy and with how many replicas; and it warns when something asks for a GPU (strategy
`mirrored`, or CUDA_VISIBLE_DEVICES naming devices) while TensorFlow sees none, the sign of a
broken CUDA setup (see docs/scaling.md, "Which device trains").

Mixed precision (`distribution.mixed_precision: true` under gan_training or classification) sets
Keras' `mixed_float16` policy for that training node only and restores the previous policy when
the node ends or fails. It is refused without a GPU: on a CPU float16 is slower than float32,
not faster. Models built under the policy keep float32 outputs (their final layers are float32,
as the Keras mixed-precision guide advises), so losses are computed in float32; the models that
leave training are float32 copies (`float32_copy`), so saved models do not depend on the
precision they were trained in.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping

import keras
import tensorflow as tf

from cxr_gan.models.distribution import make_strategy
from cxr_gan.models.distribution_params import DistributionConfigError, DistributionParams

logger = logging.getLogger(__name__)
MIXED_POLICY = "mixed_float16"
CHECK_COMMAND = 'python -c "import tensorflow as tf; print(tf.config.list_physical_devices())"'


def visible_devices() -> list[str]:
    """The physical devices TensorFlow sees, e.g. ["CPU:0", "GPU:0 (NVIDIA H200)"].

    Lists physical devices only, which does not initialise TensorFlow's runtime (a
    multi-worker strategy can still be created afterwards)."""
    names = []
    for device in tf.config.list_physical_devices():
        name = device.name.removeprefix("/physical_device:")
        if device.device_type == "GPU":
            details = tf.config.experimental.get_device_details(device)
            if details.get("device_name"):
                name += f" ({details['device_name']})"
        names.append(name)
    return names


def gpu_request(strategy: str, parameter: str, environ: Mapping[str, str] | None = None) -> str:
    """What asks for a GPU ("" if nothing does): strategy `mirrored`, which exists to use
    several GPUs, or CUDA_VISIBLE_DEVICES naming devices ("" or a negative index such as "-1"
    hides every GPU on purpose, which is no request)."""
    environ = os.environ if environ is None else environ
    reasons = []
    if strategy == "mirrored":
        reasons.append(f"{parameter}.strategy is mirrored")
    cuda = environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    if cuda and not cuda.startswith("-"):
        reasons.append(f"CUDA_VISIBLE_DEVICES={cuda}")
    return " and ".join(reasons)


def mixed_precision_refusal(parameter: str) -> str:
    """The one-line message refusing mixed precision on a machine without a GPU."""
    return (
        f"{parameter}.mixed_precision: true needs a GPU and TensorFlow sees none (on a CPU "
        "float16 is slower, not faster): set it to false, or install the GPU setup "
        f"(uv sync --extra gpu) and check that `{CHECK_COMMAND}` lists a GPU "
        "(docs/scaling.md, 'Which device trains')"
    )


def mixed_precision_problem(distribution: DistributionParams, parameter: str) -> str | None:
    """The refusal message when `distribution` asks for mixed precision and TensorFlow sees no
    GPU, else None. A check that can run before any node (a run's preflight) as well as at the
    start of the training node (start_training)."""
    if distribution.mixed_precision and not tf.config.list_physical_devices("GPU"):
        return mixed_precision_refusal(parameter)
    return None


def strategy_devices(strategy: tf.distribute.Strategy) -> list[str]:
    """The devices the strategy's replicas run on, e.g. ["GPU:0", "GPU:1"]; for the default
    strategy, the device TensorFlow places work on (the first GPU, else the CPU)."""
    try:
        devices = list(strategy.extended.worker_devices)
    except (AttributeError, RuntimeError, NotImplementedError):  # the default strategy has none
        gpus = tf.config.list_physical_devices("GPU")
        return ["GPU:0" if gpus else "CPU:0"]
    return [device.rsplit("device:", 1)[-1] for device in devices]


@contextlib.contextmanager
def dtype_policy(name: str | None) -> Iterator[None]:
    """Keras' global dtype policy set to `name` inside the block (None: left as it is), and
    the previous policy restored afterwards, also when the block raises."""
    if name is None:
        yield
        return
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def start_training(
    node: str, distribution: DistributionParams, parameter: str
) -> tf.distribute.Strategy:
    """The strategy a training node trains under, after one log line saying where it trains.

    node: what trains, for the log line ("gan_training", "classification (experiment real)");
    parameter: the settings' full name, quoted in messages ("gan_training.distribution").
    The line names the devices the strategy trains on, the strategy and its replicas, the
    precision, and every device TensorFlow sees; a warning follows when a GPU is asked for
    (gpu_request) but none is visible. Call it at the start of the node, then train inside
    `training_precision(distribution)`.

    Raises DistributionConfigError, before any strategy is created, when mixed precision is
    asked for and TensorFlow sees no GPU; and whatever make_strategy raises (a multi_worker
    strategy without a usable TF_CONFIG).
    """
    refusal = mixed_precision_problem(distribution, parameter)
    if refusal:
        raise DistributionConfigError(refusal)
    gpus = tf.config.list_physical_devices("GPU")
    strategy = make_strategy(distribution.strategy, f"{parameter}.strategy")
    precision = MIXED_POLICY if distribution.mixed_precision else keras.config.dtype_policy().name
    seen = visible_devices()
    replicas = strategy.num_replicas_in_sync
    logger.info(
        "Device for %s: %s | strategy %s, %d replica%s | precision %s | TensorFlow sees %s",
        node,
        ", ".join(strategy_devices(strategy)),
        distribution.strategy,
        replicas,
        "" if replicas == 1 else "s",
        precision,
        ", ".join(seen) + ("" if gpus else " (no GPU)"),
    )
    request = gpu_request(distribution.strategy, parameter)
    if request and not gpus:
        logger.warning(
            "%s asks for GPUs, but TensorFlow sees none: %s trains on the CPU. If this machine "
            "has a GPU, its CUDA setup is broken or missing: install the GPU setup "
            "(uv sync --extra gpu), check with `%s`, and set CXR_GAN_TF_STARTUP_LOG=1 to see "
            "TensorFlow's own start-up messages (docs/scaling.md, 'Which device trains')",
            request,
            node,
            CHECK_COMMAND,
        )
    return strategy


def training_device(
    strategy: tf.distribute.Strategy, distribution: DistributionParams
) -> dict[str, object]:
    """Where a model trains, as its outputs record it (gan_history, each experiment's
    evaluation; the study report shows it): {"devices": the strategy's devices, e.g.
    ["GPU:0 (NVIDIA H100 80GB HBM3)"] or ["CPU:0"], "strategy": the strategy's parameter
    value, "replicas": int >= 1, "precision": "mixed_float16" or the Keras policy's name}.
    Call it where start_training was called (the precision read is the policy in force
    outside `training_precision`)."""
    named = {name.split(" (", 1)[0]: name for name in visible_devices()}
    devices = [named.get(device, device) for device in strategy_devices(strategy)]
    precision = MIXED_POLICY if distribution.mixed_precision else keras.config.dtype_policy().name
    return {
        "devices": devices,
        "strategy": distribution.strategy,
        "replicas": int(strategy.num_replicas_in_sync),
        "precision": precision,
    }


def training_precision(distribution: DistributionParams) -> contextlib.AbstractContextManager:
    """Keras' mixed_float16 policy inside the block when `distribution.mixed_precision`, the
    previous policy restored after it (also on errors); otherwise nothing changes. Models and
    optimizers built inside the block compute in that precision for their whole life."""
    return dtype_policy(MIXED_POLICY if distribution.mixed_precision else None)


def float32_copy(model: keras.Model) -> keras.Model:
    """`model` itself when every layer computes in float32; otherwise an uncompiled functional
    copy whose layers compute in float32, with the same weights (mixed-precision variables are
    float32 already, so nothing is rounded). A model trained under mixed_float16 then saves,
    loads and runs the same as one trained in float32.

    Raises ValueError (from Keras' clone_model) for a model that is not functional or
    sequential."""
    if all(layer.dtype_policy.name == "float32" for layer in model._flatten_layers()):
        return model

    def as_float32(layer: keras.Layer) -> keras.Layer:
        if isinstance(layer, keras.layers.InputLayer):
            return layer
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    with dtype_policy("float32"):
        copy = keras.models.clone_model(model, clone_function=as_float32)
    copy.set_weights(model.get_weights())
    return copy
