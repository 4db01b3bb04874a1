"""Frozen ResNet50 at the study's settings: cached features vs a forward pass every epoch.

    uv run python benchmarks/bench_feature_cache.py [--direct-epochs 2]

On the training split of ../shared/cxr-dev (data_processing at 446 px), ResNet50 with random
weights (this machine cannot download ImageNet weights; the cost is the same), 224 px input,
batch 25, the study's 100 epochs, 5 augmentation draws. The cached run is timed whole. The
direct run (images through ResNet50 at every step) is timed for a few epochs and extrapolated to
100, since running it whole would take most of an hour on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import time

from _project import cxr_dev_training_split


def main() -> None:
    from cxr_gan.models.classifier import train_classifier
    from cxr_gan.models.classifier_config import ClassifierConfig

    parser = argparse.ArgumentParser()
    parser.add_argument("--direct-epochs", type=int, default=2)
    args = parser.parse_args()
    images, labels = cxr_dev_training_split()
    base = {"backbone": "resnet50", "weights": None, "epochs": 100, "validation_fraction": 0.1}
    started = time.perf_counter()
    train_classifier(images, labels, ClassifierConfig(**base, feature_cache=True), seed=1)
    cached = time.perf_counter() - started
    direct_config = ClassifierConfig(**{**base, "epochs": args.direct_epochs}, feature_cache=False)
    started = time.perf_counter()
    train_classifier(images, labels, direct_config, seed=1)
    direct_per_epoch = (time.perf_counter() - started) / args.direct_epochs
    print(
        json.dumps(
            {
                "training_images": len(images),
                "cached_100_epochs_s": round(cached),
                "direct_s_per_epoch": round(direct_per_epoch, 1),
                "direct_100_epochs_s_extrapolated": round(100 * direct_per_epoch),
                "speed_up": round(100 * direct_per_epoch / cached, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
