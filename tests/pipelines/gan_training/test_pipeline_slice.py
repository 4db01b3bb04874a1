"""gan_training in memory: create_pipeline() run by SequentialRunner on a DataCatalog of
MemoryDatasets (tests/pipelines/slices.py), on the in-memory data_processing outputs, with a
real 16 px DCGAN trained for two epochs. test_pipeline.py runs it through a KedroSession."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from kedro.io.core import DatasetError
from matplotlib.figure import Figure

from cxr_gan.datasets import ImageSetDataset
from cxr_gan.hooks import GanCheckpointHooks
from cxr_gan.models.gan_monitor import is_diverse
from cxr_gan.pipelines.gan_training import create_pipeline
from cxr_gan.pipelines.gan_training.nodes import split_gan_evaluation
from cxr_gan.pipelines.gan_training.params import GanTrainingParams
from tests.pipelines.slices import class_counts, parameters, run_slice, shaped


def test_whole_pipeline_in_memory_trains_a_generator_on_the_training_split_only(
    processed, tmp_path
):
    params = parameters()
    pipeline = shaped(create_pipeline, params, tmp_path)  # no variants: the main run alone
    assert {node.name for node in pipeline.nodes} == {
        "split_gan_evaluation",
        "train_conditional_gan",
        "plot_gan_loss_curves",
        "plot_gan_grids_over_epochs",
    }
    assert pipeline.inputs() == {"xray_arrays", "xray_split", "params:gan_training"}
    catalog = run_slice(
        pipeline,
        {"gan_training": params["gan_training"]},
        xray_arrays=processed["xray_arrays"],
        xray_split=processed["xray_split"],
    )

    split = processed["xray_split"]
    gan_split = catalog.load("gan_split")
    training_ids = set(split.loc[split["split"] == "train", "id"])
    assert set(gan_split["id"]) == training_ids  # the test split never reaches the GAN
    assert set(gan_split["role"]) == {"train", "eval"}
    # evaluation_fraction 0.2 of each class's 12 training images
    assert class_counts(gan_split.loc[gan_split["role"] == "eval", "label"]) == {0: 2, 1: 2}

    generator = catalog.load("generator")
    assert tuple(generator.output_shape) == (None, 16, 16, 1)
    latent = np.random.default_rng(0).normal(size=(4, generator.input_shape[0][1]))
    images = np.asarray(generator.predict([latent, np.array([[0], [0], [1], [1]])], verbose=0))
    assert images.dtype == np.float32 and images.min() >= -1 and images.max() <= 1

    history = catalog.load("gan_history")
    assert history["training_images"] == 20 and history["evaluation_images"] == 4
    assert [record["epoch"] for record in history["epochs"]] == [1, 2]
    for record in history["epochs"]:
        assert np.isfinite([record[key] for key in record if key != "epoch"]).all()
        assert 0 <= record["ms_ssim_class_0"] <= 1 and 0 <= record["ms_ssim_class_1"] <= 1
    assert history["settings"]["gan_image_size"] == 16 and history["resumed_from_epoch"] == 0
    # keep_generator: latest_diverse: the last epoch, unless its line read collapsing and an
    # earlier one did not
    real = {int(k): v for k, v in history["real_ms_ssim_class"].items()}
    diverse = [
        r["epoch"]
        for r in history["epochs"]
        if is_diverse({0: r["ms_ssim_class_0"], 1: r["ms_ssim_class_1"]}, real)
    ]
    expected = 2 if 2 in diverse or not diverse else diverse[-1]
    assert history["generator_epoch"] == expected

    grids = catalog.load("gan_sample_grids")
    assert grids["manifest"]["epoch"].tolist() == [1, 2]
    assert grids["manifest"]["filename"].tolist() == ["epoch_00001.png", "epoch_00002.png"]
    for grid in grids["images"]:  # 2 classes x 2 samples of 16 px, with gaps between tiles
        assert grid.dtype == np.uint8 and grid.ndim == 2
        assert grid.shape[0] >= 2 * 16 and grid.shape[1] >= 2 * 16
    assert isinstance(catalog.load("gan_loss_curves"), Figure)
    assert isinstance(catalog.load("gan_grids_over_epochs"), Figure)


def test_each_variant_is_a_namespaced_copy_sharing_the_split(tmp_path):
    """The shape only (training each copy is the session test's job): gan_training.variants
    makes one namespaced training copy per variant, reading the main run's arrays and GAN
    split, and a node comparing every run's grids."""
    params = parameters(gan_training={"variants": {"narrow": {"base_filters": 4}}})
    pipeline = shaped(create_pipeline, params, tmp_path)
    names = {node.name for node in pipeline.nodes}
    assert {"narrow.train_conditional_gan", "compare_gan_variants"} <= names
    assert "narrow.split_gan_evaluation" not in names  # one split judges every run
    trainer = pipeline.filter(node_names=["narrow.train_conditional_gan"]).nodes[0]
    assert trainer.inputs == ["xray_arrays", "gan_split", "params:gan_training"]
    assert trainer.outputs == ["narrow.generator", "narrow.gan_history", "narrow.gan_sample_grids"]
    assert pipeline.inputs() == {"xray_arrays", "xray_split", "params:gan_training"}
    assert {"gan_variant_comparison", "narrow.gan_loss_curves"} <= pipeline.outputs()


def test_the_gan_split_node_holds_out_whole_groups_of_training_images_only():
    """split_gan_evaluation alone: a patient's two images stay together, test rows never enter."""
    split = pd.DataFrame(
        {
            "id": [f"i{k}" for k in range(24)],
            "label": [0] * 12 + [1] * 12,
            "group": [k // 2 for k in range(24)],  # pairs: one patient, two images
            "split": ["test" if k % 6 == 0 else "train" for k in range(24)],
        }
    )
    params = GanTrainingParams(evaluation_fraction=0.25, seed=5)
    gan_split = split_gan_evaluation(split, params)
    assert set(gan_split["id"]) == set(split.loc[split["split"] == "train", "id"])
    assert list(gan_split.columns) == ["id", "label", "group", "role"]
    assert gan_split.groupby("group")["role"].nunique().max() == 1
    held_out = gan_split[gan_split["role"] == "eval"]
    assert 1 <= len(held_out) < len(gan_split) / 2 and set(held_out["label"]) == {0, 1}
    assert split_gan_evaluation(split, params).equals(gan_split)  # seeded

    everything = split_gan_evaluation(split, params.model_copy(update={"evaluation_fraction": 0}))
    assert set(everything["role"]) == {"train"}


def test_the_checkpoint_outlives_a_failed_save_and_goes_once_every_output_is_saved(
    processed, tmp_path
):
    """The project's GanCheckpointHooks with Kedro's own runner: the grids' save fails (a file
    stands where their folder goes, as a full disk or a permission would stop it), so the final
    state stays; the rerun resumes from it without training an epoch and, with every output
    saved, deletes it."""
    checkpoints = tmp_path / "checkpoints"
    params = parameters(gan_training={"checkpoint_dir": str(checkpoints), "checkpoint_every": 1})
    pipeline = shaped(create_pipeline, params, tmp_path / "conf_folder")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the grids' folder would go")
    inputs = {"xray_arrays": processed["xray_arrays"], "xray_split": processed["xray_split"]}
    with pytest.raises((DatasetError, OSError)):
        run_slice(
            pipeline,
            {"gan_training": params["gan_training"]},
            hooks=(GanCheckpointHooks(),),
            gan_sample_grids=ImageSetDataset(filepath=str(blocker / "grids")),
            **inputs,
        )
    (state,) = checkpoints.glob("*/state.npz")  # kept: the grids were never saved
    with np.load(state, allow_pickle=False) as saved:
        assert '"epoch": 2' in str(saved["progress"])  # the final epoch's

    catalog = run_slice(
        pipeline,
        {"gan_training": params["gan_training"]},
        hooks=(GanCheckpointHooks(),),
        gan_sample_grids=ImageSetDataset(filepath=str(tmp_path / "grids")),
        **inputs,
    )
    history = catalog.load("gan_history")
    assert history["resumed_from_epoch"] == 2  # no epoch lost, none trained again
    assert [record["epoch"] for record in history["epochs"]] == [1, 2]
    assert history["checkpoint"] == str(state)
    assert not state.exists()  # every output saved: the state is gone
