"""tf.distribute for real on this CPU: 2-replica MirroredStrategy over two logical CPU devices and a
2-process MultiWorkerMirroredStrategy cluster on 127.0.0.1, each in fresh processes (device layout
and collective ops must be fixed before TensorFlow initialises)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from cxr_gan.models.distribution import chief_path, is_chief, make_strategy
from cxr_gan.models.distribution_params import DistributionConfigError
from cxr_gan.pipelines.classification.params import ClassificationParams
from cxr_gan.pipelines.gan_training.params import GanTrainingParams
from tests.conftest import PROJECT_ROOT
from tests.kedro_helpers import run_kedro, stop_process_group, use_tiny_phantoms

SCRIPT = Path(__file__).with_name("distribution_script.py")
TIMEOUT_S = 240  # wall clock on 2 cores shared by many; each run needs ~20-45 s of CPU


def _environment(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_CONFIG", None)
    return {**env, **extra}


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def test_parameter_is_validated_and_defaults_to_one_device():
    assert GanTrainingParams().distribution.strategy == "default"
    assert ClassificationParams().distribution.strategy == "default"
    params = GanTrainingParams(distribution={"strategy": "mirrored"})
    assert params.with_overrides({"epochs": 3}).distribution.strategy == "mirrored"
    assert "distribution" not in params.gan_config().model_dump()  # not part of the run key
    with pytest.raises(ValidationError, match="mirrored"):
        GanTrainingParams(distribution={"strategy": "horovod"})
    with pytest.raises(ValidationError, match="extra"):
        ClassificationParams(distribution={"strategy": "default", "replicas": 2})
    # Keras 3.15's own fit (the classifier's) fails under MultiWorkerMirroredStrategy: refused
    # before any work, naming the parameter
    with pytest.raises(ValidationError, match="classification.distribution.strategy: multi_wor"):
        ClassificationParams(distribution={"strategy": "multi_worker"})


def test_multi_worker_without_a_usable_tf_config_names_the_parameter(monkeypatch):
    parameter = "gan_training.distribution.strategy"
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(DistributionConfigError, match=f"{parameter}.*TF_CONFIG"):
        make_strategy("multi_worker", parameter)
    for bad, why in [
        ("{not json", "not valid JSON"),
        ('{"cluster": {"worker": ["h:1"]}}', "both 'cluster' and 'task'"),
        ('{"cluster": {}, "task": {"type": "worker", "index": 0}}', "no 'worker'"),
        ('{"cluster": {"worker": ["h:1"]}, "task": {"type": "worker", "index": 3}}', "not in"),
    ]:
        monkeypatch.setenv("TF_CONFIG", bad)
        with pytest.raises(DistributionConfigError, match=why):
            make_strategy("multi_worker", parameter)
    with pytest.raises(DistributionConfigError, match="one of"):
        make_strategy("tpu", parameter)


def test_kedro_run_passes_the_strategy_to_training(project_copy, monkeypatch):
    """Through a real Kedro run: the parameter reaches train_gan, which refuses multi_worker
    without a cluster before training starts, naming the full parameter."""
    monkeypatch.delenv("TF_CONFIG", raising=False)
    use_tiny_phantoms(project_copy, count_per_class=12)
    params = {
        "data_processing.image_size": 32,
        "gan_training.gan_image_size": 16,
        "gan_training.epochs": 1,
        "gan_training.distribution.strategy": "multi_worker",
    }
    with pytest.raises(Exception, match=r"gan_training\.distribution\.strategy.*TF_CONFIG"):
        run_kedro(project_copy, params=params, pipeline_names=["data_processing", "gan_training"])
    assert not list((project_copy / "data/06_models").rglob("*.keras"))


def test_default_strategy_is_the_chief_and_writes_the_real_path(tmp_path):
    strategy = make_strategy("default")
    assert strategy.num_replicas_in_sync == 1 and is_chief(strategy)
    with chief_path(tmp_path / "model.keras", strategy) as path:
        assert path == tmp_path / "model.keras"


@pytest.mark.slow
@pytest.mark.timeout(TIMEOUT_S + 30)
def test_mirrored_on_two_cpu_devices_matches_one_device(tmp_path):
    result_path = tmp_path / "result.json"
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), "mirrored", str(result_path)],
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=TIMEOUT_S)
    finally:
        stop_process_group(process)
    assert process.returncode == 0, output[-3000:]
    result = json.loads(result_path.read_text())
    assert (result["default"]["replicas"], result["mirrored"]["replicas"]) == (1, 2)
    # The same batches, latents and global-batch arithmetic, but not the same order of float
    # sums: each replica sums its 4 examples, then the all-reduce adds the two partial sums
    # (gradients, synchronized BatchNorm moments), where one device sums 8 at once. Rounding
    # differences grow a little through 5 SGD steps of a GAN (measured ~6e-4 relative in g_loss,
    # 2e-4 in weights); a loss not divided by the global batch was 4% and 8e-3 off.
    single, mirrored = result["default"]["history"][0], result["mirrored"]["history"][0]
    for key in ("d_loss", "g_loss", "d_real", "d_fake"):
        np.testing.assert_allclose(mirrored[key], single[key], rtol=5e-3, err_msg=key)
    assert result["max_weight_difference"] < 2e-3
    # every variable (BatchNorm moving statistics, EMA, optimizer and random state included)
    # identical on both replicas: nothing drifted apart
    assert result["replica_copies_equal"] and result["variables_checked"] > 20
    # the classifier (Keras' own fit) trains under the same strategy
    classifier = result["classifier"]
    assert classifier["replicas"] == 2 and len(classifier["history"]["loss"]) == 2
    assert np.isfinite(classifier["history"]["val_loss"]).all()
    assert np.isfinite(classifier["predictions"]).all()


@pytest.mark.slow
@pytest.mark.timeout(TIMEOUT_S + 30)
def test_two_local_workers_train_and_only_the_chief_writes(tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    outputs = [tmp_path / f"machine{index}" for index in range(2)]  # each worker's own disk
    processes = []
    try:
        for index, output in enumerate(outputs):
            tf_config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
            processes.append(
                subprocess.Popen(
                    [sys.executable, str(SCRIPT), "worker", str(output)],
                    env=_environment(TF_CONFIG=json.dumps(tf_config)),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    start_new_session=True,
                )
            )
        deadline = time.monotonic() + TIMEOUT_S
        logs = [p.communicate(timeout=max(1, deadline - time.monotonic()))[0] for p in processes]
    finally:
        for process in processes:
            stop_process_group(process)
    for process, log in zip(processes, logs, strict=True):
        assert process.returncode == 0, log[-3000:]
    results = [
        json.loads(line.removeprefix("RESULT "))
        for log in logs
        for line in log.splitlines()
        if line.startswith("RESULT ")
    ]
    chief, other = results
    assert chief["chief"] and not other["chief"]
    assert chief["replicas"] == other["replicas"] == 2
    assert [r["epoch"] for r in chief["history"]] == [1, 2]
    assert np.isfinite(chief["history"][-1]["g_loss"])
    # the workers trained as one model: both report the same (all-reduced) metrics
    assert chief["history"][-1]["g_loss"] == pytest.approx(other["history"][-1]["g_loss"])
    assert Path(chief["wrote"]) == outputs[0] / "generator.keras"
    assert Path(chief["wrote"]).stat().st_size > 0
    assert sorted(p.name for p in outputs[0].rglob("*.png")) == [
        "epoch_00001.png",
        "epoch_00002.png",
    ]
    # the other worker wrote its copies to a temp folder, now gone, and nothing to its output
    assert not Path(other["wrote"]).is_relative_to(outputs[1])
    assert not Path(other["wrote"]).exists()
    assert not outputs[1].exists() or not [p for p in outputs[1].rglob("*") if p.is_file()]
