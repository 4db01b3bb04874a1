"""The augmentation settings and presets, without TensorFlow: parameter models import this.

The transforms themselves are in cxr_gan.data.augmentation (TensorFlow ops).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AugmentationParams:
    """Ranges of the random transforms; every draw is uniform in [-range, +range] (or 1 +/-)."""

    horizontal_flip: bool = False  # mirror left-right with probability 0.5
    shear_degrees: float = 0.0
    zoom_range: float = 0.0  # x and y scale factors drawn independently in [1 - z, 1 + z]
    rotation_degrees: float = 0.0
    translation_fraction: float = 0.0  # of the image width / height
    brightness: float = 0.0  # additive offset, as a fraction of 255
    contrast: float = 0.0  # factor in [1 - c, 1 + c] around each image's mean
    fill_mode: str = "nearest"  # ImageDataGenerator's default: repeat the edge pixels

    def __post_init__(self) -> None:
        if min(self.shear_degrees, self.zoom_range, self.rotation_degrees) < 0:
            raise ValueError("augmentation ranges must be >= 0")
        if min(self.translation_fraction, self.brightness, self.contrast) < 0:
            raise ValueError("augmentation ranges must be >= 0")
        if self.zoom_range >= 1 or self.contrast >= 1:
            raise ValueError("zoom_range and contrast must be below 1 (a factor of 0 or less)")
        if self.fill_mode not in ("nearest", "constant", "reflect", "wrap", "mirror"):
            raise ValueError(f"unknown fill_mode {self.fill_mode!r}")


PRESETS: dict[str, AugmentationParams] = {
    # ImageDataGenerator(horizontal_flip=True, shear_range=0.2, zoom_range=0.2)
    "classical": AugmentationParams(horizontal_flip=True, shear_degrees=0.2, zoom_range=0.2),
    "strong": AugmentationParams(
        horizontal_flip=True,
        shear_degrees=10.0,
        zoom_range=0.2,
        rotation_degrees=10.0,
        translation_fraction=0.1,
        brightness=0.1,
        contrast=0.2,
    ),
}


def resolve_augmentation(preset: str | AugmentationParams | None) -> AugmentationParams | None:
    """A preset name, explicit params, or None / "none" for no augmentation."""
    if preset is None or isinstance(preset, AugmentationParams):
        return preset
    if preset == "none":
        return None
    if preset not in PRESETS:
        raise ValueError(f"unknown augmentation {preset!r}; choose from {sorted(PRESETS)} or none")
    return PRESETS[preset]
