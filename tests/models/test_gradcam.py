import io

import keras
import numpy as np
import pytest
from matplotlib.figure import Figure

from cxr_gan.models.classifier import train_classifier
from cxr_gan.models.classifier_config import ClassifierConfig
from cxr_gan.models.classifier_network import build_classifier
from cxr_gan.models.classifier_predict import predict
from cxr_gan.models.gradcam import gradcam_figure, gradcam_heatmaps, last_conv_layer_name
from tests.models.test_classifier import SMALL_CNN as CLASSIFIER_SMALL_CNN
from tests.models.test_classifier import validated

CORNER = 10  # the bright square that makes an image "covid" covers [:10, :10]
SMALL_CNN = validated(CLASSIFIER_SMALL_CNN, epochs=10, validation_fraction=0)


def corner_xrays(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noise; class 1 also has a bright square in the top-left corner, and nothing else differs."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 2
    images = rng.normal(80, 20, (count, 32, 32))
    images[labels == 1, :CORNER, :CORNER] = 230
    return np.clip(images, 0, 255).astype(np.uint8), labels


@pytest.fixture(scope="module")
def corner_model():
    images, labels = corner_xrays(64, seed=0)
    model, _ = train_classifier(images, labels, SMALL_CNN, seed=0)
    return model


def test_resnet_maps_have_the_input_shape_and_unit_range():
    config = ClassifierConfig(weights=None, input_size=64, dense_units=8, augmentation=None)
    model = build_classifier(config)
    assert last_conv_layer_name(model) == "conv5_block3_out"
    images = np.random.default_rng(0).integers(0, 256, (3, 40, 48), dtype=np.uint8)
    for class_index in (None, 0, 1):
        maps = gradcam_heatmaps(model, images, class_index=class_index)
        assert maps.shape == (3, 40, 48) and maps.dtype == np.float32
        assert maps.min() >= 0 and maps.max() <= 1


def test_heat_is_in_the_corner_that_decides_the_class(corner_model):
    assert last_conv_layer_name(corner_model) == "cnn_block3_conv"
    images, labels = corner_xrays(16, seed=1)
    covid = images[labels == 1]
    assert (predict(corner_model, covid) > 0.5).all()
    maps = gradcam_heatmaps(corner_model, covid, class_index=1)
    assert maps.shape == covid.shape and maps.min() >= 0 and maps.max() == pytest.approx(1)
    in_corner = np.zeros(maps.shape[1:], bool)
    in_corner[:CORNER, :CORNER] = True
    inside, outside = maps[:, in_corner].mean(), maps[:, ~in_corner].mean()
    assert inside > outside + 0.15


def test_overlay_figure_draws_every_image(corner_model):
    images, labels = corner_xrays(5, seed=2)
    maps = gradcam_heatmaps(corner_model, images)
    probabilities = predict(corner_model, images)
    figure = gradcam_figure(images, maps, probabilities=probabilities, labels=labels, columns=3)
    assert isinstance(figure, Figure)
    drawn = [axis for axis in figure.axes if axis.images]
    assert len(drawn) == 5 and all(len(axis.images) == 2 for axis in drawn)
    assert drawn[1].get_title().startswith("covid, p(covid)=")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    assert buffer.getvalue().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="do not match"):
        gradcam_figure(images, maps[:, :16])


def test_an_explicit_layer_can_be_chosen_and_a_model_without_conv_is_refused(corner_model):
    images, _ = corner_xrays(2, seed=3)
    maps = gradcam_heatmaps(corner_model, images, layer_name="cnn_block2_conv")
    assert maps.shape == (2, 32, 32) and maps.min() >= 0 and maps.max() <= 1
    inputs = keras.Input((8,))
    flat = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(inputs))
    with pytest.raises(ValueError, match="no layer with a spatial"):
        last_conv_layer_name(flat)
