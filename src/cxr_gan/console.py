"""What `kedro run` prints: plain unwrapped lines when stdout is not a terminal, Rich in one, and
in both only the lines that say what a step did.

conf/logging.yml gives the console a plain `logging.StreamHandler` on stdout (one line per
message, no colour codes, nothing wrapped at 80 columns, so a path printed at the end of a run
can be copied from a pipe, `tee`, CI or a log file). Kedro configures logging from that file
when it is imported, before the project's code runs, and accepts only classes from `logging`
and `kedro.logging` there; so `set_up_console`, called from settings.py, then:

- swaps that handler for Kedro's RichHandler (colours, rich tracebacks) when stdout is a
  terminal or a Jupyter notebook;
- filters the console (not info.log, which keeps every line): Kedro's per-dataset
  "Loading data from" / "Saving data to" lines and its per-node "Running node" / "Completed
  node" / "Completed n out of N tasks" lines (NodeTimingHooks prints one line as each node
  starts and one as it ends instead);
- strips terminal escape codes that a message carries itself (MLflow colours its warnings);
- silences third-party warnings known to be harmless here (HARMLESS_WARNINGS,
  HARMLESS_LOG_LINES), and sends every other Python warning to the log (logging.captureWarnings).

A logging config of your own (KEDRO_LOGGING_CONFIG) is left as it is, except that a console
handler named `console` gets the same treatment.
"""

from __future__ import annotations

import logging
import re
import sys
import warnings
from typing import Any

CONSOLE_HANDLER = "console"  # the handler's name in conf/logging.yml

# INFO lines of these loggers stay out of the console (info.log keeps them): one per dataset
# loaded or saved, one per node started; warnings and errors from them still show.
QUIET_INFO_LOGGERS: tuple[str, ...] = (
    "kedro.io.data_catalog",
    "kedro.pipeline.node",
)
# the runner's routine INFO lines (two per node, the sync-mode advice, the end), by how their
# message starts; its other lines stay ("Skipping 3 nodes with existing outputs: ...", "Running
# 5 out of 47 nodes": why a run did less than the whole pipeline)
ROUTINE_RUNNER_LINES: tuple[str, ...] = (
    "Completed ",  # "Completed node: a", "Completed 6 out of 47 tasks"
    "Using synchronous mode",
    "Asynchronous mode is enabled",
    "Pipeline execution completed",
)

# (message regex, category, module regex) of Python warnings that ask nothing of the user
HARMLESS_WARNINGS: tuple[tuple[str, type[Warning], str], ...] = (
    # Kedro 1.7 calls OmegaConf and pydantic functions their newer releases deprecate
    (r"register_new_resolver", UserWarning, ""),
    (r"Accessing the 'model_fields' attribute", Warning, ""),
)
# (logger, message substring) of log lines that are harmless here
HARMLESS_LOG_LINES: tuple[tuple[str, str], ...] = (
    # each classifier is a new Keras model whose predict function is traced once; TensorFlow
    # counts them as retracing
    ("tensorflow", "triggered tf.function retracing"),
    # MLflow, while kedro-mlflow loads, about kedro-mlflow's own pyfunc model class; MLflow
    # raises it inside its own catch_warnings("once"), which no warnings filter overrides, so it
    # is dropped on its way through logging (logging.captureWarnings)
    ("py.warnings", "Add type hints to the `predict` method"),
)

ESCAPE_CODES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


class ConsoleFilter(logging.Filter):
    """Drops the INFO lines of QUIET_INFO_LOGGERS and the runner's ROUTINE_RUNNER_LINES; strips
    escape codes from every message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.INFO:
            if record.name.startswith(QUIET_INFO_LOGGERS):
                return False
            if record.name.startswith("kedro.runner") and record.getMessage().startswith(
                ROUTINE_RUNNER_LINES
            ):
                return False
        if isinstance(record.msg, str) and "\x1b" in record.msg:
            record.msg = ESCAPE_CODES.sub("", record.msg)
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(
                ESCAPE_CODES.sub("", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


class HarmlessLines(logging.Filter):
    """Drops a logger's records whose message contains one of `texts`."""

    def __init__(self, texts: tuple[str, ...]) -> None:
        super().__init__()
        self.texts = texts

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in self.texts)


def wants_rich() -> bool:
    """True when stdout is an interactive terminal or a Jupyter notebook (as Rich decides,
    honouring FORCE_COLOR, TTY_COMPATIBLE, TERM=dumb), False for a pipe, a file or CI."""
    from rich.console import Console

    console = Console()
    return bool(console.is_terminal or console.is_jupyter)


def _rich_handler(plain: logging.Handler) -> logging.Handler:
    from kedro.logging import RichHandler

    rich = RichHandler(rich_tracebacks=True)
    rich.set_name(plain.get_name())
    rich.setLevel(plain.level)
    return rich


def set_up_console(rich: bool | None = None) -> None:
    """Adjust the logging Kedro configured from conf/logging.yml (see the module's docstring).

    rich: None decides by wants_rich(); True/False force it (tests). Safe to call again: a
    handler already adjusted is left alone.
    """
    for message, category, module in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)
    logging.captureWarnings(True)
    for name in {name for name, _ in HARMLESS_LOG_LINES}:
        logger = logging.getLogger(name)
        if not any(isinstance(f, HarmlessLines) for f in logger.filters):
            logger.addFilter(HarmlessLines(tuple(t for n, t in HARMLESS_LOG_LINES if n == name)))
    root = logging.getLogger()
    for index, handler in enumerate(list(root.handlers)):
        if handler.get_name() != CONSOLE_HANDLER:
            continue
        if any(isinstance(f, ConsoleFilter) for f in handler.filters):
            continue  # already set up
        replacement = handler
        use_rich = wants_rich() if rich is None else rich
        if use_rich and _writes_to_stdout(handler):
            replacement = _rich_handler(handler)
            root.handlers[index] = replacement
            handler.close()
        replacement.addFilter(ConsoleFilter())


def _writes_to_stdout(handler: Any) -> bool:
    return getattr(handler, "stream", None) in (sys.stdout, sys.__stdout__)
