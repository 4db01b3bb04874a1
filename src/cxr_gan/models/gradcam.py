"""Grad-CAM (Selvaraju et al. 2017): where in an X-ray the classifier looked for its decision.

The heat is the ReLU of the last convolutional feature maps weighted by the mean gradient of the
class score. The score is the pre-sigmoid logit (for "normal" its negative), not the
probability: a confident sigmoid saturates and its gradient underflows to an empty map. Maps are
computed at the conv layer's resolution (7x7 for ResNet50 at 224 px), upsampled to each input
image's (h, w) and scaled to [0, 1] per image.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from matplotlib import colormaps
from matplotlib.figure import Figure

from cxr_gan.models.classifier_input import as_image_batch

CLASS_NAMES = ("normal", "covid")


def last_conv_layer_name(model: keras.Model) -> str:
    """The last layer with a 4-D (spatial) output: conv5_block3_out for ResNet50, the last conv
    of the small CNN; everything after it is pooled away."""
    for layer in reversed(model.layers):
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if len(layer.output.shape) == 4 and not isinstance(layer, keras.layers.Resizing):
            return layer.name
    raise ValueError(f"model {model.name} has no layer with a spatial (4-D) output")


def gradcam_heatmaps(
    model: keras.Model,
    images: np.ndarray,
    class_index: int | None = None,
    layer_name: str | None = None,
    batch_size: int = 16,
) -> np.ndarray:
    """(n, h, w) float32 heatmaps in [0, 1] for (n, h, w) grayscale 0..255 images.

    class_index: 1 explains "covid", 0 "normal", None the predicted class of each image. An
    image with no positive evidence for the class gets an all-zero map.
    """
    images = as_image_batch(images)
    layer = model.get_layer(layer_name or last_conv_layer_name(model))
    final = model.layers[-1]
    sigmoid_dense = (
        isinstance(final, keras.layers.Dense)
        and getattr(final.activation, "__name__", "") == "sigmoid"
    )
    score_source = final.input if sigmoid_dense else model.outputs[0]
    grad_model = keras.Model(model.input, [layer.output, score_source])
    maps = []
    for start in range(0, len(images), batch_size):
        batch = tf.convert_to_tensor(images[start : start + batch_size], tf.float32)
        with tf.GradientTape() as tape:
            conv, source = grad_model(batch, training=False)
            logit = tf.matmul(source, final.kernel) + final.bias if sigmoid_dense else source
            logit = logit[:, 0]
            if class_index is None:
                sign = tf.where(logit >= 0, 1.0, -1.0)
            else:
                sign = tf.fill(tf.shape(logit), 1.0 if class_index == 1 else -1.0)
            score = tf.reduce_sum(sign * logit)
        grads = tape.gradient(score, conv)
        weights = tf.reduce_mean(grads, axis=[1, 2], keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(conv * weights, axis=-1, keepdims=True))
        cam = tf.image.resize(cam, images.shape[1:3], method="bilinear")[..., 0]
        peak = tf.reduce_max(cam, axis=[1, 2], keepdims=True)
        cam = tf.where(peak > 0, cam / tf.maximum(peak, 1e-12), 0.0)
        maps.append(tf.clip_by_value(cam, 0.0, 1.0).numpy())
    return np.concatenate(maps).astype(np.float32)


def gradcam_figure(
    images: np.ndarray,
    heatmaps: np.ndarray,
    *,
    probabilities: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    alpha: float = 0.4,
    columns: int = 4,
) -> Figure:
    """A grid of X-rays with their heatmaps overlaid (jet colour map, `alpha` opacity).

    Titles show the true label and p(covid) when given. Built on matplotlib.figure.Figure, not
    pyplot, so it needs no GUI backend and leaks no global figure state.
    """
    images = as_image_batch(images)[..., 0]
    count = len(images)
    if heatmaps.shape != images.shape:
        raise ValueError(f"heatmaps {heatmaps.shape} do not match images {images.shape}")
    columns = max(1, min(columns, count))
    rows = -(-count // columns)
    figure = Figure(figsize=(2.6 * columns, 2.8 * rows), layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    jet = colormaps["jet"]
    for index, axis in enumerate(axes):
        axis.axis("off")
        if index >= count:
            continue
        axis.imshow(images[index], cmap="gray", vmin=0, vmax=255)
        axis.imshow(jet(heatmaps[index]), alpha=alpha)
        title = []
        if labels is not None:
            title.append(CLASS_NAMES[int(labels[index])])
        if probabilities is not None:
            title.append(f"p(covid)={float(probabilities[index]):.2f}")
        if title:
            axis.set_title(", ".join(title), fontsize=9)
    return figure
