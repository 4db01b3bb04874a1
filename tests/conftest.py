"""Shared fixtures: real image files written to tmp, and a throwaway copy of the Kedro project."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_XRAYS = PROJECT_ROOT.parent / "shared" / "cxr-dev"


def gradient_image(width: int = 48, height: int = 40) -> np.ndarray:
    """A uint8 image whose every row and column differs, so flips and rotations show."""
    y, x = np.mgrid[0:height, 0:width]
    return ((x * 255 // (width - 1)) * 0.7 + (y * 255 // (height - 1)) * 0.3).astype(np.uint8)


def write_class_folder(root: Path, folder: str, count: int, seed: int) -> list[Path]:
    """`count` distinct random grayscale PNGs in root/folder."""
    rng = np.random.default_rng(seed)
    target = root / folder
    target.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        blocks = rng.integers(0, 256, (8, 8), dtype=np.uint8)  # distinct at pHash's scale
        pixels = np.kron(blocks, np.ones((6, 6), np.uint8))
        path = target / f"img_{index:03d}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def raw_folder(tmp_path: Path) -> Path:
    """A raw-data folder with 12 good PNGs per class."""
    root = tmp_path / "raw"
    write_class_folder(root, "normal", 12, seed=1)
    write_class_folder(root, "covid", 12, seed=2)
    return root


def copy_project(target: Path) -> Path:
    """The project's conf (without local/), pyproject and empty data folders at target, so runs
    never write into the repo. Every test that needs a throwaway project uses this."""
    target.mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", target)
    shutil.copy(PROJECT_ROOT / ".telemetry", target)
    shutil.copytree(PROJECT_ROOT / "conf", target / "conf", ignore=shutil.ignore_patterns("local"))
    (target / "conf" / "local").mkdir()
    (target / "src").mkdir()  # Kedro insists on it; the package itself is installed in the venv
    for folder in (PROJECT_ROOT / "data").iterdir():
        if folder.is_dir():
            (target / "data" / folder.name).mkdir(parents=True)
    store = empty_mlflow_store()
    if store is not None:  # kedro-mlflow installed: start from migrated tables, as a 2nd run does
        (target / "mlruns").mkdir()
        shutil.copy(store, target / "mlruns" / store.name)
    return target


@functools.cache
def empty_mlflow_store() -> Path | None:
    """An MLflow tracking database with its tables made, once per test process; None without
    the mlflow extra. Creating the tables takes ~7 s, which every Kedro session in a fresh project
    copy would otherwise pay (conf/base/mlflow.yml: sqlite:///mlruns/mlflow.db)."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        return None
    folder = tempfile.mkdtemp(prefix="cxr-gan-mlflow-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = Path(folder) / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()  # runs the schema migrations
    return path


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A throwaway copy of the project (copy_project) in this test's tmp folder."""
    return copy_project(tmp_path / "project")


@dataclass(frozen=True)
class DemoStudy:
    """A finished tiny demo study: its project folder and what its run logged at the end."""

    project: Path
    run_log: list[str]


@pytest.fixture(scope="session")
def demo_study(tmp_path_factory: pytest.TempPathFactory) -> DemoStudy:
    """One tiny run of all pipelines (`kedro run --env demo`, kedro_helpers.DEMO_STUDY) in a
    throwaway project copy, shared by every test that reads a whole study's outputs (the
    notebook, the study report, kedro-viz's previews). Tests copy it before writing into it."""
    from tests.kedro_helpers import DEMO_STUDY, captured_log, run_kedro, use_tiny_phantoms

    project = copy_project(tmp_path_factory.mktemp("demo-study") / "project")
    use_tiny_phantoms(project, count_per_class=15, env="demo")
    with captured_log() as lines:
        run_kedro(project, env="demo", params=DEMO_STUDY)
    return DemoStudy(project, lines)
