"""Logs and progress: TensorFlow's start-up notices stay out of `kedro run`'s output, while real
warnings still reach the console and info.log."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kedro.pipeline import node

from cxr_gan.node_timing import NodeTimingHooks, parse_node_times
from cxr_gan.pipelines.data_processing.pipeline import create_pipeline as data_processing_pipeline
from cxr_gan.progress import ProgressLog
from cxr_gan.tf_startup import STARTUP_NOISE, stderr_without
from tests.conftest import write_class_folder

KEDRO = str(Path(sys.executable).with_name("kedro"))


def test_stderr_without_drops_only_the_noise_lines(capfd):
    with stderr_without(("oneDNN custom operations are on",)):
        os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on. You may see...\n")
        os.write(2, b"E0000 something real went wrong\n")
        print("a Python warning printed to stderr", file=sys.stderr)
    err = capfd.readouterr().err
    assert "oneDNN" not in err
    assert "E0000 something real went wrong\n" in err
    assert "a Python warning printed to stderr" in err


def test_stderr_without_gives_stderr_back_when_the_block_raises(capfd):
    with pytest.raises(RuntimeError), stderr_without():
        os.write(2, b"kept: the reason it failed\n")
        raise RuntimeError("import failed")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "kept: the reason it failed\nafter\n"


def test_progress_log_reports_counts_rate_and_eta(caplog):
    logger = logging.getLogger("cxr_gan.test_progress")
    progress = ProgressLog(4, "Decoding X-rays", logger, every_seconds=3600, unit="files")
    with caplog.at_level(logging.INFO, logger="cxr_gan"):
        for _ in range(4):
            progress.update()
    assert len(caplog.records) == 1  # throttled: only the final line within the hour
    assert caplog.records[0].getMessage().startswith("Decoding X-rays: 4/4 files (")
    assert "ETA 0m00s" in caplog.records[0].getMessage()


def _bare_tensorflow_import_stderr() -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen(
        [sys.executable, "-c", "import tensorflow"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )


@pytest.mark.slow
def test_kedro_run_is_free_of_tensorflow_start_up_noise_but_shows_real_warnings(project_copy):
    raw = project_copy / "data" / "01_raw"
    write_class_folder(raw, "normal", 12, seed=1)
    write_class_folder(raw, "covid", 12, seed=2)
    (raw / "covid" / "broken.png").write_bytes(b"not an image")  # warned about and skipped
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "250"}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a user's shell: settings.py sets it
    bare = _bare_tensorflow_import_stderr()  # in parallel: what TF prints without our filter
    run = subprocess.run(
        [
            KEDRO,
            "run",
            "--pipelines",
            "data_processing",
            "--params",
            "data_processing.image_size=32",
        ],
        cwd=project_copy,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=500,
    )
    bare_stderr = bare.communicate(timeout=300)[1]
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    for noise in STARTUP_NOISE:
        assert noise not in output, noise
    assert "I0000 " not in run.stderr
    assert "broken.png" in output  # a real warning still reaches the console
    log = (project_copy / "info.log").read_text()
    assert re.search(r"WARNING - Skipping \S+/covid/broken\.png: not an image", log)
    assert "Decoding X-rays: 25/25 files" in log  # progress lines land in info.log
    # every node's wall time, as it ends, and the slowest at the run's end (console and file)
    nodes = {each.name for each in data_processing_pipeline().nodes}
    times = parse_node_times(log)
    assert set(times) == nodes
    assert all(seconds >= 0 for seconds in times.values())
    assert re.search(rf"Run finished: {len(nodes)} node\(s\) took [0-9.]+ s; slowest: ", log)
    assert set(parse_node_times(output)) == nodes  # COLUMNS=250: the console's lines too
    if not any(noise in bare_stderr for noise in STARTUP_NOISE):
        pytest.skip("this TensorFlow prints no start-up notices, so the filter is untested here")


def test_node_timing_logs_each_node_and_the_slowest_at_the_end(caplog):
    hooks = NodeTimingHooks()
    fast, slow = node(lambda: 1, None, "a", name="fast"), node(lambda: 2, None, "b", name="slow")
    with caplog.at_level(logging.INFO, logger="cxr_gan.node_timing"):
        hooks.before_pipeline_run()
        for each, pause in ((fast, 0.0), (slow, 0.05)):
            hooks.before_node_run(each)
            time.sleep(pause)
            hooks.after_node_run(each)
        hooks.on_pipeline_error()
    text = "\n".join(record.getMessage() for record in caplog.records)
    times = parse_node_times(text)
    assert list(times) == ["fast", "slow"]
    assert times["slow"] >= 0.05 > times["fast"]
    assert re.search(
        r"Run stopped: 2 node\(s\) took [0-9.]+ s; slowest: slow [0-9.]+ s, fast", text
    )
