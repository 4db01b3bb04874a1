"""Lineage: every versioned output records what it was made from, and a run refuses inputs made
from other data.

Each versioned output gets `lineage.json` in its version folder (<filepath>/<version>/), written
by LineageHooks (settings.py) right after Kedro saves it:

    {"format": 1, "dataset": "generator", "version": "2026-...Z",
     "fingerprint": "<64 hex>",              # the data-quality fingerprint of the raw data
     "raw": {"dataset", "source", "listing", "manifest", "manifest_version"},
     "external": {"dataset", "source", "listing", "files"} or null,  # the external folder scored
     "ancestors": {name: version},           # every saved dataset it derives from
     "models": {name: version},              # models it derives from or was made beside
     "inputs": {name: {"version", "fingerprint"}},
     "node": "...", "parameters": {"params:gan_training": {...}},
     "run": {"run_id", "env", "pipeline_names", "load_versions", "runtime_params", "command"},
     "environment": {"python", "platform", "packages": {name: version}},
     "mixed": [...], "unrecorded_inputs": [...]}

The fingerprint is reporting.data_quality.usable_fingerprint of the raw manifest made with it;
a node that reads a raw folder and outputs a raw manifest starts a lineage, every other node's
outputs inherit its inputs' (memory datasets too, within a run).

Before any node runs (`before_pipeline_run`), the run's saved inputs are checked:

- a version dated in the future (a copy from a machine whose clock is ahead) is refused by name;
- inputs derived from different raw data (two fingerprints), or from two versions of one model
  (two synthetic sets from two generators: a synthesis run killed between its two sets; a GAN
  history beside another generator's samples), are refused in one line naming both and the
  command that rebuilds what is stale;
- when the run does not ingest the raw data itself, the raw folder (catalog entry `raw_xrays`)
  must still hold the data its inputs derive from: images added, removed or changed since
  data_processing ran are refused the same way;
- an input pinned with `--load-versions` is used anyway, with a WARNING naming both fingerprints,
  and its outputs' records list it under "mixed";
- inputs saved before lineage was recorded (no lineage.json) are used with one WARNING that
  offers the rebuild.

`before_node_run` applies the same consistency rule to each node's inputs (this run's outputs
included), so a node never works on a mix. The refusal is a LineageError (a ClickException:
`kedro run` prints the line alone, exit code 1).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import platform
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from kedro.framework.hooks import hook_impl
from kedro.io.core import VERSION_FORMAT, AbstractVersionedDataset

from cxr_gan.catalog_lookup import catalog_dataset, pipeline_outputs
from cxr_gan.data.sources import RawXrayCollection, text_name
from cxr_gan.io_utils import atomic_path, explained_write_errors

if TYPE_CHECKING:  # pandas, OpenCV and matplotlib load only when a node runs, not at start-up
    import pandas as pd

logger = logging.getLogger(__name__)

LINEAGE_FILE = "lineage.json"
LINEAGE_FORMAT = 1
# the study's pipelines in the order each feeds the next (a rebuild runs from the first stale one)
STUDY_ORDER = ("data_processing", "gan_training", "synthesis", "classification", "report")
DEFAULT_ENV = "local"  # settings.CONFIG_LOADER_ARGS' default_run_env: no --env needed
RAW_DATASET = "raw_xrays"  # the catalog entry a run's raw data is read from
RUN_INPUTS = "this run's inputs"  # where the check before any node looks
EXTERNAL = "external folder"  # conflicts(): inputs scored on two listings of the external folder
SHORT = 12  # characters of a fingerprint shown in messages (the files hold all 64)
FUTURE_MARGIN_S = 2.0  # a version this far past the clock is dated in the future
PACKAGES = (
    "cxr-gan",
    "kedro",
    "kedro-datasets",
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "numpy",
    "pandas",
    "opencv-python-headless",
    "pydicom",
    "scikit-learn",
)


class LineageError(click.ClickException, RuntimeError):
    """Inputs derived from other data, or a version dated in the future; the message is one line
    naming the inputs, both fingerprints and the command that rebuilds what is stale."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


# ------------------------------------------------------------------------------ records


def short(fingerprint: str | None) -> str:
    """The first SHORT characters of a fingerprint, or 'none recorded'."""
    return fingerprint[:SHORT] if fingerprint else "none recorded"


def has_lineage(dataset: Any) -> bool:
    """Whether `dataset` keeps lineage records: versioned, on the local disk (not s3://...)."""
    return (
        isinstance(dataset, AbstractVersionedDataset)
        and dataset._version is not None
        and getattr(dataset, "_protocol", "file") in ("file", None)
    )


def lineage_path(dataset: Any, version: str) -> Path | None:
    """<filepath>/<version>/lineage.json of a versioned dataset on the local disk; None for a
    dataset that keeps no record (has_lineage)."""
    if not has_lineage(dataset):
        return None
    return Path(str(dataset._get_versioned_path(version))).parent / LINEAGE_FILE


def read_lineage(dataset: Any, version: str) -> dict[str, Any] | None:
    """The lineage record saved with `version` of `dataset`; None when it has none (saved before
    lineage was recorded, or not a versioned local dataset). Raises LineageError naming the file
    when it exists but is not a JSON object."""
    path = lineage_path(dataset, version)
    if path is None or not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise LineageError(
            f"{path} cannot be read ({error}): delete it to treat that version as one saved "
            "before lineage was recorded, or delete the version folder and rebuild it."
        ) from error
    if not isinstance(record, dict):
        raise LineageError(f"{path} is not a lineage record (a JSON object): delete it.")
    return record


def write_lineage(dataset: Any, version: str, record: Mapping[str, Any]) -> Path | None:
    """Write `record` as lineage.json into the version folder of `dataset` (atomically); None
    when the dataset has no local version folder. Raises the write's error, explained."""
    path = lineage_path(dataset, version)
    if path is None or not path.parent.is_dir():
        return None
    with explained_write_errors(path), atomic_path(path) as temp:
        temp.write_text(json.dumps(record, indent=1, default=str), encoding="utf-8")
    return path


def version_time(version: str) -> datetime | None:
    """The UTC time a Kedro version string (2026-11-25T19.08.19.547Z) names; None when it is not
    one."""
    try:
        return datetime.strptime(version, VERSION_FORMAT).replace(tzinfo=timezone.utc)
    except (TypeError, ValueError):
        return None


@functools.cache
def environment() -> dict[str, Any]:
    """The software a record was made with: Python, the platform and the installed versions of
    PACKAGES (absent ones left out)."""
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
    }


def jsonable(value: Any) -> Any:
    """A parameter value as plain JSON types: pydantic models dumped, mappings and sequences
    walked, numpy scalars unwrapped, anything else as its str."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "item"):
        return value.item()
    return str(value)


# ------------------------------------------------------------------------------ the raw data


def raw_listing(collection: RawXrayCollection) -> str:
    """A digest of the raw files as listed on disk: relative path, size and modification time of
    each (generated files: the path alone), not the folder's own path (a project copied or
    moved with its files lists the same). Equal digests mean nothing was added, removed or
    touched; it reads no file."""
    digest = hashlib.sha256()
    for raw in collection.files:
        entry = raw.relative_path
        if raw.path:
            try:
                stat = os.stat(raw.path)
                entry += f"\0{stat.st_size}\0{stat.st_mtime_ns}"
            except OSError:
                entry += "\0unreadable"
        digest.update(entry.encode("utf-8", "surrogateescape") + b"\n")
    return digest.hexdigest()


def fingerprint_now(
    collection: RawXrayCollection, manifest: pd.DataFrame | None, classes: Iterable[str]
) -> str:
    """The fingerprint the raw data has now, as data_processing would compute it: every file in
    a class folder (not hidden) that was usable in `manifest` and is unchanged, plus every file
    new or changed since (assumed usable: data_processing decides). Reads and hashes every such
    file. manifest: the raw manifest the saved outputs were made with (None: every file counts)."""
    from cxr_gan.data.decoding import is_hidden_file
    from cxr_gan.reporting.data_quality import dataset_fingerprint

    classes = set(classes)
    known: dict[str, tuple[str, bool]] = {}
    if manifest is not None:
        usable = manifest["status"].isin(("ok", "warning"))
        for path, sha, ok in zip(
            manifest["relative_path"], manifest["sha256"], usable, strict=True
        ):
            known[str(path)] = (str(sha), bool(ok))
    hashes = []
    for raw in collection.files:
        if raw.problem or raw.folder not in classes or is_hidden_file(raw.relative_path):
            continue
        try:
            sha = hashlib.sha256(raw.read_bytes()).hexdigest()
        except OSError:
            continue
        recorded = known.get(text_name(raw.relative_path))  # as the manifest writes names
        if recorded is not None and not recorded[1] and recorded[0] in ("", sha):
            continue  # left out before (never hashed, or the same bytes): left out again
        if recorded is None or recorded[0] != sha or recorded[1]:
            hashes.append(sha)
    return dataset_fingerprint(hashes)


# ------------------------------------------------------------------------------ the rebuild


def producers(names: Iterable[str]) -> list[str]:
    """The project pipelines that make any of `names`, in STUDY_ORDER."""
    made = pipeline_outputs()
    wanted = set(names)
    found = [pipeline for pipeline, outputs in made.items() if outputs & wanted]
    return sorted(
        found, key=lambda p: STUDY_ORDER.index(p) if p in STUDY_ORDER else len(STUDY_ORDER)
    )


def _dotted(params: Mapping[str, Any], prefix: str = "") -> list[str]:
    items = []
    for key, value in params.items():
        if isinstance(value, Mapping) and value:
            items += _dotted(value, f"{prefix}{key}.")
        else:
            text = value if isinstance(value, str) else json.dumps(value)
            items.append(f"{prefix}{key}={text}")
    return items


def rebuild_command(run: Mapping[str, Any], stale: Iterable[str]) -> str:
    """`kedro run ...` that rebuilds the datasets named in `stale` and then does what this run
    was asked to: the pipelines from the first that makes a stale dataset through the last this
    run asked for (all of them when it asked for none), with this run's --env, --params and
    --runner (run_command). --namespaces, --nodes and --load-versions are left out: a rebuild
    needs the whole pipelines, and the latest versions."""
    asked = list(run.get("pipeline_names") or [])
    stale = list(stale)
    if not asked or "__default__" in asked:
        pipelines: list[str] = []
    elif not stale:  # nothing stale: the command as it was run
        pipelines = asked
    else:
        first = producers(stale)
        positions = [STUDY_ORDER.index(p) for p in [*first[:1], *asked] if p in STUDY_ORDER]
        pipelines = list(STUDY_ORDER[min(positions) : max(positions) + 1]) if positions else []
        pipelines += [p for p in asked if p not in pipelines]
    kept = {key: run.get(key) for key in ("env", "runtime_params", "runner")}
    return run_command({**kept, "pipeline_names": pipelines})


# Kedro's run_params keys of a slice, with their `kedro run` options, in the order printed
SLICE_OPTIONS = (
    ("from_nodes", "--from-nodes"),
    ("to_nodes", "--to-nodes"),
    ("node_names", "--nodes"),
    ("tags", "--tags"),
    ("namespaces", "--namespaces"),
    ("from_inputs", "--from-inputs"),
    ("to_outputs", "--to-outputs"),
)


def run_command(run: Mapping[str, Any]) -> str:
    """The `kedro run ...` command line of a run described by Kedro's run_params keys: its
    --pipelines (none for `__default__`), the slice options of SLICE_OPTIONS (lists of names),
    --only-missing-outputs, --load-versions ({name: version}), --env (left out for
    DEFAULT_ENV), --params (nested runtime_params, written dotted) and --runner (left out for
    the SequentialRunner; Kedro records the runner as its repr: Kedro's own are named by
    class, others by import path).
    Every command the project prints as a hint is made here, so each keeps the arguments it
    was given; missing keys are left out."""
    parts = ["kedro run"]
    pipelines = [p for p in run.get("pipeline_names") or [] if p != "__default__"]
    if pipelines:
        parts.append("--pipelines " + ",".join(pipelines))
    for key, option in SLICE_OPTIONS:
        names = list(run.get(key) or [])
        if names:
            parts.append(f"{option} {','.join(names)}")
    if run.get("only_missing_outputs"):
        parts.append("--only-missing-outputs")
    versions = dict(run.get("load_versions") or {})
    if versions:
        parts.append("--load-versions " + ",".join(f"{k}:{v}" for k, v in versions.items()))
    if run.get("env") and run["env"] != DEFAULT_ENV:
        parts.append(f"--env {run['env']}")
    params = _dotted(run.get("runtime_params") or {})
    if params:
        parts.append('--params "' + ",".join(params) + '"')
    runner = re.search(r"[\w.]*Runner\b", str(run.get("runner") or ""))
    if runner and not runner.group().endswith("SequentialRunner"):
        name = runner.group()  # Kedro's own by class name, a project's by its import path
        parts.append(f"--runner {name.rsplit('.', 1)[-1] if name.startswith('kedro.') else name}")
    return " ".join(parts)


# ------------------------------------------------------------------------------ the rule


def _describe(names: Sequence[str], records: Mapping[str, Mapping[str, Any]]) -> str:
    """'a 2026-...Z, b 2026-...Z and 3 more': the first few inputs with their versions."""
    shown = [f"{name} {records[name].get('version') or ''}".strip() for name in names[:4]]
    more = f" and {len(names) - 4} more" if len(names) > 4 else ""
    return ", ".join(shown) + more


def _newness(record: Mapping[str, Any]) -> str:
    """Sort key of a record's version: this run's outputs (no saved version yet) are newest."""
    return str(record.get("version") or "~")


def stale_names(
    kept: Sequence[str], others: Sequence[str], records: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """The stale inputs `others` and those of their ancestors that the kept inputs neither are
    nor derive from (a stale synthetic set's generator, not the fresh arrays): what a rebuild
    must remake."""
    fresh = set(kept)
    for name in kept:
        fresh |= set(records[name].get("ancestors") or {})
    stale = set(others)
    for name in others:
        stale |= set(records[name].get("ancestors") or {}) - fresh
    return sorted(stale)


def conflicts(
    records: Mapping[str, Mapping[str, Any]], pinned: Iterable[str] = ()
) -> list[tuple[str, list[str], list[str]]]:
    """Where inputs disagree: (what, kept, others) for the fingerprint ("fingerprint"), for
    each model some inputs derive from in two versions (the model's name), and for inputs scored
    on two states of the external folder (EXTERNAL); [] when they agree.

    kept: the names holding the value kept (the data of the newest input; for a model, its
    newest version), others: the names holding another value (stale, or used anyway when all
    are in `pinned`, the --load-versions names: a group made only of pinned inputs is never
    the kept one unless all are pinned). records: {input name: its lineage record (with
    "version")}; records without a fingerprint are left out of the fingerprint rule."""
    pinned = set(pinned)

    def rank(names: Sequence[str]) -> tuple[bool, str]:
        return (not all(n in pinned for n in names), max(_newness(records[n]) for n in names))

    found = []
    by_fingerprint: dict[str, list[str]] = {}
    for name, record in records.items():
        if record.get("fingerprint"):
            by_fingerprint.setdefault(record["fingerprint"], []).append(name)
    if len(by_fingerprint) > 1:  # the newest input's data is kept; the others are stale
        groups = sorted(by_fingerprint.values(), key=rank)
        found.append(("fingerprint", groups[-1], [n for group in groups[:-1] for n in group]))
    models: dict[str, dict[str, list[str]]] = {}
    for name, record in records.items():
        for model, version in (record.get("models") or {}).items():
            models.setdefault(model, {}).setdefault(version, []).append(name)
    for model, versions in sorted(models.items()):
        if len(versions) > 1:
            ordered = sorted(versions.items(), key=lambda item: (rank(item[1])[0], item[0]))
            found.append((model, ordered[-1][1], [n for _, g in ordered[:-1] for n in g]))
    by_external: dict[str, list[str]] = {}  # scored on the external folder as it was listed
    for name, record in records.items():
        listing = (record.get("external") or {}).get("listing")
        if listing:
            by_external.setdefault(listing, []).append(name)
    if len(by_external) > 1:
        groups = sorted(by_external.values(), key=rank)
        found.append((EXTERNAL, groups[-1], [n for group in groups[:-1] for n in group]))
    return found


class LineageHooks:
    """Records and checks lineage; see the module's docstring."""

    def __init__(self) -> None:
        self._run: dict[str, Any] = {}
        self._params: dict[str, Any] = {}
        self._catalog: Any = None
        self._records: dict[str, dict[str, Any]] = {}  # this run's outputs, memory ones too
        self._pending: dict[str, dict[str, Any]] = {}  # records waiting for their save
        self._warned: set[str] = set()

    # ----------------------------------------------------------------- hooks

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._params = dict(context.config_loader["parameters"])

    @hook_impl(tryfirst=True)  # before plugins (kedro-mlflow) start runs or write anything
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        self._catalog = catalog
        self._records, self._pending, self._warned = {}, {}, set()
        self._run = {
            key: run_params.get(key)
            for key in ("run_id", "env", "pipeline_names", "load_versions", "runtime_params")
        }
        self._run["runner"] = run_params.get("runner")
        self._run["command"] = rebuild_command(self._run, [])
        self._check_run(pipeline, catalog)

    @hook_impl
    def before_node_run(self, node: Any, catalog: Any) -> None:
        self._catalog = catalog
        records = self._input_records(node.inputs, catalog)
        self._refuse_conflicts(records, f"node {node.name}")

    @hook_impl
    def after_node_run(
        self, node: Any, catalog: Any, inputs: dict[str, Any], outputs: dict[str, Any]
    ) -> None:
        self._catalog = catalog
        record = self._node_record(node, catalog, inputs, outputs)
        for name in outputs:
            dataset = catalog_dataset(catalog, name)
            version = dataset.resolve_save_version() if has_lineage(dataset) else None
            self._records[name] = {**record, "version": version}
            self._pending[name] = record

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        record = self._pending.pop(dataset_name, None)
        dataset = catalog_dataset(self._catalog, dataset_name) if self._catalog else None
        if record is None or not has_lineage(dataset):
            return
        version = dataset.resolve_save_version()
        write_lineage(dataset, version, {**record, "dataset": dataset_name, "version": version})

    # ----------------------------------------------------------------- records of inputs

    def _pinned(self) -> set[str]:
        """The --load-versions names, and this run's outputs made from one of them: all used
        anyway, with a WARNING, where they disagree with other inputs."""
        named = set(self._run.get("load_versions") or {})
        return named | {n for n, r in self._records.items() if r.get("from_pinned")}

    def _input_records(
        self, names: Iterable[str], catalog: Any
    ) -> dict[str, dict[str, Any] | None]:
        """{input name: its record with "version"} for the saved and in-run inputs among names;
        None for a saved input without a record. Parameters and unversioned inputs left out."""
        found: dict[str, dict[str, Any] | None] = {}
        for name in names:
            if name == "parameters" or name.startswith("params:"):
                continue
            if name in self._records:
                found[name] = self._records[name]
                continue
            dataset = catalog_dataset(catalog, name)
            if not has_lineage(dataset):
                continue
            try:
                version = dataset.resolve_load_version()
            except Exception:  # noqa: BLE001 - no version yet: the load itself says so
                continue
            record = read_lineage(dataset, version)
            found[name] = None if record is None else {**record, "version": version}
        return found

    def _node_record(
        self, node: Any, catalog: Any, inputs: Mapping[str, Any], outputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        records = self._input_records(node.inputs, catalog)
        known = {name: r for name, r in records.items() if r is not None}
        pinned = self._pinned()
        fingerprint, mixed = None, []
        for what, kept, others in conflicts(known, pinned):
            if what == "fingerprint":
                fingerprint = known[kept[0]].get("fingerprint")
            mixed += [
                {
                    "input": name,
                    "version": known[name].get("version"),
                    "fingerprint": known[name].get("fingerprint"),
                    "conflict": what,
                    "pinned": name in pinned,
                }
                for name in others
            ]
        if fingerprint is None:
            fingerprint = next(
                (r["fingerprint"] for r in known.values() if r.get("fingerprint")), None
            )
        raw = next((r["raw"] for r in known.values() if r.get("raw")), None)
        ancestors: dict[str, str] = {}
        models: dict[str, str] = {}
        for name, record in known.items():
            ancestors.update(record.get("ancestors") or {})
            models.update(record.get("models") or {})
            if record.get("version"):
                ancestors[name] = record["version"]
                if _is_model(catalog_dataset(catalog, name)):
                    models[name] = record["version"]
        for name in outputs:  # a model's siblings (its history, grids) were made with it
            dataset = catalog_dataset(catalog, name)
            if _is_model(dataset) and has_lineage(dataset):
                models[name] = dataset.resolve_save_version()
        root = self._root(node, catalog, inputs, outputs)
        if root is not None:
            fingerprint, raw = root
        external = next((r["external"] for r in known.values() if r.get("external")), None)
        folder = next(
            (
                (n, d)
                for n, d in inputs.items()
                if isinstance(d, RawXrayCollection) and n != RAW_DATASET
            ),
            None,
        )
        if root is None and folder is not None:  # an external folder scored, not trained on
            external = {
                "dataset": folder[0],
                "source": folder[1].root,
                "listing": raw_listing(folder[1]),
                "files": len(folder[1].files),
            }
        return {
            "format": LINEAGE_FORMAT,
            "fingerprint": fingerprint,
            "raw": raw,
            "external": external,
            "ancestors": ancestors,
            "models": models,
            "inputs": {
                name: {
                    "version": (record or {}).get("version"),
                    "fingerprint": (record or {}).get("fingerprint"),
                }
                for name, record in records.items()
            },
            "node": node.name,
            "parameters": {
                name: jsonable(value)
                for name, value in inputs.items()
                if name == "parameters" or name.startswith("params:")
            },
            "run": dict(self._run),
            "environment": environment(),
            "mixed": mixed,
            "unrecorded_inputs": sorted(name for name, r in records.items() if r is None),
            "from_pinned": any(name in pinned for name in records),
        }

    def _root(
        self, node: Any, catalog: Any, inputs: Mapping[str, Any], outputs: Mapping[str, Any]
    ) -> tuple[str, dict[str, Any]] | None:
        """(fingerprint, raw block) when the node reads a raw folder and outputs its manifest
        (data_processing's ingest): the start of a lineage."""
        import pandas as pd

        from cxr_gan.reporting.data_quality import usable_fingerprint

        collection = next(
            ((n, d) for n, d in inputs.items() if isinstance(d, RawXrayCollection)), None
        )
        manifest = next(
            (
                (n, d)
                for n, d in outputs.items()
                if isinstance(d, pd.DataFrame) and {"sha256", "status"} <= set(d.columns)
            ),
            None,
        )
        if collection is None or manifest is None:
            return None
        dataset = catalog_dataset(catalog, manifest[0])
        version = dataset.resolve_save_version() if has_lineage(dataset) else None
        raw = {
            "dataset": collection[0],
            "source": collection[1].root,
            "listing": raw_listing(collection[1]),
            "manifest": manifest[0],
            "manifest_version": version,
        }
        return usable_fingerprint(manifest[1]), raw

    # ----------------------------------------------------------------- the checks

    def _refuse_conflicts(self, records: Mapping[str, dict[str, Any] | None], where: str) -> None:
        known = {name: r for name, r in records.items() if r is not None}
        pinned = self._pinned()
        for what, kept, others in conflicts(known, pinned):
            if all(name in pinned for name in others):
                key = f"{what}:{','.join(sorted(kept + others))}"
                if key not in self._warned:
                    self._warned.add(key)
                    logger.warning(
                        "WARNING: %s",
                        _conflict_sentence(what, kept, others, known) + " Used "
                        "anyway because --load-versions names it; its outputs' lineage.json "
                        'lists it under "mixed" with both fingerprints.',
                    )
                continue
            stale = stale_names(kept, others, known) if what == "fingerprint" else others
            raise LineageError(
                f"{where}: "
                + _conflict_sentence(what, kept, others, known)
                + f" Rebuild what is stale with: {rebuild_command(self._run, stale)}"
                + (" (nothing was run)" if where == RUN_INPUTS else " (this node was not run)")
            )

    def _check_run(self, pipeline: Any, catalog: Any) -> None:
        """The run's saved inputs, before any node: future versions, conflicts, the raw data,
        records missing (see the module's docstring)."""
        made = set(pipeline.all_outputs())
        free = [n for n in sorted(pipeline.inputs()) if n not in made]
        self._refuse_future(free, catalog)
        self._warn_future(sorted(made), catalog)
        records = self._input_records(free, catalog)
        self._refuse_conflicts(records, RUN_INPUTS)
        unrecorded = sorted(name for name, record in records.items() if record is None)
        if unrecorded:
            logger.warning(
                "WARNING: %s saved before cxr-gan recorded lineage (no %s in the version "
                "folder): which data they derive from is unknown. Used as they are; to rebuild "
                "them with a record: %s",
                ", ".join(unrecorded),
                LINEAGE_FILE,
                rebuild_command(self._run, unrecorded),
            )
        if RAW_DATASET not in pipeline.inputs():  # the run does not ingest the raw data itself
            pinned = self._pinned()  # used anyway: their warning is given above
            self._refuse_changed_raw(
                {n: r for n, r in records.items() if r is not None and n not in pinned}, catalog
            )

    def _future(self, names: Iterable[str], catalog: Any) -> list[str]:
        """One sentence per dataset among names whose latest version is dated in the future
        (--load-versions names left out)."""
        now = datetime.now(timezone.utc)
        pinned = self._pinned()
        found = []
        for name in names:
            dataset = catalog_dataset(catalog, name)
            if not has_lineage(dataset) or name in pinned:
                continue
            try:
                version = dataset.resolve_load_version()
            except Exception:  # noqa: BLE001 - no version yet: preflight says so
                continue
            when = version_time(version)
            if when is None or (when - now).total_seconds() <= FUTURE_MARGIN_S:
                continue
            folder = lineage_path(dataset, version).parent  # type: ignore[union-attr]
            found.append(
                f"{name}: its latest version {version} is dated {when - now} in the future "
                f"(this machine's clock reads {now.strftime(VERSION_FORMAT)[:-4]}Z), so it "
                f"would be loaded instead of every version saved until then. Move {folder} out "
                f"of {folder.parent} (or rename it to the time it was really made), or choose a "
                f"version with --load-versions {name}:<version>"
            )
        return found

    def _refuse_future(self, names: Iterable[str], catalog: Any) -> None:
        """An input whose latest version is dated in the future stops the run."""
        problems = self._future(names, catalog)
        if problems:
            raise LineageError(problems[0] + " (nothing was run).")

    def _warn_future(self, names: Iterable[str], catalog: Any) -> None:
        """An output with a version dated in the future would hide this run's own version from
        later runs: a WARNING each."""
        for problem in self._future(names, catalog):
            logger.warning("WARNING: this run's output %s.", problem)

    def _refuse_changed_raw(self, records: Mapping[str, dict[str, Any]], catalog: Any) -> None:
        """Inputs derived from raw data that the raw folder no longer holds are refused."""
        derived = {name: r for name, r in records.items() if r.get("raw") and r.get("fingerprint")}
        if not derived or RAW_DATASET not in catalog:
            return
        first = next(iter(derived.values()))
        raw, recorded = first["raw"], first["fingerprint"]
        try:
            collection = catalog.load(RAW_DATASET)
        except Exception as error:  # noqa: BLE001 - a missing raw folder: nothing to compare
            logger.warning(
                "WARNING: the raw data (%s) cannot be read (%s): whether the saved inputs still "
                "match it is not checked",
                RAW_DATASET,
                str(error).split("\n")[0],
            )
            return
        if not isinstance(collection, RawXrayCollection):
            return
        generated = any(not f.path for f in collection.files)
        if not generated and raw.get("listing") == raw_listing(collection):
            return
        manifest = self._recorded_manifest(raw, catalog)
        classes = dict((self._params.get("data_processing") or {}).get("classes") or {})
        current = fingerprint_now(collection, manifest, classes or collection.folders)
        if current == recorded:
            return
        stale = sorted(n for n, r in derived.items() if r["fingerprint"] == recorded)
        raise LineageError(
            f"{_describe(stale, derived)}: made from the raw data with fingerprint "
            f"{short(recorded)} ({raw.get('source')}), but {collection.root} now holds data "
            f"with fingerprint {short(current)} (images added, removed or changed since "
            f"data_processing ran). Rebuild what is stale with: "
            f"{rebuild_command(self._run, [raw.get('manifest') or 'raw_manifest'])} "
            "(nothing was run)"
        )

    @staticmethod
    def _recorded_manifest(raw: Mapping[str, Any], catalog: Any) -> pd.DataFrame | None:
        """The raw manifest version the inputs were made with, or None when it is gone."""
        dataset = catalog_dataset(catalog, raw.get("manifest") or "")
        version = raw.get("manifest_version")
        if not version or not has_lineage(dataset):
            return None
        import pandas as pd

        try:
            csv = Path(str(dataset._get_versioned_path(version)))
            return pd.read_csv(csv, keep_default_na=False, dtype=str)
        except (OSError, ValueError):
            return None


def _conflict_sentence(
    what: str, kept: Sequence[str], others: Sequence[str], records: Mapping[str, Mapping[str, Any]]
) -> str:
    if what == "fingerprint":
        return (
            f"{_describe(others, records)} derive from raw data with fingerprint "
            f"{short(records[others[0]].get('fingerprint'))}, but {_describe(kept, records)} "
            f"(the newest) from other raw data, with fingerprint "
            f"{short(records[kept[0]].get('fingerprint'))}."
        )
    if what == EXTERNAL:
        before, after = records[others[0]]["external"], records[kept[0]]["external"]
        return (
            f"{_describe(others, records)} were scored on the external folder "
            f"{before.get('source')} holding other files (listing {short(before['listing'])}, "
            f"{before.get('files')} files) than {_describe(kept, records)} (the newest: "
            f"{after.get('source')}, listing {short(after['listing'])}, {after.get('files')} "
            "files)."
        )
    old = (records[others[0]].get("models") or {}).get(what)
    new = (records[kept[0]].get("models") or {}).get(what)
    return (
        f"{_describe(others, records)} were made from {what} {old}, but "
        f"{_describe(kept, records)} from {what} {new} (a run stopped between its outputs?); "
        f"fingerprint {short(records[kept[0]].get('fingerprint'))}."
    )


def _is_model(dataset: Any) -> bool:
    from cxr_gan.datasets.keras_model_dataset import KerasModelDataset

    return isinstance(dataset, KerasModelDataset)
