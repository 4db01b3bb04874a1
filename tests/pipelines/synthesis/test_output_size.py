"""Synthetic PNGs at the size the GAN made them, unless output_size asks for another, and a
manifest that says which."""

from __future__ import annotations

import cv2
import keras
import numpy as np
import pytest

from cxr_gan.datasets import ImageSetDataset
from cxr_gan.pipelines.data_processing.params import DataProcessingParams
from cxr_gan.pipelines.synthesis.nodes import synthesize_balanced_xrays, synthesize_xrays
from cxr_gan.pipelines.synthesis.params import SynthesisParams

GENERATOR_PX = 16
DATA = DataProcessingParams(image_size=48)  # the real images' size: not the synthetic one


@pytest.fixture(scope="module")
def generator() -> keras.Model:
    """A conditional generator (latent (n, 4), label (n, 1)) -> (n, 16, 16, 1) in [-1, 1]."""
    latent = keras.Input((4,))
    label = keras.Input((1,), dtype="int32")
    joined = keras.layers.Concatenate()([latent, keras.ops.cast(label, "float32")])
    pixels = keras.layers.Dense(GENERATOR_PX * GENERATOR_PX, activation="tanh")(joined)
    image = keras.layers.Reshape((GENERATOR_PX, GENERATOR_PX, 1))(pixels)
    return keras.Model([latent, label], image)


def _saved_and_loaded(image_set: dict, folder) -> dict:
    dataset = ImageSetDataset(filepath=str(folder))
    dataset.save(image_set)
    return dataset.load()


def test_png_size_defaults_to_the_generators_own(generator, tmp_path):
    params = SynthesisParams(n_images=3, per_class_images=2)
    loaded = _saved_and_loaded(synthesize_xrays(generator, params, DATA.classes), tmp_path / "set")
    assert loaded["images"].shape == (3, GENERATOR_PX, GENERATOR_PX)
    assert cv2.imread(str(tmp_path / "set/covid_0000.png"), cv2.IMREAD_UNCHANGED).shape == (16, 16)
    manifest = loaded["manifest"]
    assert manifest["generator_size"].tolist() == [GENERATOR_PX] * 3
    assert manifest["size"].tolist() == [GENERATOR_PX] * 3
    assert manifest["interpolation"].tolist() == ["none"] * 3
    assert manifest["upsampled_from"].tolist() == [""] * 3  # nothing was upsampled

    balanced = synthesize_balanced_xrays(generator, params, DATA.classes)
    assert balanced["images"].shape == (4, GENERATOR_PX, GENERATOR_PX)
    assert set(balanced["manifest"]["generator_size"]) == {GENERATOR_PX}


def test_an_explicit_output_size_upsamples_and_the_manifest_says_from_what(generator, tmp_path):
    native = synthesize_xrays(generator, SynthesisParams(n_images=2), DATA.classes)
    params = SynthesisParams(n_images=2, output_size=40)
    loaded = _saved_and_loaded(synthesize_xrays(generator, params, DATA.classes), tmp_path / "set")
    assert loaded["images"].shape == (2, 40, 40)
    expected = [cv2.resize(i, (40, 40), interpolation=cv2.INTER_CUBIC) for i in native["images"]]
    assert np.array_equal(loaded["images"], np.stack(expected))  # the same latents, enlarged
    manifest = loaded["manifest"]
    assert manifest["size"].tolist() == [40, 40]
    assert manifest["generator_size"].tolist() == [GENERATOR_PX] * 2
    assert manifest["upsampled_from"].tolist() == [GENERATOR_PX] * 2
    assert manifest["interpolation"].tolist() == ["cubic", "cubic"]
