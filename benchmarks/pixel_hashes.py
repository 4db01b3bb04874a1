"""Decoded pixels of every ../shared/cxr-dev image, hashed: compare two versions of the decoder.

    git archive <commit> src | tar -x -C /tmp/before
    PYTHONPATH=/tmp/before/src uv run python benchmarks/pixel_hashes.py /tmp/before.json
    uv run python benchmarks/pixel_hashes.py /tmp/after.json --compare /tmp/before.json

Each image under covid/ and normal/ is decoded by cxr_gan.data.decoding.decode_xray (the first
cxr_gan on the path: PYTHONPATH chooses the version) and its pixels (dtype and bytes) hashed
with SHA-256. --compare prints how many differ and which. Issue 12 asked that fixes for other
conventions leave every cxr-dev image's pixels as they were (docs/data.md has the result).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from _project import SHARED_XRAYS

from cxr_gan.data.decoding import decode_xray


def pixel_hashes(root: Path) -> dict[str, str]:
    hashes = {}
    for path in sorted(p for p in root.glob("*/*") if p.parent.name in ("covid", "normal")):
        try:
            pixels = decode_xray(path.read_bytes(), path.name).pixels
            digest = hashlib.sha256(str(pixels.dtype).encode() + pixels.tobytes()).hexdigest()
        except Exception as error:  # a refusal is a result too: compared as text
            digest = f"error {type(error).__name__}: {error}"
        hashes[str(path.relative_to(root))] = digest
    return hashes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--compare", type=Path, default=None)
    args = parser.parse_args()
    if not SHARED_XRAYS.is_dir():
        raise SystemExit(f"{SHARED_XRAYS} is absent: nothing to hash")
    hashes = pixel_hashes(SHARED_XRAYS)
    args.output.write_text(json.dumps(hashes, indent=0))
    print(f"{len(hashes)} images hashed -> {args.output}")
    if args.compare:
        before = json.loads(args.compare.read_text())
        differ = sorted(k for k in before.keys() | hashes.keys() if before.get(k) != hashes.get(k))
        print(f"{len(differ)} of {len(hashes)} differ from {args.compare}: {differ}")


if __name__ == "__main__":
    main()
