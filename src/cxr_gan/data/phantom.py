"""Deterministic phantom chest X-rays, so the whole study runs without any real patient data.

A phantom is drawn as attenuation layers (soft tissue, lungs, mediastinum, heart, ribs, clavicles,
diaphragm) on a float canvas and blurred like a radiograph. The COVID-19 class adds patchy, hazy,
mostly peripheral and lower-zone opacities. Every image depends only on (seed, label, index), so a
phantom set is reproducible to the byte and any single image can be drawn on its own.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

NORMAL, COVID = 0, 1
_WORK_SIZE = 256  # drawn at this size, then resized; keeps anatomy proportions independent of size


@dataclass(frozen=True)
class PhantomConfound:
    """An optional source artefact added to one class only, to mimic archive differences.

    kind: "marker" (a bright letter-like block in a corner), "border" (a dark frame) or
    "exposure" (a global brightness shift). Off unless a user asks for it.
    """

    kind: str = "marker"
    label: int = COVID
    strength: float = 1.0


def _soft_mask(shape: tuple[int, int], draw, blur: float) -> np.ndarray:
    mask = np.zeros(shape, np.float32)
    draw(mask)
    if blur > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), blur)
    return mask


def _lung_polygon(side: int, rng: np.random.Generator, size: int) -> np.ndarray:
    """Outline of one lung field: narrow apex, wide base, domed diaphragm at the bottom.

    side = -1 draws the image-left lung (patient's right), +1 the image-right lung.
    """
    cx = size / 2 + side * size * rng.uniform(0.18, 0.21)
    apex_y = size * rng.uniform(0.15, 0.19)
    base_y = size * rng.uniform(0.70, 0.76)
    half_w = size * rng.uniform(0.13, 0.16)
    points = []
    for t in np.linspace(0, 1, 24):  # lateral edge, apex to costophrenic angle
        y = apex_y + t * (base_y - apex_y)
        x = cx + side * half_w * (0.35 + 0.75 * np.sin(t * np.pi / 2) ** 0.6)
        points.append((x, y))
    for t in np.linspace(0, 1, 16):  # diaphragm dome, lateral to medial
        x = cx + side * half_w * (1.1 - 1.9 * t)
        y = base_y - size * 0.07 * np.sin(t * np.pi * 0.85)
        points.append((x, y))
    for t in np.linspace(1, 0, 16):  # medial edge back up to the apex
        y = apex_y + t * (base_y - size * 0.06 - apex_y)
        x = cx - side * half_w * (0.55 + 0.2 * t)
        points.append((x, y))
    return np.array(points, np.int32)


def draw_phantom(label: int, index: int, seed: int, size: int = 256, confound=None) -> np.ndarray:
    """Draw one phantom X-ray as uint8 (size x size); bright = dense, as on a radiograph."""
    rng = np.random.default_rng([seed, label, index])
    s = _WORK_SIZE
    shape = (s, s)
    img = np.full(shape, 0.06, np.float32)

    body = _soft_mask(
        shape,
        lambda m: cv2.ellipse(
            m,
            (int(s / 2), int(s * 0.7)),
            (int(s * rng.uniform(0.46, 0.5)), int(s * 0.62)),
            0,
            0,
            360,
            1.0,
            -1,
        ),
        3,
    )
    img += 0.42 * body
    neck = _soft_mask(
        shape,
        lambda m: cv2.rectangle(m, (int(s * 0.42), 0), (int(s * 0.58), int(s * 0.2)), 1, -1),
        4,
    )
    img += 0.3 * neck * (1 - body)

    lungs = _soft_mask(
        shape,
        lambda m: cv2.fillPoly(m, [_lung_polygon(-1, rng, s), _lung_polygon(1, rng, s)], 1.0),
        2.5,
    )
    vessels = cv2.GaussianBlur(rng.random(shape).astype(np.float32), (0, 0), 1.5)
    img -= 0.3 * lungs * (1.1 - 0.5 * vessels)

    spine = _soft_mask(
        shape, lambda m: cv2.rectangle(m, (int(s * 0.46), 0), (int(s * 0.54), s), 1, -1), 3
    )
    img += 0.16 * spine
    heart_c = (int(s * rng.uniform(0.54, 0.57)), int(s * rng.uniform(0.58, 0.62)))
    heart_axes = (int(s * rng.uniform(0.16, 0.19)), int(s * rng.uniform(0.12, 0.14)))
    heart = _soft_mask(
        shape, lambda m: cv2.ellipse(m, heart_c, heart_axes, -20, 0, 360, 1.0, -1), 4
    )
    img += 0.26 * heart

    ribs = np.zeros(shape, np.float32)
    rib_spacing = s * rng.uniform(0.058, 0.066)
    for k in range(10):
        # posterior ribs arch up from the spine and fall laterally
        centre = (int(s / 2), int(s * 0.2 + k * rib_spacing))
        axes = (int(s * (0.27 + 0.006 * k)), int(s * 0.11))
        cv2.ellipse(ribs, centre, axes, 0, 195, 345, 1.0, max(2, int(s * 0.013)))
    ribs = cv2.GaussianBlur(ribs, (0, 0), 1.0)
    thorax = cv2.GaussianBlur(cv2.dilate(lungs, np.ones((9, 9), np.uint8)), (0, 0), 4)
    img += 0.12 * ribs * np.clip(thorax * 1.3, 0, 1)
    for side in (-1, 1):
        x0, x1 = s / 2 + side * s * 0.05, s / 2 + side * s * 0.33
        y0, y1 = s * 0.17, s * rng.uniform(0.11, 0.14)
        cv2.line(img, (int(x0), int(y0)), (int(x1), int(y1)), 0.62, max(3, int(s * 0.022)))

    if label == COVID:
        opacity = np.zeros(shape, np.float32)
        ys, xs = np.nonzero(lungs > 0.5)
        # favour peripheral (far from the midline) and lower-zone pixels
        weight = (np.abs(xs - s / 2) / (s / 2)) ** 1.5 * (ys / s) ** 2
        extent = rng.integers(3, 12)
        picks = rng.choice(len(xs), size=extent, p=weight / weight.sum())
        for p in picks:
            radius = s * rng.uniform(0.03, 0.08)
            cv2.circle(opacity, (int(xs[p]), int(ys[p])), int(radius), rng.uniform(0.5, 1.0), -1)
        opacity = cv2.GaussianBlur(opacity, (0, 0), s * 0.025)
        texture = cv2.GaussianBlur(rng.random(shape).astype(np.float32), (0, 0), 2.0)
        img += 0.3 * opacity * lungs * (0.5 + texture)

    angle = rng.uniform(-7, 7)
    shift = rng.uniform(-0.07, 0.07, 2) * s
    matrix = cv2.getRotationMatrix2D((s / 2, s / 2), angle, rng.uniform(0.86, 1.08))
    matrix[:, 2] += shift
    img = cv2.warpAffine(img, matrix, shape, borderMode=cv2.BORDER_CONSTANT, borderValue=0.06)
    img = cv2.GaussianBlur(img, (0, 0), 0.8)
    img += rng.normal(0, 0.012, shape).astype(np.float32)
    gamma = rng.uniform(0.7, 1.4)
    img = np.clip(img, 0, 1) ** gamma * rng.uniform(0.9, 1.05)

    if confound is not None and label == confound.label:
        img = _apply_confound(img, confound)

    out = cv2.resize(np.clip(img, 0, 1), (size, size), interpolation=cv2.INTER_AREA)
    return np.round(out * 255).astype(np.uint8)


def _apply_confound(img: np.ndarray, confound: PhantomConfound) -> np.ndarray:
    s = img.shape[0]
    img = img.copy()
    if confound.kind == "marker":
        cv2.rectangle(img, (int(s * 0.82), int(s * 0.04)), (int(s * 0.94), int(s * 0.12)), 1.0, -1)
    elif confound.kind == "border":
        width = max(2, int(s * 0.05 * confound.strength))
        img[:width], img[-width:], img[:, :width], img[:, -width:] = 0, 0, 0, 0
    elif confound.kind == "exposure":
        img = img + 0.1 * confound.strength
    else:
        raise ValueError(
            f"Unknown phantom confound kind {confound.kind!r}: use marker, border or exposure"
        )
    return np.clip(img, 0, 1)


def write_phantom_folder(out_dir: Path, count_per_class: int, size: int, seed: int) -> list[Path]:
    """Write phantoms as PNGs in the raw-data layout (out_dir/normal, out_dir/covid)."""
    written = []
    for label, folder in ((NORMAL, "normal"), (COVID, "covid")):
        target = Path(out_dir) / folder
        target.mkdir(parents=True, exist_ok=True)
        for index in range(count_per_class):
            path = target / f"phantom_{index:05d}.png"
            cv2.imwrite(str(path), draw_phantom(label, index, seed, size))
            written.append(path)
    return written


def write_sourced_phantom_folder(
    out_dir: Path,
    sources: dict[str, tuple[int, int, bool]],
    size: int,
    seed: int,
    source_column: str = "source_repo",
) -> Path:
    """Phantoms from several made-up archives, as an external folder with a manifest.

    sources: {name: (covid count, normal count, marked)}; every image of a `marked` source
    carries the corner marker (PhantomConfound "marker"), whatever its class, so the marker
    tells archives apart, not classes. Images keep their class's disease signal. Writes
    out_dir/{covid,normal}/<source>_<index>.png and out_dir/manifest.csv (filename, label,
    `source_column`); returns the manifest's path."""
    out_dir = Path(out_dir)
    rows = []
    for source, (covid, normal, marked) in sources.items():
        for label, folder, count in ((COVID, "covid", covid), (NORMAL, "normal", normal)):
            (out_dir / folder).mkdir(parents=True, exist_ok=True)
            # the archive's mark on both classes: PhantomConfound marks the label it names
            confound = PhantomConfound("marker", label=label) if marked else None
            for index in range(count):
                name = f"{folder}/{source}_{index:05d}.png"
                drawn = draw_phantom(label, len(rows), seed, size, confound)
                cv2.imwrite(str(out_dir / name), drawn)
                rows.append(f"{name},{folder},{source}")
    manifest = out_dir / "manifest.csv"
    manifest.write_text("\n".join([f"filename,label,{source_column}", *rows]) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> None:
    """Command line: write the demo's phantom X-rays to a folder to look at them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="folder to create normal/ and covid/ in")
    parser.add_argument("--count", type=int, default=20, help="images per class (default 20)")
    parser.add_argument("--size", type=int, default=256, help="side in pixels (default 256)")
    parser.add_argument("--seed", type=int, default=42, help="seed (default 42, as the demo)")
    args = parser.parse_args(argv)
    paths = write_phantom_folder(args.out_dir, args.count, args.size, args.seed)
    print(f"wrote {len(paths)} phantom X-rays under {args.out_dir}")


if __name__ == "__main__":
    main()
