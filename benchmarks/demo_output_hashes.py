"""Hash every output of the demo study, to show that a change to the code keeps its behaviour.

    uv run python benchmarks/demo_output_hashes.py run OUT.json [--code CHECKOUT] [--keep DIR]
    uv run python benchmarks/demo_output_hashes.py hash DATA_DIR OUT.json
    uv run python benchmarks/demo_output_hashes.py compare A.json B.json

`run` runs `kedro run --env demo` in a fresh temp copy of the project (conf/ and pyproject.toml of
CHECKOUT, default this one, and CHECKOUT/src first on PYTHONPATH, so another checkout's code runs
with this virtual environment), then hashes every file under its data/demo into OUT.json as
{path: sha256}; --keep moves data/demo to DIR for a later `hash`. `compare` prints the paths
whose hashes differ, or that one side lacks, and exits 1 when there are any.

Paths are relative to data/demo with each version folder (a save time) written <version>. What
is not hashed as its bytes, and why (the lists below are the whole exclusion list):
- JSON and YAML are parsed; keys in EXCLUDED_KEYS are dropped at any depth; every string has the
  patterns in VOLATILE replaced; the rest is dumped with sorted keys. CSV: columns named in
  EXCLUDED_KEYS dropped, VOLATILE replaced in each cell. Markdown, HTML and text: VOLATILE
  replaced.
- PNG and JPEG: the decoded pixels (mode, size, bytes), not the file's metadata chunks.
- .npz and .keras are zip files whose entries carry the time they were written: their entries'
  contents are hashed (arrays as dtype, shape and bytes; a Keras weights file as its HDF5
  datasets), except the entries in EXCLUDED_ENTRIES.
- EXCLUDED_PATHS: whole files or folders left out.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from _project import ROOT, project_copy, timed_kedro_run

# dropped from JSON / YAML at any depth and from CSV columns: they vary from run to run
EXCLUDED_KEYS = frozenset(
    {
        "seconds",  # wall times: per GAN epoch (gan_history), per node (node_timings.json)
        "run_id",  # the run's id in lineage.json (its save version)
        "shared_object_id",  # Keras' config.json: id() of an object layers share, an address
    }
)
# replaced in every string of JSON / YAML / CSV / text outputs
VOLATILE = (
    (re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}\.\d{2}\.\d{2}\.\d{3}Z"), "<version>"),  # Kedro versions
    (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:?\d{2}|Z)?"), "<time>"),
    (re.compile(r"/tmp/cxr-gan-bench-[\w-]+"), "<project>"),  # the temp project's own folder
    (re.compile(r" at 0x[0-9a-f]+>"), " at <address>>"),  # an object's repr (lineage: the runner)
)
# entries of .keras / .npz zip files left out: Keras' date_saved and version
EXCLUDED_ENTRIES = frozenset({"metadata.json"})
# (path prefix relative to data/demo, reason)
EXCLUDED_PATHS = (("mlruns", "MLflow's store: run ids and clock times in every file; no output"),)
VERSION_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}\.\d{2}\.\d{2}\.\d{3}Z$")


def _volatile(text: str, project: str | None) -> str:
    if project:
        text = text.replace(project, "<project>")
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def _normalised(value: Any, project: str | None) -> Any:
    """A parsed JSON / YAML value without EXCLUDED_KEYS and with VOLATILE replaced."""
    if isinstance(value, dict):
        return {
            _volatile(str(key), project): _normalised(item, project)
            for key, item in value.items()
            if key not in EXCLUDED_KEYS
        }
    if isinstance(value, list | tuple):
        return [_normalised(item, project) for item in value]
    if isinstance(value, str):
        return _volatile(value, project)
    return value


def _array_digest(digest: Any, name: str, array: np.ndarray) -> None:
    digest.update(f"{name} {array.dtype.str} {array.shape}\n".encode())
    digest.update(np.ascontiguousarray(array).tobytes())


def _h5_digest(data: bytes, digest: Any) -> None:
    import h5py

    with h5py.File(io.BytesIO(data), "r") as store:
        names: list[str] = []
        store.visit(names.append)
        for name in sorted(names):
            if isinstance(store[name], h5py.Dataset):
                _array_digest(digest, name, store[name][()])


def _zip_digest(path: Path, digest: Any, project: str | None) -> None:
    with zipfile.ZipFile(path) as archive:
        for name in sorted(archive.namelist()):
            if name in EXCLUDED_ENTRIES:
                continue
            data = archive.read(name)
            digest.update(f"entry {name}\n".encode())
            if name.endswith(".npy"):
                _array_digest(digest, name, np.load(io.BytesIO(data), allow_pickle=False))
            elif name.endswith(".h5"):
                _h5_digest(data, digest)
            elif name.endswith(".json"):
                digest.update(_text_bytes(name, data.decode(), project))
            else:
                digest.update(data)


def _text_bytes(name: str, text: str, project: str | None) -> bytes:
    """The normalised content of a text output."""
    suffix = Path(name).suffix.lower()
    if suffix == ".json":
        return json.dumps(_normalised(json.loads(text), project), sort_keys=True).encode()
    if suffix in (".yml", ".yaml"):
        parsed = yaml.safe_load(text)
        return json.dumps(_normalised(parsed, project), sort_keys=True, default=str).encode()
    if suffix == ".csv":
        rows = list(csv.reader(io.StringIO(text)))
        keep = [
            i for i, column in enumerate(rows[0] if rows else []) if column not in EXCLUDED_KEYS
        ]
        out = io.StringIO()
        csv.writer(out).writerows(
            [_volatile(row[i], project) for i in keep if i < len(row)] for row in rows
        )
        return out.getvalue().encode()
    return _volatile(text, project).encode()


TEXT_SUFFIXES = {".json", ".yml", ".yaml", ".csv", ".md", ".html", ".txt", ".log"}


def file_hash(path: Path, project: str | None = None) -> str:
    """sha256 of a file's normalised content (see the module docstring); `project` is the run's
    own project folder, written <project>."""
    digest = hashlib.sha256()
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        digest.update(_text_bytes(path.name, path.read_text(encoding="utf-8"), project))
    elif suffix in (".png", ".jpg", ".jpeg"):
        from PIL import Image

        with Image.open(path) as image:
            digest.update(f"{image.mode} {image.size}\n".encode())
            digest.update(image.tobytes())
    elif suffix in (".npz", ".keras", ".zip"):
        _zip_digest(path, digest, project)
    else:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _key(relative: Path) -> str:
    return "/".join("<version>" if VERSION_FOLDER.match(part) else part for part in relative.parts)


def hash_outputs(data: Path, project: str | None = None) -> dict[str, str]:
    """{path relative to `data`, version folders written <version>: hash} of every file under
    `data` (the demo's data/demo) outside EXCLUDED_PATHS."""
    hashes: dict[str, str] = {}
    for path in sorted(p for p in data.rglob("*") if p.is_file()):
        relative = path.relative_to(data)
        if any(
            relative.parts[: len(Path(prefix).parts)] == Path(prefix).parts
            for prefix, _ in EXCLUDED_PATHS
        ):
            continue
        key = _key(relative)
        while key in hashes:  # a second version of the same output
            key += "+"
        hashes[key] = file_hash(path, project)
    return hashes


def run_demo(code: Path, keep: Path | None) -> dict:
    """`kedro run --env demo` with `code`'s conf and src in a temp project; its output hashes."""
    project = project_copy(root=code)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(code / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    imported = subprocess.run(
        [sys.executable, "-c", "import cxr_gan; print(cxr_gan.__file__)"],
        env=os.environ,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        measured = timed_kedro_run(project, "--env", "demo")
        hashes = hash_outputs(project / "data" / "demo", str(project))
        if keep:
            shutil.move(project / "data" / "demo", keep)
    finally:
        shutil.rmtree(project, ignore_errors=True)
    return {"code": imported, "seconds": measured["seconds"], "hashes": hashes}


def compare(a: dict[str, str], b: dict[str, str]) -> list[str]:
    """One line per path whose hash differs or that one side lacks, in path order."""
    lines = []
    for key in sorted(a.keys() | b.keys()):
        if key not in b:
            lines.append(f"only in A: {key}")
        elif key not in a:
            lines.append(f"only in B: {key}")
        elif a[key] != b[key]:
            lines.append(f"differs:   {key}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    run = modes.add_parser("run", help="run the demo and hash its outputs")
    run.add_argument("out", type=Path)
    run.add_argument("--code", type=Path, default=ROOT, help="checkout whose conf and src run")
    run.add_argument("--keep", type=Path, help="move the demo's data/demo here")
    hash_ = modes.add_parser("hash", help="hash a kept data/demo folder")
    hash_.add_argument("data", type=Path)
    hash_.add_argument("out", type=Path)
    both = modes.add_parser("compare", help="differences between two hash files")
    both.add_argument("a", type=Path)
    both.add_argument("b", type=Path)
    args = parser.parse_args()
    if args.mode == "compare":
        a, b = (json.loads(path.read_text())["hashes"] for path in (args.a, args.b))
        lines = compare(a, b)
        print("\n".join(lines) or f"same: {len(a)} outputs")
        raise SystemExit(1 if lines else 0)
    if args.mode == "run":
        result = run_demo(args.code.resolve(), args.keep)
    else:
        result = {"code": None, "seconds": None, "hashes": hash_outputs(args.data)}
    result["excluded_paths"] = dict(EXCLUDED_PATHS)
    args.out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"{len(result['hashes'])} outputs hashed -> {args.out}")


if __name__ == "__main__":
    main()
