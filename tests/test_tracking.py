"""MLflow tracking through kedro-mlflow: one tiny real run, then what the store holds."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("kedro_mlflow", reason="the optional `mlflow` extra is not installed")

import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
from kedro.framework.session import KedroSession  # noqa: E402
from kedro.framework.startup import bootstrap_project  # noqa: E402
from mlflow import MlflowClient  # noqa: E402

from cxr_gan.data.phantom import write_phantom_folder  # noqa: E402
from cxr_gan.tracking import MlflowTracking, _anchored_sqlite_uri  # noqa: E402
from tests.kedro_helpers import TINY_STUDY, run_kedro, use_tiny_phantoms, write_conf  # noqa: E402

# As small as the study gets and still runs every pipeline: one experiment, one seed.
TINY = TINY_STUDY


def _artifacts(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    """Every file path in the run's artifact tree."""
    files: set[str] = set()
    for entry in client.list_artifacts(run_id, path):
        files |= _artifacts(client, run_id, entry.path) if entry.is_dir else {entry.path}
    return files


@pytest.mark.slow
def test_a_run_logs_params_metrics_plots_and_models(project_copy, tmp_path):
    use_tiny_phantoms(project_copy, count_per_class=12)
    write_phantom_folder(tmp_path / "external", count_per_class=4, size=40, seed=99)
    write_conf(  # external validation too, so its metrics show up under the experiment
        project_copy,
        "local/catalog_external.yml",
        {
            "external_xrays": {
                "type": "cxr_gan.datasets.XrayFolderDataset",
                "path": str(tmp_path / "external"),
            }
        },
    )
    write_conf(  # the experiment names shape the pipeline, so they come from a file
        project_copy,
        "local/parameters_classification.yml",
        {"classification": {"experiments": ["real"], "shortcut_probe": False}},
    )
    catalog = run_kedro(project_copy, params=TINY)

    assert mlflow.active_run() is None  # closed, so the next session starts its own run
    database = project_copy / "mlruns" / "mlflow.db"
    assert database.is_file()
    client = MlflowClient(f"sqlite:///{database}")
    experiment = client.get_experiment_by_name("cxr-gan")
    assert experiment.artifact_location == (project_copy / "mlruns/artifacts").as_uri()
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "__default__"

    params = run.data.params
    assert params["gan_training.epochs"] == "2"  # the --params value, one key each
    assert params["classification.backbone"] == "small_cnn"
    assert params["data_processing.image_size"] == "32"

    metrics = run.data.metrics
    quality = [key for key in metrics if key.startswith("gan_quality.")]
    assert {"gan_quality.kid_mean", "gan_quality.fid"} <= set(quality), quality
    assert metrics["gan_quality.n_synthetic"] == 4
    auc = metrics["real.seed1.roc_auc.value"]
    assert metrics["real.seed1.roc_auc.ci_low"] <= auc <= metrics["real.seed1.roc_auc.ci_high"]
    assert "real.across_seeds.roc_auc.mean" in metrics
    assert metrics["real.training_set.synthetic"] == 0
    assert metrics["real.external.images"] == 8
    assert "real.external.metrics.roc_auc.value" in metrics
    usable = catalog.load("data_quality_report")["totals"]["usable"]
    assert metrics["data_quality.totals.usable"] == usable >= 20  # of 24 phantoms
    assert not [key for key in metrics if ".settings." in key]  # parameters, not results
    losses = client.get_metric_history(run.info.run_id, "gan.g_loss")
    assert sorted(point.step for point in losses) == [1, 2]  # one point per GAN epoch

    files = _artifacts(client, run.info.run_id)
    assert {
        "plots/gan_loss_curves.png",
        "plots/gan_quality_figure.png",
        "plots/real/roc_curve.png",
        "gan_sample_grids/epoch_00002.png",
        "models/generator.keras",
        "models/real/classifier.keras",
    } <= files, sorted(files)
    local = Path(client.download_artifacts(run.info.run_id, "plots/real/roc_curve.png"))
    assert local.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = Path(client.download_artifacts(run.info.run_id, "study_report.html")).read_text()
    assert "<td>external folder</td>" in page  # the report, with the external set's metrics

    import keras

    generator_file = client.download_artifacts(run.info.run_id, "models/generator.keras")
    generator = keras.saving.load_model(generator_file, compile=False, safe_mode=True)
    assert generator.count_params() > 0


def test_the_store_lands_in_the_project_wherever_kedro_starts(project_copy, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cwd = os.getcwd()
    os.chdir(elsewhere)
    try:
        bootstrap_project(project_copy)
        with KedroSession.create(project_path=project_copy) as session:
            context = session.load_context()
    finally:
        os.chdir(cwd)
    uri = f"sqlite:///{(project_copy / 'mlruns' / 'mlflow.db').as_posix()}"
    assert context.mlflow.server.mlflow_tracking_uri == uri
    assert (project_copy / "mlruns" / "mlflow.db").is_file()
    assert not list(elsewhere.iterdir())


def test_the_demo_keeps_its_store_under_its_own_data_root(project_copy, monkeypatch):
    """conf/demo/globals.yml's mlruns_root: the demo's runs never join a study's store."""
    # as `kedro run --env demo` names it: pipelines/shape.py's own config loader (issue 26 removes
    # it) re-registers Kedro's process-wide `globals` resolver for the env it reads
    monkeypatch.setenv("KEDRO_ENV", "demo")
    bootstrap_project(project_copy)
    with KedroSession.create(project_path=project_copy, env="demo") as session:
        context = session.load_context()
    database = project_copy / "data" / "demo" / "mlruns" / "mlflow.db"
    assert context.mlflow.server.mlflow_tracking_uri == f"sqlite:///{database.as_posix()}"
    assert database.is_file()
    create = context.mlflow.tracking.experiment.create_experiment_kwargs
    assert create.artifact_location == (project_copy / "data/demo/mlruns/artifacts").as_uri()


def test_relative_sqlite_uris_are_anchored_and_others_kept():
    project = Path("/p")
    assert _anchored_sqlite_uri("sqlite:///mlruns/mlflow.db", project) == (
        "sqlite:////p/mlruns/mlflow.db"
    )
    for unchanged in ("sqlite:////abs/mlflow.db", "sqlite:///:memory:", "http://host:5000", None):
        assert _anchored_sqlite_uri(unchanged, project) == unchanged


def test_without_an_active_run_the_hook_logs_nothing_and_raises_nothing(tmp_path):
    assert mlflow.active_run() is None
    figure, axis = plt.subplots()
    axis.plot([0, 1], [1, 0])
    hooks = MlflowTracking()
    before = set(Path.cwd().iterdir())
    hooks.before_node_run(node="n", inputs={"params:x": {"a": 1}})
    hooks.after_dataset_saved("gan_quality_report", {"kid_mean": 0.1}, node=None)
    hooks.after_dataset_saved("real.roc_curve", figure, node=None)
    hooks.after_dataset_saved(
        "gan_sample_grids",
        {"images": np.zeros((1, 8, 8), np.uint8), "manifest": {"filename": ["a.png"]}},
        node=None,
    )
    plt.close(figure)
    assert mlflow.active_run() is None
    assert set(Path.cwd().iterdir()) == before  # no mlruns/ or mlflow.db appeared


def test_disabled_autologging_noise_is_dropped_and_other_warnings_kept(caplog):
    import logging

    from cxr_gan.tracking import quiet_disabled_autologging

    quiet_disabled_autologging()
    quiet_disabled_autologging()  # once only
    fluent = logging.getLogger("mlflow.tracking.fluent")
    assert sum(type(f).__name__ == "DisabledAutologNoise" for f in fluent.filters) == 1
    with caplog.at_level("WARNING", logger="mlflow.tracking.fluent"):
        fluent.warning(
            "Exception raised while enabling autologging for %s: %s", "tensorflow", "circular"
        )
        fluent.warning("Something else went wrong")
    messages = [record.getMessage() for record in caplog.records]
    assert messages == ["Something else went wrong"]
