"""Runs in a fresh process for tests/models/test_distribution.py: device layout and collective
ops must be set before TensorFlow initialises, which in the pytest process has long happened.

    python distribution_script.py mirrored RESULT.json  # default vs 2-CPU mirrored, same seed
    python distribution_script.py worker OUTPUT_DIR     # one multi_worker process (TF_CONFIG)
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402  (environment first)


def tiny_data(count_per_class: int):
    import numpy as np

    from cxr_gan.data.phantom import draw_phantom

    images = np.stack(
        [draw_phantom(label, i, 3, 32) for label in (0, 1) for i in range(count_per_class)]
    )
    return images, np.repeat([0, 1], count_per_class).astype(np.int32)


def tiny_config(**changes):
    from cxr_gan.models.gan_config import GanConfig

    values = {"gan_image_size": 16, "base_filters": 8, "batch_size": 8, "epochs": 1}
    return GanConfig(latent_dim=16, label_embedding_dim=4, **{**values, **changes})


def mirrored(result_path: Path) -> None:
    """Default and 2-replica mirrored training from the same seed and batches; writes losses,
    the largest weight difference and whether the replicas' copies stayed identical."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import numpy as np

    from cxr_gan.models.distribution import make_strategy
    from cxr_gan.models.gan import ConditionalGAN
    from cxr_gan.models.gan_trainer import train_gan

    # SGD instead of Adam: Adam divides every gradient by its own running scale, so a loss not
    # divided by the GLOBAL batch (2x gradients with 2 replicas) would hardly change its steps;
    # SGD's steps show it (measured: 4% off in g_loss, 40x the weight difference)
    ConditionalGAN._adam = lambda self, rate: keras.optimizers.SGD(0.05)
    # no DiffAugment: its transforms are drawn per replica (different from one device's), and
    # the comparison should show the arithmetic, not sampling noise; no minibatch std and no
    # mode-seeking term either: both read the batch each replica holds (docs/distributed.md)
    config = tiny_config(diffaugment=False, minibatch_std=False, mode_seeking_weight=0.0)
    images, labels = tiny_data(20)  # 40 images: 5 steps of 8, split 4 + 4 under mirrored
    runs, result = {}, {}
    for name in ("default", "mirrored"):
        strategy = make_strategy(name)
        runs[name] = train_gan(images, labels, config, strategy=strategy)
        result[name] = {
            "replicas": strategy.num_replicas_in_sync,
            "history": runs[name].history,
        }
    gan = runs["mirrored"].gan
    replica_copies_equal = all(
        all(
            np.array_equal(np.asarray(copy), np.asarray(variable.value.values[0]))
            for copy in variable.value.values
        )
        for variable in gan.state_variables()
    )
    result["replica_copies_equal"] = bool(replica_copies_equal)
    result["variables_checked"] = len(gan.state_variables())
    result["max_weight_difference"] = max(
        float(np.max(np.abs(a - b)))
        for a, b in zip(
            runs["default"].gan.generator.get_weights()
            + runs["default"].gan.ema_generator.get_weights(),
            gan.generator.get_weights() + gan.ema_generator.get_weights(),
            strict=True,
        )
    )
    result["classifier"] = classifier(make_strategy("mirrored"))
    result_path.write_text(json.dumps(result))


def classifier(strategy) -> dict:
    """A tiny small_cnn classifier, 2 epochs under `strategy`."""
    from cxr_gan.models.classifier import train_classifier
    from cxr_gan.models.classifier_config import ClassifierConfig
    from cxr_gan.models.classifier_predict import predict

    images, labels = tiny_data(8)
    config = ClassifierConfig(
        backbone="small_cnn",
        weights=None,
        input_size=32,
        small_cnn_filters=(4, 8),
        dense_units=8,
        batch_size=8,
        epochs=2,
        augmentation=None,
        validation_fraction=0.25,
    )
    model, history = train_classifier(images, labels, config, seed=1, strategy=strategy)
    return {
        "replicas": strategy.num_replicas_in_sync,
        "history": history,
        "predictions": predict(model, images[:4]).tolist(),
    }


def worker(output: Path) -> None:
    """One worker of a multi_worker cluster (TF_CONFIG set by the caller): a few GAN steps with
    checkpoints and grids under OUTPUT_DIR, then the generator saved as the pipeline would."""
    from cxr_gan.models.distribution import chief_path, is_chief, make_strategy
    from cxr_gan.models.gan_trainer import train_gan

    strategy = make_strategy("multi_worker")  # first thing: before any other TensorFlow work
    images, labels = tiny_data(8)  # 16 images: 2 steps of 8, 4 per worker
    run = train_gan(
        images,
        labels,
        tiny_config(epochs=2),
        checkpoint_root=output / "checkpoints",
        sample_every=1,
        checkpoint_every=1,
        strategy=strategy,
    )
    with chief_path(output / "generator.keras", strategy) as path:
        run.gan.ema_generator.save(path)  # every worker saves; only the chief's file stays
        wrote = str(path)
    print(
        "RESULT "
        + json.dumps(
            {
                "chief": is_chief(strategy),
                "replicas": strategy.num_replicas_in_sync,
                "wrote": wrote,
                "history": run.history,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    mode, target = sys.argv[1], Path(sys.argv[2])
    {"mirrored": mirrored, "worker": worker}[mode](target)
