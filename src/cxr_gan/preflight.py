"""What a run needs from the machine, checked before any node runs (one line per problem).

The checks look only at the nodes about to run (a `--pipelines` or `--namespaces` slice needs
less than the whole study) and need no TensorFlow:

- pretrained weights a parameter asks for: ResNet50's (classification.weights: imagenet, or a
  file) and InceptionV3's (synthesis.feature_extractor: inception_v3) are in the Keras cache or
  the given file, or their download address answers; offline, a missing file is a problem;
- the raw folder and, when its catalog entry is not optional, the external-validation folder:
  present, with a sub-folder for every class of data_processing.classes;
- every local folder an output of those nodes is saved in (and data_processing.scratch_dir)
  can be written, and the normalised arrays (images x image_size^2 bytes) fit on their disks;
- gan_training.checkpoint_dir can be written and has room for two checkpoints of the largest
  GAN the run trains (GanConfig.checkpoint_bytes: the last one stays while the next is written);
- an optional extra the data needs: compressed DICOM files that only the `dicom` extra decodes;
- mixed precision (gan_training / classification .distribution.mixed_precision) only where
  TensorFlow sees a GPU (TensorFlow is imported for this check only when it is asked for);
- a slice (`--pipelines`, `--namespaces`) that reads a saved output no node of it makes: that
  output has a saved version (else the run would fail at its first load, with a traceback).
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from kedro.io.core import AbstractVersionedDataset
from kedro.pipeline import Pipeline

from cxr_gan.io_utils import unwritable
from cxr_gan.models import weights

# a download address that does not answer within this many seconds counts as unreachable
CONNECT_TIMEOUT_S = 3.0
# room kept free beyond the arrays' own bytes (ids, labels, the manifest, the file system's own)
SPACE_MARGIN = 1.05


class PreflightError(click.ClickException, RuntimeError):
    """Preconditions a run would fail on later. A ClickException, so `kedro run` prints the
    message alone (exit code 1) instead of a traceback."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "This run cannot succeed here; nothing was run. Fix these first:\n"
            + "\n".join(f"  - {problem}" for problem in problems)
        )


def check_preflight(pipeline: Pipeline, catalog: Any, params: Mapping[str, Any]) -> None:
    """Raise PreflightError listing every problem of running `pipeline`, or return quietly.

    `catalog` is the run's DataCatalog and `params` its merged parameters (plain mappings)."""
    problems = preflight_problems(pipeline, catalog, params)
    if problems:
        raise PreflightError(problems)


def preflight_problems(pipeline: Pipeline, catalog: Any, params: Mapping[str, Any]) -> list[str]:
    """One readable line per unmet precondition of the nodes in `pipeline`; [] when all is met."""
    steps = {node.name.rsplit(".", 1)[-1] for node in pipeline.nodes}
    section = {key: dict(params.get(key) or {}) for key in ("data_processing", "synthesis")}
    classes = dict(section["data_processing"].get("classes") or {"normal": 0, "covid": 1})
    problems: list[str] = []
    if "ingest_raw_xrays" in steps:
        problems += _folder_problems(catalog, "raw_xrays", classes)
        problems += _dicom_extra_problems(catalog, "raw_xrays")
        problems += _array_room_problems(catalog, section["data_processing"])
    if "prepare_external_data" in steps:
        problems += _folder_problems(catalog, "external_xrays", classes)
        problems += _dicom_extra_problems(catalog, "external_xrays")
    if "train_and_evaluate" in steps:
        problems += _backbone_problems(dict(params.get("classification") or {}))
    if "assess_synthetic_quality" in steps:
        problems += _inception_problems(section["synthesis"])
    if "train_conditional_gan" in steps:
        problems += _checkpoint_problems(dict(params.get("gan_training") or {}))
    for name, step in (
        ("gan_training", "train_conditional_gan"),
        ("classification", "train_and_evaluate"),
    ):
        if step in steps:
            problems += _mixed_precision_problems(name, dict(params.get(name) or {}))
    problems += _saved_input_problems(pipeline, catalog)
    problems += _output_folder_problems(pipeline, catalog)
    return problems


def _mixed_precision_problems(section: str, settings: Mapping[str, Any]) -> list[str]:
    """The training node's refusal (models.device.mixed_precision_problem), before any node."""
    distribution = dict(settings.get("distribution") or {})
    if not distribution.get("mixed_precision"):
        return []
    from pydantic import ValidationError

    from cxr_gan.models.device import mixed_precision_problem  # TensorFlow: asked for only
    from cxr_gan.models.distribution_params import DistributionParams

    try:
        checked = DistributionParams(**distribution)
    except ValidationError:  # the parameter check names a malformed value
        return []
    problem = mixed_precision_problem(checked, f"{section}.distribution")
    return [problem] if problem else []


def _saved_input_problems(pipeline: Pipeline, catalog: Any) -> list[str]:
    """Saved (versioned) inputs of this run that none of its nodes makes and that have no saved
    version yet: `--namespaces real` or `--pipelines classification` on a fresh project."""
    problems: list[str] = []
    outputs: dict[str, set[str]] = {}  # each project pipeline's outputs, built when needed
    for name in sorted(pipeline.inputs()):
        if name.startswith("params:") or name == "parameters":
            continue
        dataset = catalog_dataset(catalog, name)
        if not isinstance(dataset, AbstractVersionedDataset):
            continue
        try:
            if dataset.exists():
                continue
        except Exception:  # noqa: BLE001 - an unreadable dataset fails the run itself
            continue
        outputs = outputs or pipeline_outputs()
        maker = next((p for p, made in outputs.items() if name in made), None)
        first = (
            f"`kedro run --pipelines {maker}`, which makes it,"
            if maker
            else "the pipeline that makes it (`kedro registry describe <name>`)"
        )
        problems.append(
            f"{name}: no saved version yet, and no node of this run makes it; run {first} "
            "first (or the whole study: `kedro run`)"
        )
    return problems


def pipeline_outputs() -> dict[str, set[str]]:
    """{pipeline name: every dataset its nodes output} for the project's pipelines (the
    packages under <package>/pipelines with a create_pipeline). Built here from each package,
    because Kedro (>= 1.5) builds only the pipelines a run asks for."""
    import importlib
    import pkgutil

    from kedro.framework.project import PACKAGE_NAME

    # outside a configured project (a plain script, a unit test): this package's pipelines
    package = importlib.import_module(f"{PACKAGE_NAME or __name__.split('.')[0]}.pipelines")
    outputs = {}
    for info in pkgutil.iter_modules(package.__path__):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if hasattr(module, "create_pipeline"):
            outputs[info.name] = set(module.create_pipeline().all_outputs())
    return outputs


# ------------------------------------------------------------------------------ weights


def unreachable(url: str, timeout: float = CONNECT_TIMEOUT_S) -> str | None:
    """None when a TCP connection to the URL's host opens within `timeout` s; else why not."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout):
            return None
    except OSError as error:
        return f"{type(error).__name__}: {error}"


def _backbone_problems(classification: Mapping[str, Any]) -> list[str]:
    choice = classification.get("weights", "imagenet")
    if classification.get("backbone", "resnet50") != "resnet50" or choice is None:
        return []
    if choice != "imagenet":
        if Path(str(choice)).expanduser().is_file():
            return []
        return [
            f"classification.weights = {choice!r}: no such file; give the path of a ResNet50 "
            f"notop weights file ({weights.RESNET50_WEIGHTS_FILE}), weights: imagenet, or "
            "weights: null (random initialisation)"
        ]
    file_name = weights.RESNET50_WEIGHTS_FILE
    url = weights.RESNET50_WEIGHTS_ORIGIN + file_name
    why = None if weights.cached_weights(file_name) else unreachable(url)
    if why is None:
        return []  # cached, or Keras downloads it when the classifier is built
    return [
        f"classification.weights = 'imagenet': ResNet50's ImageNet weights are not in the Keras "
        f"cache ({_cache_folder()}) and {urlsplit(url).hostname} cannot be reached ({why}); "
        f"put {file_name} there (download it from {url} on a machine with internet), or set "
        f"classification.weights to a local copy of it, or weights: null"
    ]


def _inception_problems(synthesis: Mapping[str, Any]) -> list[str]:
    if synthesis.get("feature_extractor", "random_cnn") != "inception_v3":
        return []
    given = synthesis.get("inception_weights")
    if given:
        if Path(str(given)).expanduser().is_file():
            return []
        return [
            f"synthesis.inception_weights = {given!r}: no such file; download "
            f"{weights.INCEPTION_V3_NOTOP_URL} there, or set synthesis.feature_extractor: "
            "random_cnn (offline)"
        ]
    if weights.cached_weights(weights.INCEPTION_V3_NOTOP_FILE):
        return []
    why = unreachable(weights.INCEPTION_V3_NOTOP_URL)
    if why is None:
        return []
    return [
        f"synthesis.feature_extractor = 'inception_v3': InceptionV3's ImageNet weights are not "
        f"in the Keras cache ({_cache_folder()}) and "
        f"{urlsplit(weights.INCEPTION_V3_NOTOP_URL).hostname} cannot be reached ({why}); put "
        f"{weights.INCEPTION_V3_NOTOP_FILE} there, or set synthesis.inception_weights to a "
        "local copy, or synthesis.feature_extractor: random_cnn"
    ]


def _cache_folder() -> Path:
    home = os.environ.get("KERAS_HOME")
    return (Path(home) if home else Path("~/.keras").expanduser()) / "models"


# ------------------------------------------------------------------------------ data


def catalog_dataset(catalog: Any, name: str) -> Any:
    """The catalog's dataset object called `name`, or None when the catalog cannot build it."""
    try:
        return catalog.get(name)
    except Exception:  # noqa: BLE001 - a dataset that cannot be built fails the run itself
        return None


def _folder_problems(catalog: Any, name: str, classes: Mapping[str, int]) -> list[str]:
    from cxr_gan.datasets.xray_sources import XrayFolderDataset  # OpenCV: only when running

    dataset = catalog_dataset(catalog, name)
    if not isinstance(dataset, XrayFolderDataset):
        return []
    folder = dataset.path
    if not folder.is_dir():
        if dataset.optional:
            return []
        return [
            f"{name}: the folder {folder.absolute()} does not exist; create it with one "
            f"sub-folder per class ({', '.join(classes)}), or point the catalog entry {name} "
            "elsewhere in conf/local/catalog.yml"
        ]
    missing = [label for label in classes if not (folder / label).is_dir()]
    if missing:
        from cxr_gan.data.decoding import is_hidden_file
        from cxr_gan.data.sources import suggest_classes

        found = sorted(
            p.name for p in folder.iterdir() if p.is_dir() and not is_hidden_file(f"{p.name}/x")
        )
        mapping = suggest_classes(found, classes)
        how = (
            "; these folders are accepted with, in conf/local/parameters.yml:\n"
            + "\n".join(f"      {line}" for line in mapping.splitlines())
            if mapping
            else "; rename the folders, or map them in data_processing.classes "
            "(conf/local/parameters.yml)"
        )
        return [
            f"{name}: the folder {folder.absolute()} has no sub-folder "
            f"{', '.join(missing)} (data_processing.classes: {', '.join(classes)}); found "
            f"{found or 'none'}{how}"
        ]
    return []


def _image_files(folder: Path) -> list[Path]:
    """The regular files below the folder's sub-folders, as the run will scan them (links to
    folders followed, FIFOs and unreadable entries left to the run to report)."""
    from cxr_gan.data.sources import scan_folder

    return [Path(f.path) for f in scan_folder(folder).files if f.folder and f.path]


def _dicom_extra_problems(catalog: Any, name: str) -> list[str]:
    """Compressed DICOM files that only the `dicom` extra decodes, when it is not installed
    (pydicom's own test: the decoder for the file's transfer syntax is available)."""
    from pydicom.filereader import read_file_meta_info
    from pydicom.pixels import get_decoder
    from pydicom.uid import UID

    from cxr_gan.data.dicom import DICOM_EXTRA_INSTALL, DICOM_EXTRA_SYNTAXES, looks_like_dicom
    from cxr_gan.datasets.xray_sources import XrayFolderDataset

    dataset = catalog_dataset(catalog, name)
    if not isinstance(dataset, XrayFolderDataset) or not dataset.path.is_dir():
        return []
    needing = []
    for path in _image_files(dataset.path):
        try:
            with path.open("rb") as handle:
                head = handle.read(132)
        except OSError:  # unreadable or gone: the run reports it with its reason
            continue
        if not looks_like_dicom(head, path.name):
            continue
        try:
            syntax = str(read_file_meta_info(path).get("TransferSyntaxUID", ""))
        except Exception:  # noqa: BLE001 - an unreadable file is reported by the run itself
            continue
        if syntax in DICOM_EXTRA_SYNTAXES and not get_decoder(UID(syntax)).is_available:
            needing.append(path)
    if not needing:
        return []
    return [
        f"{name}: {len(needing)} DICOM file(s) (e.g. {needing[0].relative_to(dataset.path)}) "
        f"are JPEG / JPEG-LS compressed, which needs the `dicom` extra: run {DICOM_EXTRA_INSTALL}"
    ]


def _image_count(catalog: Any, name: str) -> int:
    from cxr_gan.datasets.xray_sources import PhantomXrayDataset, XrayFolderDataset

    dataset = catalog_dataset(catalog, name)
    if isinstance(dataset, XrayFolderDataset) and dataset.path.is_dir():
        return len(_image_files(dataset.path))
    if isinstance(dataset, PhantomXrayDataset):
        return len(dataset.load().files)  # nothing is drawn until a file is read
    return 0


def _array_room_problems(catalog: Any, data_processing: Mapping[str, Any]) -> list[str]:
    """Room for the arrays where they are built (scratch_dir) and saved (xray_arrays)."""
    side = int(data_processing.get("image_size", 446))
    needed = int(_image_count(catalog, "raw_xrays") * side * side * SPACE_MARGIN)
    places: list[tuple[Path, str, str]] = []  # folder, what chose it, how to change it
    scratch = data_processing.get("scratch_dir", "data/05_model_input")
    if scratch:
        places.append((Path(scratch), "data_processing.scratch_dir", "conf/local/parameters.yml"))
    arrays = _local_folder(catalog_dataset(catalog, "xray_arrays"))
    if arrays is not None:
        places.append((arrays, "catalog entry xray_arrays", "conf/local/catalog.yml"))
    problems, counted = [], set()
    for folder, chosen_by, where in places:
        parameter = chosen_by if chosen_by.startswith("data_processing") else None
        reason = unwritable(folder, parameter)
        if reason:
            problems.append(f"{chosen_by}: {reason}")
            continue
        existing = _existing(folder)
        device = existing.stat().st_dev
        if device in counted or not needed:
            continue  # one disk: building and saving is a rename, the bytes are needed once
        counted.add(device)
        free = shutil.disk_usage(existing).free
        if free < needed:
            problems.append(
                f"data_processing.image_size = {side}: the arrays of "
                f"{_image_count(catalog, 'raw_xrays')} images need {needed / 1e6:,.0f} MB at "
                f"{folder.absolute()} ({chosen_by}), and {free / 1e6:,.0f} MB are free there; "
                f"free some space, lower image_size, or choose another disk in {where}"
            )
    return problems


# ------------------------------------------------------------------------------ outputs


def _existing(folder: Path) -> Path:
    folder = folder.absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _local_folder(dataset: Any) -> Path | None:
    """The local folder a file dataset writes under (a versioned one: its filepath, where the
    version folders go); None for memory, remote or path-less datasets."""
    filepath = getattr(dataset, "_filepath", None)
    if filepath is None or getattr(dataset, "_protocol", "file") not in ("file", None):
        return None
    path = Path(str(filepath))
    return path if getattr(dataset, "_version", None) is not None else path.parent


def _output_folder_problems(pipeline: Pipeline, catalog: Any) -> list[str]:
    problems, seen = [], set()
    for name in sorted(pipeline.outputs() | {o for n in pipeline.nodes for o in n.outputs}):
        folder = _local_folder(catalog_dataset(catalog, name))
        if folder is None or folder in seen:
            continue
        seen.add(folder)
        reason = unwritable(folder)
        if reason:
            problems.append(f"{name}: {reason}")
    return problems


def _checkpoint_problems(gan_training: Mapping[str, Any]) -> list[str]:
    """gan_training.checkpoint_dir can be written and holds two checkpoints of the largest GAN
    this run trains (the main one or a variant): while a checkpoint is written atomically, the
    previous one stays until the new one is complete."""
    from pydantic import ValidationError

    from cxr_gan.pipelines.gan_training.params import GanTrainingParams

    key = "gan_training.checkpoint_dir"
    try:
        params = GanTrainingParams.model_validate(gan_training)
        configs = [params] + [params.with_overrides(o) for o in params.variants.values()]
    except ValidationError:  # the parameter check names a malformed value
        return []
    if params.checkpoint_dir is None:
        return []
    folder = Path(params.checkpoint_dir)
    reason = unwritable(folder, key)
    if reason:
        fix = (
            ""
            if "conf/local" in reason
            else f"; point {key} at a writable folder in conf/local/parameters.yml (null: no "
            "checkpoints, no resume)"
        )
        return [f"{key} = {params.checkpoint_dir!r}: {reason}{fix}"]
    largest = max(configs, key=lambda config: config.checkpoint_bytes())
    needed = 2 * largest.checkpoint_bytes()
    free = shutil.disk_usage(_existing(folder)).free
    if free >= needed:
        return []
    return [
        f"{key} = {params.checkpoint_dir!r}: a checkpoint of the {largest.architecture} GAN at "
        f"{largest.gan_image_size} px takes about {largest.checkpoint_bytes() / 1e6:,.0f} MB, "
        f"and writing one needs room for two (the last stays until the new one is complete): "
        f"{needed / 1e6:,.0f} MB; {free / 1e6:,.0f} MB are free at {folder.absolute()}. Free "
        f"some space, or point {key} at another disk in conf/local/parameters.yml (null: no "
        "checkpoints, no resume)"
    ]
