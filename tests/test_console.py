"""What a run prints: plain unwrapped lines when piped, only what each step did, a run estimate
at the start and the actual time beside it at the end, and the classifier's progress lines."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.pipeline import Pipeline, node

from cxr_gan.console import CONSOLE_HANDLER, ConsoleFilter, HarmlessLines, set_up_console
from cxr_gan.node_timing import NodeTimingHooks, parse_node_times
from cxr_gan.progress import EpochTimer, RunPosition
from cxr_gan.run_estimate import (
    FIRST_TENSORFLOW_NODE,
    TIMINGS_FILE,
    count_raw_images,
    estimate_nodes,
    model_seconds,
    parameters_fingerprint,
    timings_key,
)

KEDRO = str(Path(sys.executable).with_name("kedro"))
PARAMETERS = {
    "data_processing": {"test_fraction": 0.2},
    "gan_training": {"epochs": 100, "gan_image_size": 32, "batch_size": 16, "sample_every": 10},
    "classification": {"backbone": "small_cnn", "epochs": 60, "seeds": [42], "input_size": 64},
    "synthesis": {"n_images": 50, "per_class_images": 50, "quality_sample_sets": 2},
}


def _record(name: str, level: int, message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, args or None, None)


def test_the_console_filter_keeps_warnings_and_drops_per_dataset_and_per_node_info():
    console = ConsoleFilter()
    assert not console.filter(_record("kedro.io.data_catalog", logging.INFO, "Loading data"))
    runner = "kedro.runner.sequential_runner"
    assert not console.filter(_record(runner, logging.INFO, "Completed node: %s", "a"))
    assert not console.filter(_record(runner, logging.INFO, "Completed %d out of %d tasks", 6, 47))
    # why a run did less than the whole pipeline (--only-missing-outputs) stays in sight
    assert console.filter(_record(runner, logging.INFO, "Skipping 3 nodes with existing outputs"))
    assert console.filter(_record(runner, logging.INFO, "Running 5 out of 47 nodes"))
    assert not console.filter(_record("kedro.pipeline.node", logging.INFO, "Running node: a"))
    assert console.filter(_record("kedro.io.data_catalog", logging.WARNING, "Dataset odd"))
    assert console.filter(_record("kedro.framework.session", logging.INFO, "Kedro project"))
    coloured = _record("py.warnings", logging.WARNING, "%s", "\x1b[33mtype hints\x1b[0m")
    assert console.filter(coloured) and coloured.getMessage() == "type hints"


def test_a_piped_console_prints_plain_unwrapped_lines_and_a_terminal_gets_rich():
    root, saved = logging.getLogger(), logging.getLogger().handlers[:]
    for name in ("cxr_gan", "kedro"):  # as conf/logging.yml sets them
        logging.getLogger(name).setLevel(logging.INFO)
    stream = io.StringIO()
    plain = logging.StreamHandler(stream)
    plain.set_name(CONSOLE_HANDLER)
    plain.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    root.handlers = [plain]
    try:
        set_up_console(rich=False)
        set_up_console(rich=False)  # twice: still one filter
        assert root.handlers == [plain]
        assert sum(isinstance(f, ConsoleFilter) for f in plain.filters) == 1
        path = "/a/long/path/" + "x" * 300 + "/study_report.html"
        logging.getLogger("cxr_gan.run_record").info("Study report: %s", path)
        logging.getLogger("kedro.io.data_catalog").info("Saving data to contact_sheet")
        assert stream.getvalue() == f"INFO Study report: {path}\n"  # one line, whole
        # a terminal: Kedro's RichHandler instead (only for a handler writing to stdout)
        stdout = logging.StreamHandler(sys.stdout)
        stdout.set_name(CONSOLE_HANDLER)
        root.handlers = [stdout]
        set_up_console(rich=True)
        (rich,) = root.handlers
        assert type(rich).__name__ == "RichHandler" and rich.get_name() == CONSOLE_HANDLER
        assert any(isinstance(f, ConsoleFilter) for f in rich.filters)
    finally:
        root.handlers = saved
    retracing = _record("tensorflow", logging.WARNING, "5 calls triggered tf.function retracing")
    tensorflow_filters = logging.getLogger("tensorflow").filters
    assert not all(f.filter(retracing) for f in tensorflow_filters if isinstance(f, HarmlessLines))


def test_the_estimate_uses_stored_timings_when_the_parameters_match_else_the_model():
    fingerprint = parameters_fingerprint(["x", "params:gan_training"], PARAMETERS, 120)
    assert fingerprint == parameters_fingerprint(["params:gan_training", "x"], PARAMETERS, 120)
    longer = {**PARAMETERS, "gan_training": {**PARAMETERS["gan_training"], "epochs": 200}}
    assert fingerprint != parameters_fingerprint(["params:gan_training"], longer, 120)
    assert fingerprint != parameters_fingerprint(["params:gan_training"], PARAMETERS, 240)
    stored = {"train_conditional_gan": {"seconds": 41.5, "fingerprint": fingerprint}}
    nodes = {"train_conditional_gan": fingerprint, "real.train_and_evaluate": "f" * 12}
    estimate = estimate_nodes(nodes, stored, PARAMETERS, 120)
    assert estimate["train_conditional_gan"].seconds == 41.5
    assert estimate["train_conditional_gan"].source == "stored"
    classifier = estimate["real.train_and_evaluate"]
    assert classifier.source == "model"
    assert classifier.seconds == model_seconds("real.train_and_evaluate", PARAMETERS, 120)
    # other parameters than those timed: the model again, and it scales with the work
    assert (
        estimate_nodes({"train_conditional_gan": "0" * 12}, stored, PARAMETERS, 120)[
            "train_conditional_gan"
        ].source
        == "model"
    )
    gan = model_seconds("train_conditional_gan", PARAMETERS, 120) - FIRST_TENSORFLOW_NODE
    assert model_seconds("train_conditional_gan", longer, 120) == pytest.approx(
        2 * gan + FIRST_TENSORFLOW_NODE
    )
    five_seeds = {
        **PARAMETERS,
        "classification": {**PARAMETERS["classification"], "seeds": [1] * 5},
    }
    assert model_seconds("real.train_and_evaluate", five_seeds, 120) == pytest.approx(
        5 * classifier.seconds
    )
    assert model_seconds("plot_roc_curve", PARAMETERS, 120) < 1.0


def test_the_model_estimates_the_demo_gan_within_a_factor_of_two_of_its_measured_time():
    """docs/benchmarks.md, the demo on a quiet 2-core CPU: train_conditional_gan took 42.7 s."""
    gan = model_seconds("train_conditional_gan", PARAMETERS, 120)
    assert 42.7 / 2 <= gan <= 42.7 * 2


def test_counting_raw_images(tmp_path: Path):
    assert count_raw_images({"type": "cxr_gan.datasets.PhantomXrayDataset"}) == 120
    assert count_raw_images({"type": "PhantomXrayDataset", "count_per_class": 15}) == 30
    (tmp_path / "covid").mkdir()
    for name in ("a.png", "b.JPG", "notes.txt"):
        (tmp_path / "covid" / name).write_bytes(b"x")
    assert count_raw_images({"type": "XrayFolderDataset", "path": str(tmp_path)}) == 2
    # a relative catalog path counts from the project, whatever folder kedro starts in
    relative = {"type": "XrayFolderDataset", "path": "covid"}
    assert count_raw_images(relative, project_path=tmp_path) == 2
    assert count_raw_images({"path": str(tmp_path / "missing")}) == 200
    assert count_raw_images(None) == 200


def _run_nodes(hooks: NodeTimingHooks, pipeline: Pipeline, pauses: dict[str, float]) -> None:
    hooks.before_pipeline_run({"runner": "SequentialRunner"}, pipeline)
    for each in pipeline.nodes:
        hooks.before_node_run(each)
        time.sleep(pauses[each.name])
        hooks.after_node_run(each)
    hooks.after_pipeline_run()


def test_a_second_run_is_estimated_from_the_first_runs_stored_node_times(project_copy, caplog):
    bootstrap_project(project_copy)
    cwd = os.getcwd()
    os.chdir(project_copy)
    try:
        with KedroSession.create(project_path=project_copy, env="demo") as session:
            context = session.load_context()
    finally:
        os.chdir(cwd)
    pipeline = Pipeline(
        [
            node(lambda: 1, None, "a", name="ingest_raw_xrays"),
            node(lambda a: 2, "a", "b", name="train_conditional_gan"),
        ]
    )
    pauses = {"ingest_raw_xrays": 0.1, "train_conditional_gan": 0.5}
    with caplog.at_level(logging.INFO, logger="cxr_gan.node_timing"):
        first = NodeTimingHooks()
        first.after_context_created(context)
        _run_nodes(first, pipeline, pauses)
        assert {each.source for each in first.estimates.values()} == {"model"}
        stored = json.loads((project_copy / "data/demo" / TIMINGS_FILE).read_text())
        timed = stored[timings_key("demo")]
        assert timed["train_conditional_gan"]["seconds"] == pytest.approx(0.5, abs=0.1)
        second = NodeTimingHooks()
        second.after_context_created(context)
        _run_nodes(second, pipeline, pauses)
    assert {each.source for each in second.estimates.values()} == {"stored"}
    lines = [record.getMessage() for record in caplog.records]
    estimate = "Run estimate: about 0m01s for 2 node(s) (2 timed in earlier runs of env demo here)"
    assert estimate in lines
    assert "Running node 2/2: train_conditional_gan" in lines
    pattern = r"^Node train_conditional_gan took 0\.[4-6] s \(2/2 done, about 0m00s left\)$"
    assert re.search(pattern, "\n".join(lines), re.M)
    actual = [line for line in lines if line.startswith("Run took")]
    assert len(actual) == 2
    match = re.fullmatch(
        r"Run took 0m01s; estimated 0m01s at its start \((\d+)% (over|under)\)", actual[1]
    )
    assert match and int(match[1]) <= 25  # the second run: stored times of the same work


def test_the_epoch_timer_gives_seconds_per_epoch_and_an_eta_over_the_seeds_left():
    timer = EpochTimer(10, RunPosition("Experiment real (2/5), seed 1/3", runs_after=2))
    start = timer.started
    assert timer.line(4, now=start + 2.0) == "0.5 s/epoch, ETA 0m13s (this run and 2 more)"
    alone = EpochTimer(10)
    assert alone.line(10, now=alone.started + 5.0) == "0.5 s/epoch, ETA 0m00s"


def test_the_classifier_logs_experiment_seed_seconds_per_epoch_and_eta(caplog):
    import keras

    from cxr_gan.models.classifier import EpochLog

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    position = RunPosition("Experiment real (2/5), seed 1/3", runs_after=2)
    with caplog.at_level(logging.INFO, logger="cxr_gan.models.classifier"):
        model.fit(
            rng.random((8, 4)),
            rng.integers(0, 2, 8),
            epochs=4,
            verbose=0,
            callbacks=[EpochLog(2, 4, "small_cnn classifier", position)],
        )
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2
    pattern = (
        r"Experiment real \(2/5\), seed 1/3: small_cnn classifier: epoch (2|4)/4, accuracy "
        r"[0-9.]+, loss [0-9.]+ \| [0-9.]+ s/epoch, ETA \d+m\d\ds \(this run and 2 more\)"
    )
    assert all(re.fullmatch(pattern, line) for line in lines), lines
    assert lines[1].split(": epoch ")[1].startswith("4/4")


@pytest.mark.slow
def test_the_demo_piped_to_a_file_reads_well(project_copy):
    """`kedro run --env demo` with stdout and stderr in a file, as in CI or `| tee`: at most 300
    lines, no escape codes, no CUDA probing, every step named, the report's path whole on the
    last line; then a second run's estimate comes from the first run's stored timings."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "80"}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a user's shell: settings.py sets it
    log = project_copy / "console.txt"
    with log.open("w") as out:
        run = subprocess.run(
            [KEDRO, "run", "--env", "demo"],
            cwd=project_copy,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=1200,
            check=False,
        )
    text = log.read_text()
    assert run.returncode == 0, text[-3000:]
    lines = text.splitlines()
    assert len(lines) <= 300, len(lines)
    assert "\x1b" not in text
    assert "cuInit" not in text
    assert "Loading data from" not in text and "Saving data to" not in text
    assert "Add type hints" not in text and "tf.function retracing" not in text
    estimate = re.search(
        r"INFO    Run estimate: about \d+m\d\ds for (\d+) node\(s\) \(\1 from a", text
    )
    assert estimate, text[:3000]
    nodes = int(estimate[1])
    assert len(re.findall(rf"INFO    Running node \d+/{nodes}: ", text)) == nodes
    assert len(parse_node_times(text)) == nodes
    epochs = yaml.safe_load((project_copy / "conf/demo/parameters_classification.yml").read_text())[
        "classification"
    ]["epochs"]
    assert re.search(
        rf"Experiment real \(\d+/\d+\), seed 1/1: small_cnn classifier: epoch {epochs}/{epochs}",
        text,
    )
    assert re.search(r"Run took \d+m\d\ds; estimated \d+m\d\ds at its start", text)
    last = lines[-1]
    assert re.fullmatch(r"\d\d:\d\d:\d\d INFO    Study report: \S+/study_report\.html", last)
    report = project_copy / last.split("Study report: ", 1)[1]  # absolute or relative
    assert report.is_file()
    assert report.resolve().is_relative_to((project_copy / "data" / "demo").resolve())
    assert (project_copy / "data" / "demo" / TIMINGS_FILE).is_file()
    again = subprocess.run(
        [KEDRO, "run", "--env", "demo", "--pipelines", "data_processing"],
        cwd=project_copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert again.returncode == 0, again.stdout[-3000:]
    assert re.search(
        r"Run estimate: about \d+m\d\ds for 4 node\(s\) \(4 timed in earlier runs of env demo",
        again.stdout,
    )
