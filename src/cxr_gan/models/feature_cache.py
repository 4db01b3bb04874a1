"""Frozen-backbone features, computed once per run per distinct input and shared.

With a frozen backbone (classifier_config.ClassifierConfig.uses_feature_cache), every experiment and
seed trains its head on features of the same images through the same function, and scores the
test split and the external folder the same way; only the head differs. So features are
computed once, stored under a key, and read by everyone whose key matches.

The key (FeatureKey) holds everything that changes a feature vector, so nothing differing is
ever shared:
- backbone: its name, its weights setting (imagenet, random, a file), the input size, and a
  digest of the actual backbone weights (classifier_network.backbone_fingerprint): a random backbone
  initialised with another seed is another backbone;
- images: which distinct input (train, validation, test, external, synthetic, ...) and a digest
  of its image ids and shape;
- view: "full", or "masked(0.70)" for the shortcut probe's borders-only images;
- augmentation and draw: draw 0 is the unaugmented image; draw k > 0 is augmentation preset P
  drawn with seed (s, k), written "P(seed=s)".

Plain module (no Kedro); the classification pipeline fills one FeatureCache in a node and hands
it to every experiment.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

FULL_VIEW = "full"
NO_AUGMENTATION = "none"


@dataclass(frozen=True, order=True)
class FeatureKey:
    """What one block of features was computed from (see the module docstring)."""

    backbone: str
    images: str
    view: str
    augmentation: str
    draw: int


def backbone_identity(backbone: str, weights: str | None, input_size: int, fingerprint: str) -> str:
    """'resnet50|weights=imagenet|224px|<digest>': one string for the backbone part of a key."""
    return f"{backbone}|weights={weights or 'random'}|{input_size}px|{fingerprint}"


def images_identity(name: str, ids: Iterable[str], shape: tuple[int, ...]) -> str:
    """'test:40x446x446:<digest of ids>': which images, so two inputs that merely share a name
    (another split, another external folder) never share features."""
    digest = hashlib.blake2b("\n".join(map(str, ids)).encode(), digest_size=6).hexdigest()
    return f"{name}:{'x'.join(map(str, shape))}:{digest}"


def view_name(mask_fraction: float | None) -> str:
    """'full', or 'masked(0.70)' when the central `mask_fraction` of each side is hidden."""
    return FULL_VIEW if mask_fraction is None else f"masked({mask_fraction:.2f})"


def augmentation_name(preset: str | None, seed: int, draw: int) -> str:
    """'none' for draw 0 (unaugmented), else 'classical(seed=42)' and the like."""
    return NO_AUGMENTATION if draw == 0 or preset is None else f"{preset}(seed={seed})"


class FeatureCache:
    """Backbone features by FeatureKey: float32 (n, d) per key (one draw of one input).

    `reason` says why the cache is empty when features do not apply (a backbone that trains, the
    small CNN). Reading never changes it, so every node can share one instance.
    """

    def __init__(
        self, backbone: str = "", fingerprint: str = "", reason: str | None = None
    ) -> None:
        self._store: dict[FeatureKey, np.ndarray] = {}
        self.backbone = backbone  # backbone_identity() of the backbone that computed them
        self.fingerprint = fingerprint  # classifier_network.backbone_fingerprint() of it
        self.reason = reason
        self.computed_images = 0
        self.seconds = 0.0

    def __contains__(self, key: FeatureKey) -> bool:
        return key in self._store

    def __len__(self) -> int:
        return len(self._store)

    def keys(self) -> list[FeatureKey]:
        return sorted(self._store)

    def put(self, key: FeatureKey, features: np.ndarray) -> None:
        """Store float32 (n, d) features; a key is written once (ValueError on a second time)."""
        features = np.asarray(features, np.float32)
        if features.ndim != 2:
            raise ValueError(f"features must be (n, d), got shape {features.shape}")
        if key in self._store:
            raise ValueError(f"features for {key} are already cached")
        self._store[key] = features

    def get(self, key: FeatureKey) -> np.ndarray | None:
        """The features for exactly this key, or None."""
        return self._store.get(key)

    def stacked(self, keys: list[list[FeatureKey]]) -> np.ndarray | None:
        """float32 (draws, n, d): for each draw, the features of several inputs one after the
        other (keys[draw] = [key of part 1, key of part 2, ...]); None if any key is missing."""
        blocks = []
        for draw_keys in keys:
            parts = [self._store.get(key) for key in draw_keys]
            if any(part is None for part in parts):
                return None
            blocks.append(np.concatenate(parts))
        return np.stack(blocks)

    def summary(self) -> dict[str, Any]:
        """What was cached, as plain JSON: keys, images computed, seconds, megabytes."""
        return {
            "entries": len(self._store),
            "computed_images": self.computed_images,
            "seconds": round(self.seconds, 1),
            "megabytes": round(sum(a.nbytes for a in self._store.values()) / 2**20, 1),
            "reason_empty": self.reason,
        }
