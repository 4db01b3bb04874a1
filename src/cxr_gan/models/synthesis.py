"""Sample a trained conditional generator: reproducible latents, images at any output size."""

from __future__ import annotations

import keras
import numpy as np

from cxr_gan.data.preprocessing import resize_square
from cxr_gan.models.gan_monitor import to_uint8


def generator_latent_dim(generator: keras.Model) -> int:
    return int(generator.inputs[0].shape[-1])


def generator_output_size(generator: keras.Model) -> int:
    """The side in px of the images the generator makes, from its output shape (n, s, s, 1)."""
    side = generator.outputs[0].shape[1]
    if side is None:
        raise ValueError(
            f"generator {generator.name!r} has no fixed output size (output shape "
            f"{generator.outputs[0].shape}); set synthesis.output_size to choose one"
        )
    return int(side)


def sample_generator(
    generator: keras.Model,
    label: int,
    n_images: int,
    seed: int,
    output_size: int | None = None,
    batch_size: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """n_images of one class as uint8 (n, s, s), and the latent index of each (int (n,)).

    s is output_size, or the generator's own size when output_size is None. Another size is
    reached with resize_square: cubic when enlarging, area when shrinking. Latent i is row i of a
    standard normal stream seeded by `seed`, so (generator, seed, index) identifies an image
    exactly and any image can be drawn again on its own.
    """
    latent = np.random.default_rng(seed).standard_normal(
        (n_images, generator_latent_dim(generator))
    )
    latent = latent.astype(np.float32)
    labels = np.full((n_images, 1), label, np.int32)
    batches = [
        to_uint8(
            generator([latent[i : i + batch_size], labels[i : i + batch_size]], training=False)
        )
        for i in range(0, n_images, batch_size)
    ]
    images = np.concatenate(batches)
    if output_size and output_size != images.shape[1]:
        images = np.stack([resize_square(image, output_size) for image in images])
    return images, np.arange(n_images)


class DegenerateSetError(ValueError):
    """Synthetic images with nothing to learn from; the message names the set and the fix."""


def refuse_degenerate_images(images: np.ndarray, what: str, generator: str) -> None:
    """Stop before a synthetic set is saved when it is blank or constant.

    images: uint8 (n, h, w), n >= 1, as sample_generator returns them; what: the set and class
    in words (e.g. "synthetic_xrays, class 'covid'"); generator: where the generator came from.
    Raises DegenerateSetError when any image is blank (every pixel one value: a generator whose
    weights diverged to NaN draws all-black images) or when n >= 2 and every image is the same
    picture (a generator that ignores its latent)."""
    flat = np.asarray(images).reshape(len(images), -1)
    blank = flat.min(axis=1) == flat.max(axis=1)
    fix = (
        "nothing was saved. Train again (`kedro run --pipelines gan_training`; lower "
        "gan_training.learning_rate or the regulariser weights if it diverged), or sample an "
        "earlier generator with --load-versions generator:<version>"
    )
    if blank.any():
        values = ", ".join(str(v) for v in sorted(set(flat[blank, 0].tolist())))
        raise DegenerateSetError(
            f"{what}: {int(blank.sum())} of {len(flat)} synthetic images from {generator} are "
            f"blank (every pixel {values}): the generator draws no picture (its weights have "
            f"probably diverged to NaN); {fix}"
        )
    if len(flat) >= 2 and (flat == flat[0]).all():
        raise DegenerateSetError(
            f"{what}: all {len(flat)} synthetic images from {generator} are the same picture: "
            f"the generator ignores its latent (complete collapse); {fix}"
        )
