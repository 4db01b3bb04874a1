"""Optional MLflow tracking: metrics, plots and models of a run go to the active mlflow run.

kedro-mlflow (the `mlflow` extra) starts one mlflow run per `kedro run` and logs its parameters;
this hook adds what the study produces, read from the data each node saves. It does nothing
unless mlflow is already imported and a run is active: without the extra nothing changes and
mlflow (seconds to import) is never imported.
"""

from __future__ import annotations

import logging
import numbers
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)


def _anchored_sqlite_uri(uri: Any, project_path: Path) -> Any:
    """sqlite:///relative/path -> sqlite:////<project>/relative/path; anything else unchanged.

    kedro-mlflow makes plain relative paths project-relative but passes URIs through, and SQLite
    would then create the database under whatever folder `kedro run` was started from.
    """
    prefix = "sqlite:///"
    if not isinstance(uri, str) or not uri.startswith(prefix):
        return uri
    path = uri[len(prefix) :]
    if not path or path == ":memory:" or Path(path).is_absolute():
        return uri
    return prefix + (Path(project_path) / path).as_posix()


def _register_kedro_mlflow_resolver() -> None:
    """The `km.random_name` resolver, as kedro-mlflow registers it in its own hook."""
    from omegaconf import OmegaConf

    try:
        from kedro_mlflow.config.resolvers import resolve_random_name
    except ImportError:  # moved in another kedro-mlflow release: mlflow.yml cannot use it then
        return
    if not OmegaConf.has_resolver("km.random_name"):
        OmegaConf.register_new_resolver("km.random_name", resolve_random_name, use_cache=True)


class DisabledAutologNoise(logging.Filter):
    """Drops MLflow's "Exception raised while enabling autologging for ..." warning while
    autologging is off (mlflow.yml: disable_autologging). kedro-mlflow still registers MLflow's
    post-import hooks; TensorFlow is first imported inside a training node (start-up imports no
    TensorFlow), so the hook fires halfway through Keras' own import and warns of a circular
    import that concerns autologging only, which is off."""

    PREFIX = "Exception raised while enabling autologging"

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.PREFIX)


def quiet_disabled_autologging() -> None:
    """Install DisabledAutologNoise on MLflow's logger once."""
    fluent = logging.getLogger("mlflow.tracking.fluent")
    if not any(isinstance(f, DisabledAutologNoise) for f in fluent.filters):
        fluent.addFilter(DisabledAutologNoise())


class MlflowTracking:
    """Kedro hooks that log the study's results to the active mlflow run, if there is one."""

    @hook_impl(tryfirst=True)  # before kedro-mlflow's own hook reads mlflow.yml
    def after_context_created(self, context: Any) -> None:
        """Anchor a relative SQLite tracking URI in mlflow.yml at the project root."""
        if "kedro_mlflow" not in sys.modules:
            return  # the plugin is not installed (or disabled): mlflow.yml means nothing
        _register_kedro_mlflow_resolver()  # mlflow.yml may use it; kedro-mlflow adds it later
        loader = context.config_loader
        if "mlflow" not in loader.config_patterns:
            loader.config_patterns["mlflow"] = ["mlflow*", "mlflow*/**", "**/mlflow*"]
        try:
            conf = loader["mlflow"]
        except Exception:  # noqa: BLE001 - missing or broken: kedro-mlflow reports it
            return
        disabled = ((conf.get("tracking") or {}).get("disable_tracking") or {}).get(
            "disable_autologging", True
        )
        if disabled:
            quiet_disabled_autologging()
        server = conf.get("server") or {}
        for key in ("mlflow_tracking_uri", "mlflow_registry_uri"):
            if server.get(key):
                server[key] = _anchored_sqlite_uri(server[key], context.project_path)
        if server:
            conf["server"] = server
            loader["mlflow"] = conf  # an explicit value wins over the files from now on

    @hook_impl
    def before_node_run(self, node: Any, inputs: dict[str, Any]) -> None:
        """Log typed parameters one key each (gan_training.epochs, ...).

        Kedro 1.7 hands nodes pydantic models, not dicts, so kedro-mlflow's flatten option
        does not apply and logs each section as one long repr."""
        mlflow = sys.modules.get("mlflow")
        if mlflow is None or mlflow.active_run() is None:
            return
        params: dict[str, str] = {}
        for name, value in inputs.items():
            if name.startswith("params:") and hasattr(value, "model_dump"):
                params.update(_flat_params(value.model_dump(mode="json"), name[len("params:") :]))
        if params:
            try:
                mlflow.log_params(params)
            except Exception as error:  # noqa: BLE001 - e.g. a value changed within one run
                logger.warning("Could not log the parameters of %s to mlflow: %s", node, error)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node: Any) -> None:
        """Log what was just saved, if it is a report, a plot, a sample grid or a model."""
        mlflow = sys.modules.get("mlflow")  # a run can only be active if mlflow was imported
        if mlflow is None or mlflow.active_run() is None:
            return
        namespace, _, base = dataset_name.rpartition(".")
        prefix = f"{namespace}." if namespace else ""
        try:
            if _is_figure_data(data):
                _log_figures(mlflow, data, "plots/" + dataset_name.replace(".", "/"))
            elif base == "gan_quality_report":
                _log_metrics(mlflow, _numeric_leaves(data, f"{prefix}gan_quality"))
            elif base == "gan_history":
                _log_gan_history(mlflow, data, f"{prefix}gan")
            elif base == "classification_evaluation":
                _log_metrics(mlflow, _evaluation_metrics(data, namespace or "classification"))
            elif base == "external_evaluation":
                _log_metrics(mlflow, _numeric_leaves(data, f"{prefix}external"))
            elif base == "classification_comparison":
                _log_metrics(mlflow, _numeric_leaves(data, "comparison"))
            elif base == "data_quality_report":
                _log_metrics(mlflow, _numeric_leaves(data, "data_quality"))
            elif base == "gan_sample_grids" and isinstance(data, dict):
                _log_images(mlflow, data, dataset_name.replace(".", "/"))
            elif base == "study_report" and isinstance(data, str):  # the self-contained page
                mlflow.log_text(data, "study_report.html")
            elif base in ("generator", "classifier") and hasattr(data, "save"):
                _log_keras_model(mlflow, data, "models/" + dataset_name.replace(".", "/"))
        except Exception as error:  # noqa: BLE001 - tracking must never lose a finished result
            logger.warning("Could not log %s to mlflow: %s", dataset_name, error)


# Settings and bookkeeping, not results: they are parameters or say how a metric was computed.
_NOT_METRICS = frozenset(
    {"settings", "seed", "seeds", "feature_seed", "n_bootstrap", "n_resamples_used"}
    | {"confidence", "threshold", "feature_dim", "kid_subsets", "kid_subset_size", "scales"}
    | {"filter_size", "max_pairs", "label"}
)


def _numeric_leaves(report: Any, prefix: str) -> dict[str, float]:
    """{"a": {"b": 0.5, "note": "..."}, "c": [..]} -> {"<prefix>.a.b": 0.5}: numbers only.

    Lists (per-image values, bootstrap draws) are skipped: mlflow metrics are scalars."""
    metrics: dict[str, float] = {}
    if isinstance(report, dict):
        for key, value in report.items():
            if str(key) not in _NOT_METRICS:
                metrics.update(_numeric_leaves(value, f"{prefix}.{key}"))
    elif isinstance(report, numbers.Real) and not isinstance(report, bool):
        metrics[prefix] = float(report)
    return metrics


def _flat_params(value: Any, key: str) -> dict[str, str]:
    """{"a": {"b": 1}} under "p" -> {"p.a.b": "1"}; lists stay one value."""
    if isinstance(value, dict) and value:
        flat: dict[str, str] = {}
        for child, item in value.items():
            flat.update(_flat_params(item, f"{key}.{child}"))
        return flat
    return {key: str(value)}


def _evaluation_metrics(evaluation: dict[str, Any], experiment: str) -> dict[str, float]:
    """One experiment's metrics, named after it: real.across_seeds.roc_auc.mean,
    real.seed1.roc_auc.value (with .ci_low, .ci_high), real.training_set.synthetic, ..."""
    metrics = _numeric_leaves(evaluation, experiment)
    for run in evaluation.get("per_seed") or []:
        metrics.update(_numeric_leaves(run.get("metrics"), f"{experiment}.seed{run.get('seed')}"))
    return metrics


def _log_metrics(mlflow: Any, metrics: dict[str, float], step: int = 0) -> None:
    """Log in batches (one database transaction each, mlflow takes at most 1000 per batch)."""
    from mlflow.entities import Metric

    timestamp = int(time.time() * 1000)
    entries = [Metric(key, value, timestamp, step) for key, value in metrics.items()]
    _log_batch(mlflow, entries)


def _log_batch(mlflow: Any, entries: list[Any]) -> None:
    client = mlflow.MlflowClient()
    run_id = mlflow.active_run().info.run_id
    for start in range(0, len(entries), 1000):
        client.log_batch(run_id, metrics=entries[start : start + 1000])


def _log_gan_history(mlflow: Any, history: dict[str, Any], prefix: str) -> None:
    """Per-epoch losses and discriminator outputs as metric curves (step = epoch)."""
    from mlflow.entities import Metric

    timestamp = int(time.time() * 1000)
    entries = []
    for row in history.get("epochs") or []:
        step = int(row.get("epoch", 0))
        for key, value in row.items():
            if key != "epoch" and isinstance(value, numbers.Real) and not isinstance(value, bool):
                entries.append(Metric(f"{prefix}.{key}", float(value), timestamp, step))
    _log_batch(mlflow, entries)


def _is_figure_data(data: Any) -> bool:
    """A matplotlib Figure, or the list or dict of them that MatplotlibDataset also saves."""
    if "matplotlib" not in sys.modules:
        return False
    from matplotlib.figure import Figure

    if isinstance(data, dict):
        data = list(data.values())
    if isinstance(data, list):
        return bool(data) and all(isinstance(item, Figure) for item in data)
    return isinstance(data, Figure)


def _log_figures(mlflow: Any, data: Any, path: str) -> None:
    """plots/<dataset path>.png, or plots/<dataset path>/<key>.png for several figures."""
    if isinstance(data, dict):
        for key, figure in data.items():
            mlflow.log_figure(figure, f"{path}/{key}.png")
    elif isinstance(data, list):
        for index, figure in enumerate(data):
            mlflow.log_figure(figure, f"{path}/{index}.png")
    else:
        mlflow.log_figure(data, f"{path}.png")


def _log_images(mlflow: Any, data: dict[str, Any], artifact_path: str) -> None:
    """An image set (e.g. GAN sample grids over epochs) as PNGs under one artifact folder."""
    import cv2  # as ImageSetDataset writes them

    with tempfile.TemporaryDirectory() as folder:
        for name, image in zip(data["manifest"]["filename"], data["images"], strict=True):
            cv2.imwrite(str(Path(folder) / Path(str(name)).name), np.asarray(image))
        mlflow.log_artifacts(folder, artifact_path)


def _log_keras_model(mlflow: Any, model: Any, artifact_path: str) -> None:
    """The model as the same .keras file the catalog writes (keras.saving.load_model reads it)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{Path(artifact_path).name}.keras"
        model.save(path)
        mlflow.log_artifact(str(path), str(Path(artifact_path).parent))
