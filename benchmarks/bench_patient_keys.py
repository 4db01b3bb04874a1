"""Patient keys without a manifest: how many of cxr-dev's same-patient pairs the file names keep
together, and how many name groups join different patients (issue 23: at least 18 of 46, at
most 2), scored against the patient_id column of ../shared/cxr-dev/manifest.csv.

    uv run python benchmarks/bench_patient_keys.py                  # prints the figures
    uv run python benchmarks/bench_patient_keys.py results.json     # and writes them

data_processing's ingest node runs in this process on cxr-dev with its manifest.csv hidden
(image_size 64: the patient keys do not depend on it), then the split and the data-quality
report; its confound warnings are printed too.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from pathlib import Path

import pandas as pd
from _project import SHARED_XRAYS

from cxr_gan.data.sources import RawXrayCollection, scan_folder
from cxr_gan.pipelines.data_processing.nodes import (
    ingest_raw_xrays,
    report_data_quality,
    split_train_test,
)
from cxr_gan.pipelines.data_processing.params import DataProcessingParams


def score(grouped: pd.Series, truth: pd.Series) -> dict:
    """Same-patient pairs (by truth) that share a non-empty group, and groups that join images
    of different patients. grouped, truth: patient ids indexed by file, "" for none."""
    pairs = [
        (a, b) for a, b in itertools.combinations(truth.index, 2) if truth[a] == truth[b] != ""
    ]
    together = [(a, b) for a, b in pairs if grouped[a] != "" and grouped[a] == grouped[b]]
    keyed = grouped[grouped != ""]
    groups = {key: members.index.tolist() for key, members in keyed.groupby(keyed)}
    wrong = {key: files for key, files in groups.items() if truth[files].nunique() > 1}
    return {
        "same_patient_pairs": len(pairs),
        "pairs_grouped": len(together),
        "groups": len(groups),
        "groups_joining_different_patients": len(wrong),
        "wrong_groups": wrong,
        "pairs_missed": [pair for pair in pairs if pair not in together],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, nargs="?", default=None)
    args = parser.parse_args()
    if not SHARED_XRAYS.is_dir():
        raise SystemExit(f"{SHARED_XRAYS} is absent: nothing to score")
    folder = scan_folder(SHARED_XRAYS)
    hidden = RawXrayCollection(folder.root, folder.files, folder.folders, {})  # no manifest
    params = DataProcessingParams(image_size=64, scratch_dir=tempfile.mkdtemp())
    started = time.perf_counter()
    _, manifest = ingest_raw_xrays(hidden, params)
    split = split_train_test(manifest, params)
    report = report_data_quality(manifest, split, params)
    seconds = time.perf_counter() - started
    truth = pd.read_csv(SHARED_XRAYS / "manifest.csv", dtype=str).set_index("filename")
    grouped = manifest.set_index("relative_path")["patient_id"].reindex(truth.index).fillna("")
    result = score(grouped, truth["patient_id"])
    by_patient = split.groupby("patient_id")["split"].nunique().drop("", errors="ignore")
    result.update(
        patient_groups_across_split=int((by_patient > 1).sum()),
        patient_warning=report["patient_warning"],
        confound_warnings=report["confound_warnings"],
        seconds=round(seconds, 1),
    )
    print(json.dumps(result, indent=2))
    if args.output:
        args.output.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
