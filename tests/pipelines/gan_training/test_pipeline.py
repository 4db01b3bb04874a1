"""gan_training and synthesis run for real through Kedro on tiny phantom data."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from tests.kedro_helpers import run_kedro, use_tiny_phantoms, write_conf

TINY = {
    "data_processing.image_size": 32,
    "gan_training.gan_image_size": 16,
    "gan_training.base_filters": 8,
    "gan_training.epochs": 2,
    "gan_training.sample_every": 1,
    "synthesis.n_images": 5,
    "synthesis.per_class_images": 3,
    "synthesis.quality_sample_sets": 2,
}
PIPELINES = ["data_processing", "gan_training", "synthesis"]


def _tiny_phantoms(project):
    use_tiny_phantoms(project, count_per_class=12)


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.slow
def test_training_and_synthesis_write_versioned_outputs(project_copy):
    _tiny_phantoms(project_copy)
    catalog = run_kedro(project_copy, params=TINY, pipeline_names=PIPELINES)
    history = catalog.load("gan_history")
    assert [r["epoch"] for r in history["epochs"]] == [1, 2]
    # the training split less the GAN's held-out 20% of each class (whole groups)
    gan_split = catalog.load("gan_split")
    train = catalog.load("xray_split").query("split == 'train'")
    assert set(gan_split["id"]) == set(train["id"])
    roles = gan_split.groupby("role").size().to_dict()
    assert history["training_images"] == roles["train"]
    assert history["evaluation_images"] == roles["eval"]
    held_out = gan_split[gan_split["role"] == "eval"].groupby("label").size()
    assert len(held_out) == 2 and (held_out >= 1).all()  # some of each class
    grids = catalog.load("gan_sample_grids")
    assert grids["manifest"]["epoch"].tolist() == [1, 2]

    synthetic = catalog.load("synthetic_xrays")
    assert synthetic["images"].shape == (5, 16, 16)  # the GAN's own size
    manifest = synthetic["manifest"]
    assert manifest["class_folder"].unique().tolist() == ["covid"]
    assert manifest["latent_index"].tolist() == list(range(5))
    assert "generator.keras" in manifest["generator"].iloc[0]
    balanced = catalog.load("synthetic_balanced_xrays")["manifest"]
    assert balanced["class_folder"].value_counts().to_dict() == {"normal": 3, "covid": 3}

    report = catalog.load("gan_quality_report")
    assert report["feature_extractor"] == "random_cnn"
    assert report["n_synthetic_sets"] == 2
    covid = gan_split[gan_split["label"] == 1].groupby("role").size().to_dict()
    assert report["n_training"] == covid["train"] and report["n_evaluation"] == covid["eval"]
    assert report["verdict"].split(":")[0] in {"diverse", "collapsed", "missing modes"}
    for name in ("gan_loss_curves.png", "gan_grids_over_epochs.png", "gan_quality.png"):
        assert list((project_copy / "data/08_reporting").glob(f"{name}/*/{name}")), name

    sets_root = project_copy / "data/07_model_output/synthetic_xrays"
    (first_version,) = list(sets_root.iterdir())
    before = _digest(first_version)
    assert len([n for n in before if n.endswith(".png")]) == 5

    run_kedro(
        project_copy,
        params={**TINY, "synthesis.seed": 99},
        pipeline_names=["synthesis"],
    )
    versions = sorted(sets_root.iterdir())
    assert len(versions) == 2 and versions[0] == first_version
    assert _digest(first_version) == before  # the older set is untouched
    newer = _digest(versions[1])
    assert len([n for n in newer if n.endswith(".png")]) == 5
    assert newer["covid_0000.png"] != before["covid_0000.png"]  # a new seed, new images


@pytest.mark.slow
def test_variants_become_namespaced_pipelines(project_copy):
    _tiny_phantoms(project_copy)
    write_conf(
        project_copy,
        "local/parameters_gan_training.yml",
        {"gan_training": {"variants": {"fast_lr": {"learning_rate": 0.01}}}},
    )
    catalog = run_kedro(project_copy, params=TINY, pipeline_names=PIPELINES)
    variant_history = catalog.load("fast_lr.gan_history")
    assert variant_history["settings"]["learning_rate"] == 0.01
    assert catalog.load("gan_history")["settings"]["learning_rate"] == 0.0002
    assert catalog.load("fast_lr.synthetic_xrays")["images"].shape == (5, 16, 16)
    assert list((project_copy / "data/06_models/variants/fast_lr/generator.keras").iterdir())
    assert list((project_copy / "data/08_reporting").glob("gan_variant_comparison.png/*/*.png"))


def test_bad_variant_override_stops_with_the_key_named(project_copy):
    _tiny_phantoms(project_copy)
    write_conf(
        project_copy,
        "local/parameters_gan_training.yml",
        {"gan_training": {"variants": {"odd": {"gan_image_size": 48}}}},
    )
    with pytest.raises(Exception, match="gan_image_size=48"):
        run_kedro(project_copy, params=TINY, pipeline_names=["gan_training"])
    assert not np.any([p.is_file() for p in (project_copy / "data/06_models").rglob("*.keras")])
