"""assess_synthetic_quality reads gan_split: evaluation images for the main numbers, the GAN's
training images for KID-vs-training and memorization, never the classifier's test split."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest

from cxr_gan.data.phantom import COVID, NORMAL, draw_phantom
from cxr_gan.pipelines.data_processing.params import DataProcessingParams
from cxr_gan.pipelines.synthesis.nodes import assess_synthetic_quality
from cxr_gan.pipelines.synthesis.params import SynthesisParams

GENERATOR_PX, REAL_PX, PER_CLASS = 16, 32, 30
DATA = DataProcessingParams(image_size=REAL_PX)
PARAMS = SynthesisParams(n_images=12, quality_sample_sets=2, quality_image_size=16)


def one_image_generator() -> keras.Model:
    """latent (n, 4), label (n, 1) -> the same 16 px image every time: a fully collapsed GAN."""
    latent = keras.Input((4,))
    label = keras.Input((1,), dtype="int32")
    joined = keras.layers.Concatenate()([latent, keras.ops.cast(label, "float32")])
    image = draw_phantom(COVID, 0, 9, GENERATOR_PX).astype(np.float32) / 127.5 - 1.0
    pixels = keras.layers.Dense(
        GENERATOR_PX**2,
        kernel_initializer="zeros",
        bias_initializer=keras.initializers.Constant(image.ravel()),
    )(joined)
    return keras.Model(
        [latent, label], keras.layers.Reshape((GENERATOR_PX, GENERATOR_PX, 1))(pixels)
    )


@pytest.fixture(scope="module")
def data() -> dict:
    """60 phantoms; per class 5 test, 8 GAN-evaluation and 17 GAN-training images."""
    ids, labels, images = [], [], []
    for label, prefix in ((NORMAL, "n"), (COVID, "c")):
        for index in range(PER_CLASS):
            ids.append(f"{prefix}{index}")
            labels.append(label)
            images.append(draw_phantom(label, index, 1, REAL_PX))
    split = pd.DataFrame({"id": ids, "split": ["test" if int(i[1:]) < 5 else "train" for i in ids]})
    train = split[split["split"] == "train"]
    gan_split = pd.DataFrame(
        {
            "id": train["id"],
            "label": [1 if i.startswith("c") else 0 for i in train["id"]],
            "group": train["id"],
            "role": ["eval" if int(i[1:]) < 13 else "train" for i in train["id"]],
        }
    )
    arrays = {"images": np.stack(images), "labels": np.array(labels), "ids": np.array(ids)}
    return {"arrays": arrays, "split": split, "gan_split": gan_split}


def test_a_one_image_generator_is_judged_collapsed_against_the_evaluation_split(data):
    generator = one_image_generator()
    synthetic = {"images": np.repeat(draw_phantom(COVID, 0, 9, GENERATOR_PX)[None], 12, axis=0)}
    report, figure = assess_synthetic_quality(
        generator, synthetic, data["arrays"], data["split"], data["gan_split"], PARAMS, DATA.classes
    )
    assert (report["n_evaluation"], report["n_training"]) == (8, 17)  # covid rows only
    assert report["gan_image_size"] == GENERATOR_PX
    assert report["collapsed"] is True
    assert report["verdict"].startswith("collapsed: synthetic MS-SSIM 1.00 vs real")
    assert f"at {GENERATOR_PX} px" in report["verdict"]
    assert "8 evaluation and 17 GAN-training" in report["compared_with"]
    assert report["kid_vs_evaluation"]["n_real"] == 8
    assert report["n_synthetic_sets"] == 2
    assert report["verdict"] in figure.get_suptitle()


def test_a_gan_split_that_holds_test_images_is_refused(data):
    leaky = pd.concat(
        [data["gan_split"], pd.DataFrame([{"id": "c0", "label": 1, "group": "c0", "role": "eval"}])]
    )
    with pytest.raises(ValueError, match="test split"):
        assess_synthetic_quality(
            one_image_generator(),
            {"images": np.zeros((12, 16, 16), np.uint8)},
            data["arrays"],
            data["split"],
            leaky,
            PARAMS,
            DATA.classes,
        )


def test_an_external_folder_judges_realism_and_leads_the_verdict(data, tmp_path):
    """A folder of 24 real phantom PNGs per class (files on disk, ingested as the classification
    pipeline ingests them): the collapsed generator is judged against its 24 COVID-19 images
    too, and the verdict says so; without the folder there is no external block."""
    from cxr_gan.data.phantom import write_phantom_folder
    from cxr_gan.datasets import XrayFolderDataset

    write_phantom_folder(tmp_path / "external", 24, 48, seed=5)
    external = XrayFolderDataset(path=str(tmp_path / "external")).load()
    generator = one_image_generator()
    synthetic = {"images": np.repeat(draw_phantom(COVID, 0, 9, GENERATOR_PX)[None], 12, axis=0)}
    report, _ = assess_synthetic_quality(
        generator,
        synthetic,
        data["arrays"],
        data["split"],
        data["gan_split"],
        PARAMS,
        DATA.classes,
        external,
        **DATA.ingest_options(),
    )
    block = report["external"]
    assert block["n_images"] == 24 and block["kid_vs_external"]["n_real"] == 24
    assert block["realism"]["n_evaluation"] == 24
    assert block["realism"]["status"] == "told from real", block["realism"]["text"]
    assert f"against 24 external images: {block['realism']['text']}" in report["verdict"]
    plain, _ = assess_synthetic_quality(
        generator, synthetic, data["arrays"], data["split"], data["gan_split"], PARAMS, DATA.classes
    )
    assert plain["external"] is None and "external images" not in plain["verdict"]
