"""Kedro project settings: configuration layout and offline-by-default behaviour."""

import os

from cxr_gan.console import set_up_console
from cxr_gan.tf_startup import quiet_tensorflow_startup

# Plain unwrapped lines when stdout is not a terminal, Rich in one; Kedro's per-dataset and
# per-node lines only in info.log; harmless third-party warnings silenced (cxr_gan.console)
set_up_console()

# TensorFlow's C++ start-up chatter (CPU instruction sets, CUDA probing) is noise for users; real
# Python-side warnings still reach the log. A user's own setting wins (TF_CPP_MIN_LOG_LEVEL=0
# shows everything). The few lines TF prints before it reads the variable are filtered at import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
quiet_tensorflow_startup()
# MLflow (kedro-mlflow, when installed) logs through conf/logging.yml like everything else,
# instead of its own INFO handler on stderr
os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # conf/local and conf/demo change single keys (gan_training.epochs) without restating the
    # whole section; Kedro's default would replace every top-level key they mention
    "merge_strategy": {"parameters": "soft"},
}


# Parameters, then what the run's nodes need from the machine, are checked before any node runs
# (hooks.py); optional MLflow tracking (extra `mlflow`, docs/tracking.md) is a no-op without an
# active run.
from cxr_gan.hooks import GanCheckpointHooks, ParameterCheckHooks, PreflightHooks  # noqa: E402
from cxr_gan.lineage import LineageHooks  # noqa: E402
from cxr_gan.node_timing import NodeTimingHooks  # noqa: E402
from cxr_gan.run_record import RunRecordHooks  # noqa: E402
from cxr_gan.session import NamespaceSession  # noqa: E402
from cxr_gan.tracking import MlflowTracking  # noqa: E402

# LineageHooks: every versioned output's lineage.json, and the refusal of inputs derived from
# other data (docs/robustness.md). RunRecordHooks: the study report's input versions, and the
# paths of what a run wrote, printed as its last lines; GanCheckpointHooks: a GAN's checkpoint
# state is deleted only after the generator, history and grids it trained are saved
HOOKS = (
    MlflowTracking(),
    ParameterCheckHooks(),
    LineageHooks(),  # registered before PreflightHooks: among tryfirst hooks, called after it
    PreflightHooks(),
    NodeTimingHooks(),
    RunRecordHooks(),
    GanCheckpointHooks(),
)
# `kedro run --namespaces real` also runs the shared nodes that slice reads from memory
SESSION_CLASS = NamespaceSession
