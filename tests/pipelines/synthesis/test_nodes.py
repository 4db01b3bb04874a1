"""A synthetic set that is blank or constant is refused before it is saved, naming the set, the
class and the fix: the study's own 16 px DCGAN generator with NaN weights (a diverged training)
draws all-black images, and one that ignores its latent draws one picture."""

from __future__ import annotations

import numpy as np
import pytest

from cxr_gan.models.gan_config import GanConfig
from cxr_gan.models.gan_networks import build_dcgan_generator
from cxr_gan.models.synthesis import DegenerateSetError
from cxr_gan.pipelines.data_processing.params import DataProcessingParams
from cxr_gan.pipelines.synthesis.nodes import synthesize_balanced_xrays, synthesize_xrays
from cxr_gan.pipelines.synthesis.params import SynthesisParams

CONFIG = GanConfig(gan_image_size=16, base_filters=8, latent_dim=8)
CLASSES = DataProcessingParams().classes
PARAMS = SynthesisParams(n_images=4, per_class_images=3)


def test_a_working_generator_passes():
    image_set = synthesize_xrays(build_dcgan_generator(CONFIG), PARAMS, CLASSES)
    assert image_set["images"].shape == (4, 16, 16)


def test_a_generator_with_nan_weights_is_refused_before_its_set_is_saved():
    generator = build_dcgan_generator(CONFIG)
    generator.set_weights([np.full_like(w, np.nan) for w in generator.get_weights()])
    with pytest.raises(DegenerateSetError) as caught:
        synthesize_xrays(generator, PARAMS, CLASSES)
    message = str(caught.value)
    assert message.startswith("synthetic_xrays, class 'covid': 4 of 4 synthetic images")
    assert "blank" in message and "nothing was saved" in message
    assert "--load-versions generator:" in message
    with pytest.raises(DegenerateSetError, match="synthetic_balanced_xrays, class 'normal'"):
        synthesize_balanced_xrays(generator, PARAMS, CLASSES)


def test_a_generator_that_ignores_its_latent_is_refused():
    generator = build_dcgan_generator(CONFIG)
    dense = next(layer for layer in generator.layers if layer.__class__.__name__ == "Dense")
    kernel = dense.get_weights()[0].copy()
    kernel[: CONFIG.latent_dim] = 0  # the latent's rows: every latent gives the same picture
    dense.set_weights([kernel, *dense.get_weights()[1:]])
    with pytest.raises(DegenerateSetError, match="all 4 synthetic images .* are the same picture"):
        synthesize_xrays(generator, PARAMS, CLASSES)
