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
- a slice (`--pipelines`, `--namespaces`, `--nodes`, `--from-nodes`, `--to-nodes`, `--tags`, ...)
  that reads a dataset no node of it makes: a saved output has a saved version, else the line
  names the pipeline that makes it; an output kept in memory (a MemoryDataset, never saved) is
  refused with the node to start from (else the run would fail at its first load, with a
  traceback); a `--load-versions` version that does not exist is refused with those that do.
  Every command a line offers keeps the run's --env, --params and other arguments
  (lineage.run_command).
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

from cxr_gan.catalog_lookup import catalog_dataset, pipeline_outputs, project_pipelines
from cxr_gan.io_utils import unwritable
from cxr_gan.models import weights

# a download address that does not answer within this many seconds counts as unreachable
CONNECT_TIMEOUT_S = 3.0
# room kept free beyond the arrays' own bytes (ids, labels, the manifest, the file system's own)
SPACE_MARGIN = 1.05
# a --load-versions refusal lists this many of the newest saved versions
SHOWN_VERSIONS = 5
# a slice widened by the nodes making its in-memory inputs is offered as `--nodes a,b,...` up to
# this many nodes; a longer one as `--from-nodes` of the added nodes
LISTED_NODES = 8


class PreflightError(click.ClickException, RuntimeError):
    """Preconditions a run would fail on later. A ClickException, so `kedro run` prints the
    message alone (exit code 1) instead of a traceback."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "This run cannot succeed here; nothing was run. Fix these first:\n"
            + "\n".join(f"  - {problem}" for problem in problems)
        )


def check_preflight(
    pipeline: Pipeline,
    catalog: Any,
    params: Mapping[str, Any],
    run: Mapping[str, Any] | None = None,
) -> None:
    """Raise PreflightError listing every problem of running `pipeline`, or return quietly.

    `catalog` is the run's DataCatalog, `params` its merged parameters (plain mappings) and
    `run` Kedro's run_params (env, runtime_params, pipeline_names, the slice options,
    load_versions): the commands the lines offer repeat them."""
    problems = preflight_problems(pipeline, catalog, params, run)
    if problems:
        raise PreflightError(problems)


def preflight_problems(
    pipeline: Pipeline,
    catalog: Any,
    params: Mapping[str, Any],
    run: Mapping[str, Any] | None = None,
) -> list[str]:
    """One readable line per unmet precondition of the nodes in `pipeline`; [] when all is met.
    `run`: Kedro's run_params, as in check_preflight (None: a plain `kedro run`)."""
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
    from cxr_gan.session import as_asked

    asked = as_asked(run or {})
    problems += _load_version_problems(pipeline, catalog, asked)
    problems += _slice_input_problems(pipeline, catalog, asked)
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


def saved_versions(dataset: Any) -> list[str]:
    """The versions of a versioned dataset that exist (as Kedro looks for its latest: the
    version folders holding the dataset's file), oldest first; [] for an unversioned one."""
    from cxr_gan.lineage import version_time

    if not isinstance(dataset, AbstractVersionedDataset) or dataset._version is None:
        return []
    try:
        pattern = str(dataset._get_versioned_path("*"))
        found = [path for path in dataset._glob_function(pattern) if dataset._exists_function(path)]
    except Exception:  # noqa: BLE001 - an unreadable store: the run reports it itself
        return []
    versions = {Path(str(path)).parent.name for path in found}
    return sorted(version for version in versions if version_time(version))


def _load_version_problems(pipeline: Pipeline, catalog: Any, run: Mapping[str, Any]) -> list[str]:
    """A `--load-versions name:version` that names no versioned dataset, or a version of it
    that was never saved: one line each, listing the versions that exist, and one command for
    all of them that loads the newest of each instead (the other arguments kept)."""
    from cxr_gan.lineage import run_command

    pinned = dict(run.get("load_versions") or {})
    fixed = dict(pinned)  # the --load-versions of the offered command
    found: list[tuple[str, str]] = []  # (name, what is wrong)
    for name, version in sorted(pinned.items()):
        dataset = catalog_dataset(catalog, name)
        if not isinstance(dataset, AbstractVersionedDataset) or dataset._version is None:
            versioned = sorted(
                n
                for n in pipeline.inputs()
                if isinstance(catalog_dataset(catalog, n), AbstractVersionedDataset)
            )
            fixed.pop(name)
            found.append(
                (
                    f"--load-versions {name}:{version}",
                    f"{name} is not a versioned dataset of this project; the versioned ones "
                    f"this run reads: {', '.join(versioned) or 'none'}",
                )
            )
            continue
        try:
            if dataset.exists():
                continue
        except Exception:  # noqa: BLE001 - an unreadable dataset fails the run itself
            continue
        saved = saved_versions(dataset)
        if not saved:
            continue  # nothing saved at all: said as for any input without a version
        shown = ", ".join(saved[-SHOWN_VERSIONS:])
        older = len(saved) - SHOWN_VERSIONS
        listing = f"{shown} (newest last; {older} older)" if older > 0 else f"{shown} (newest last)"
        fixed[name] = saved[-1]
        found.append(
            (
                name,
                f"--load-versions {name}:{version} names no saved version; the saved ones are "
                f"{listing}",
            )
        )
    if not found:
        return []
    command = run_command({**run, "load_versions": fixed})
    return [f"{what}: {why}; to load the newest instead: `{command}`" for what, why in found]


def _never_saved(dataset: Any) -> bool:
    """Whether a dataset lives in memory only (a MemoryDataset, Kedro's default for names the
    catalog does not declare) and holds nothing: at the start of a run, no input of it does."""
    from kedro.io import MemoryDataset

    if not isinstance(dataset, MemoryDataset):
        return False
    try:
        return not dataset.exists()
    except Exception:  # noqa: BLE001 - say nothing where the run itself will say it
        return False


def _slice_input_problems(pipeline: Pipeline, catalog: Any, run: Mapping[str, Any]) -> list[str]:
    """The inputs of this run that none of its nodes makes and that are not there, one line
    each: a saved (versioned) input with no saved version yet names the pipeline that makes it
    (`--pipelines classification` on a fresh project); an input kept in memory (never saved)
    names the node that makes it and the slice widened by it (`--from-nodes
    compare_experiments`: classification_data is made by prepare_classification_data)."""
    from cxr_gan.lineage import run_command

    pinned = set(run.get("load_versions") or {})
    kept = {key: run.get(key) for key in ("env", "runtime_params", "runner")}
    problems: list[tuple[str, str]] = []
    in_memory: list[str] = []
    makers: dict[str, str] = {}  # each project pipeline's outputs, built when needed
    for name in sorted(pipeline.inputs()):
        if name.startswith("params:") or name == "parameters":
            continue
        dataset = catalog_dataset(catalog, name)
        if _never_saved(dataset):
            in_memory.append(name)
            continue
        if not isinstance(dataset, AbstractVersionedDataset):
            continue  # a folder of images, the run record: checked by their own rules
        if name in pinned and saved_versions(dataset):
            continue  # a version asked for: checked by _load_version_problems
        try:
            if dataset.exists():
                continue
        except Exception:  # noqa: BLE001 - an unreadable dataset fails the run itself
            continue
        makers = makers or {
            output: maker for maker, made in pipeline_outputs().items() for output in made
        }
        maker = makers.get(name)
        first = (
            f"run `{run_command({**kept, 'pipeline_names': [maker]})}`, which makes it, first"
            if maker
            else "run the pipeline that makes it first (`kedro registry describe <name>`)"
        )
        problems.append(
            (
                name,
                f"{name}: no saved version yet, and no node of this run makes it; {first} "
                f"(or the whole study: `{run_command(kept)}`)",
            )
        )
    problems += _memory_input_problems(pipeline, catalog, run, in_memory)
    return [line for _, line in sorted(problems)]


def _memory_input_problems(
    pipeline: Pipeline, catalog: Any, run: Mapping[str, Any], names: list[str]
) -> list[tuple[str, str]]:
    """(name, line) for each input kept in memory that this slice does not make: the node that
    makes it, and one command for all of them, this run's slice widened by those nodes (and
    the nodes making their in-memory inputs in turn)."""
    from cxr_gan.lineage import SLICE_OPTIONS, run_command

    if not names:
        return []
    project = project_pipelines()
    whole = sum(project.values(), Pipeline([]))
    producer = {output: node for node in whole.nodes for output in node.outputs}
    running = {node.name for node in pipeline.nodes}
    added: list[str] = []
    pending = list(names)
    while pending:
        node = producer.get(pending.pop())
        if node is None or node.name in running or node.name in added:
            continue
        added.append(node.name)
        pending += [n for n in node.inputs if _never_saved(catalog_dataset(catalog, n))]
    if not added:  # made by no node of the project (a pipeline that lost its maker)
        return [
            (
                name,
                f"{name}: kept in memory only (a MemoryDataset, never saved), and made "
                "by no node of the project",
            )
            for name in names
        ]
    order = [node.name for node in whole.nodes]  # Kedro's topological order
    added.sort(key=order.index)
    widened = dict(run)
    asked = list(run.get("pipeline_names") or [])
    if asked and "__default__" not in asked:  # the pipelines holding the added nodes too
        holding = {p for p, made in project.items() for n in made.nodes if n.name in added}
        widened["pipeline_names"] = asked + sorted(holding - set(asked))
    if run.get("node_names"):
        nodes = set(run["node_names"]) | set(added)
        widened["node_names"] = sorted(nodes, key=lambda n: order.index(n) if n in order else 0)
    elif len(running) + len(added) <= LISTED_NODES:
        widened.update(dict.fromkeys(key for key, _ in SLICE_OPTIONS))
        widened["node_names"] = [n for n in order if n in running or n in added]
    else:  # a long slice: from the added nodes on (and the start nodes they do not reach)
        reached = {node.name for node in whole.from_nodes(*added).nodes}
        starts = [n for n in run.get("from_nodes") or [] if n not in reached]
        widened.update(dict.fromkeys(("tags", "namespaces", "node_names", "from_inputs")))
        widened["from_nodes"] = added + starts
    command = run_command(widened)
    lines = []
    for name in names:
        node = producer.get(name)
        made = f"made by node {node.name}" if node is not None else "made by no node"
        lines.append(
            (
                name,
                f"{name}: kept in memory only (a MemoryDataset, never saved), {made}, which "
                f"this run leaves out; start from it: `{command}`",
            )
        )
    return lines


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
