"""Sample a trained conditional generator: reproducible latents, images at any output size."""

from __future__ import annotations

import keras
import numpy as np

from cxr_gan.data.preprocessing import resize_square
from cxr_gan.models.gan_trainer import to_uint8


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
