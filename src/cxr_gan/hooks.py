"""Project hooks: a run's parameters, the pipelines' shape and its preconditions are checked
before any node runs.

- `after_context_created` (before the pipelines are built or any plugin sets up): every section
  of the merged parameters (files + `--params`) against the pipelines' pydantic models, one line
  per problem (cxr_gan.pipelines.parameter_check); then the keys that shape the pipelines
  (experiments, shortcut probe, GAN variants) against what the pipelines are built from
  (cxr_gan.pipelines.shape), so a session whose own parameters would be ignored stops instead.
- `before_pipeline_run` (the pipeline and catalog are known, no node has run): what the nodes
  about to run need from the machine, in the same style (cxr_gan.preflight).
- `after_node_run` and `after_dataset_saved`: a GAN's final checkpoint is deleted only once
  every output of the node that trained it is saved (GanCheckpointHooks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from cxr_gan.pipelines.parameter_check import InvalidParametersError, check_parameters
from cxr_gan.pipelines.shape import configured_shape, pipeline_shape, shape_differences
from cxr_gan.preflight import check_preflight

SHAPE_HINT = (
    "these keys decide which pipeline copies exist, and Kedro builds the pipelines before a "
    "session's parameters exist: outside the `kedro` command line (a KedroSession made in "
    "Python, a notebook) they are read from conf/base and conf/$KEDRO_ENV (else conf/local). "
    "Set them in those files (and KEDRO_ENV to the session's env), or run `kedro run --env "
    "<env> --params ...`, which reads both"
)


class ParameterCheckHooks:
    """Stops a run with invalid parameters before any pipeline is built or node runs."""

    @hook_impl(tryfirst=True)  # before plugins (kedro-mlflow) create runs or folders
    def after_context_created(self, context: Any) -> None:
        params = context.config_loader["parameters"]  # files merged with --params
        check_parameters(params)
        problems = shape_differences(configured_shape(), pipeline_shape(params))
        if problems:
            raise InvalidParametersError([*problems, SHAPE_HINT])


class PreflightHooks:
    """Stops a run whose nodes would fail on the machine (missing weights offline, a missing
    folder, no room or no write access for outputs, a missing extra) before any node runs."""

    def __init__(self) -> None:
        self._params: dict[str, Any] = {}

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._params = dict(context.config_loader["parameters"])  # this session's, merged

    @hook_impl(tryfirst=True)  # before plugins (kedro-mlflow) start runs or write anything
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        check_preflight(pipeline, catalog, self._params, run_params)


TRAINING_NODE = "train_conditional_gan"  # gan_training's node (and each variant's copy)
HISTORY_OUTPUT = "gan_history"  # its output naming the final checkpoint ("checkpoint")


class GanCheckpointHooks:
    """Deletes a GAN's final checkpoint state only once Kedro has saved every output of the node
    that trained it (generator, history, grids), so a run killed between the end of training
    and the saves, or a save that fails (full disk, permissions), resumes from the final epoch
    instead of losing the training. Works per process, so under ParallelRunner too (a node's
    outputs are saved in the process that ran it)."""

    def __init__(self) -> None:
        self._waiting: dict[str, tuple[set[str], str]] = {}  # node: (outputs unsaved, state)

    @hook_impl
    def after_node_run(self, node: Any, outputs: dict[str, Any]) -> None:
        if node.name.rsplit(".", 1)[-1] != TRAINING_NODE:
            return
        history = next(
            (v for k, v in outputs.items() if k.rsplit(".", 1)[-1] == HISTORY_OUTPUT), None
        )
        state = (history or {}).get("checkpoint") if isinstance(history, dict) else None
        if state:
            self._waiting[node.name] = (set(node.outputs), state)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, node: Any) -> None:
        waiting = self._waiting.get(node.name)
        if waiting is None:
            return
        waiting[0].discard(dataset_name)
        if not waiting[0]:
            del self._waiting[node.name]
            from cxr_gan.models.gan_checkpoints import discard_checkpoint  # TF: loaded by now

            discard_checkpoint(Path(waiting[1]).parent)
