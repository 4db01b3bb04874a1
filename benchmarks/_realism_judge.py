"""Issue 22's judge: every GAN arm against real X-rays it never saw (../shared/cxr-eval), per class.

Fixed before any recipe was tried (the commit that added it scored only today's default):
- cxr-eval is split ONCE by patient into a *selection* half (screening arms) and a
  *confirmation* half (the final figures): a patient's images go to the half chosen by the
  parity of the SHA-256 of its patient id. Neither half is ever trained on.
- Common size: 128 px. cxr-eval images are decoded at full detail by the product's decoder
  and brought straight to 128 x 128 (resize_square, stretch, as data_processing does);
  synthetic images are brought from the arm's size to 128 (cubic, as synthesis does).
- Per arm and class: 3 sample sets of 50 (seeds 1000 x label + set). Each arm's *floor*: 3
  draws of 50 of its own GAN-training images of the class, brought to the arm's size and back
  to 128 px, scored the same way: what a perfect generator of that size would score.
- Measures, each against the half's real images of the class:
  * KID (random-CNN features, FeatureSpace fitted on the half's real images, so every arm is
    paired on the same real features) and pixel KID (32 x 32 pixels): all-pairs, on the 150
    synthetic images pooled (floor: all GAN-training images of the class), with a two-sample
    jackknife interval;
  * real-vs-synthetic AUC (5-fold logistic regression on the standardised random-CNN
    features), the mean over sets; its interval: mean +- 1.96 x sqrt(mean DeLong variance),
    conservative for the mean of correlated sets;
  * diversity (mean pairwise MS-SSIM at 128 px), coverage and density (k = 5), the
    Wasserstein-1 distance of per-image mean and std (grey levels), each the mean over sets;
  * nearest-training SSIM (synthetic vs the arm's training images of the class, at 128 px);
  * targets of issue 22 (see `targets`), the KID ones as paired contrasts against today64.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CXR_EVAL = ROOT.parent / "shared" / "cxr-eval"
SIDE = 128
SETS, PER_SET = 3, 50
HALVES = ("selection", "confirmation")
# today's default (main at 45df3ac), the KID contrasts' baseline on each half: the screen's
# 15-minute run on the selection half, the full 800-epoch node run on the confirmation half
BASELINE = {"selection": "today64", "confirmation": "today64_800"}
CLASSES = ((1, "covid"), (0, "normal"))


def half_of(patient_id: str) -> str:
    """The fixed half of a cxr-eval patient: selection for an even SHA-256, else confirmation."""
    return HALVES[int(hashlib.sha256(patient_id.encode()).hexdigest(), 16) % 2]


def eval_images(cache: Path) -> dict[str, np.ndarray]:
    """cxr-eval decoded by the product's decoder and brought to 128 px, with labels, halves and
    file names (cached as an .npz between runs)."""
    import pandas as pd

    if cache.exists():
        with np.load(cache, allow_pickle=False) as stored:
            return dict(stored)
    from cxr_gan.data.decoding import decode_xray
    from cxr_gan.data.preprocessing import resize_square

    manifest = pd.read_csv(CXR_EVAL / "manifest.csv", dtype=str, keep_default_na=False)
    images, labels, halves = [], [], []
    for row in manifest.itertuples():
        path = CXR_EVAL / row.filename
        pixels = decode_xray(path.read_bytes(), path.name).pixels
        images.append(resize_square(pixels, SIDE))
        labels.append(1 if row.label == "covid" else 0)
        halves.append(half_of(row.patient_id))
    out = {
        "images": np.stack(images),
        "labels": np.array(labels, np.int32),
        "halves": np.array(halves),
        "files": manifest["filename"].to_numpy().astype(str),
    }
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **out)
    return out


def split_hashes(evaluation: dict[str, np.ndarray]) -> dict[str, str]:
    """SHA-256 of each half's sorted file names: the judge's split, recorded with its results."""
    return {
        half: hashlib.sha256(
            "\n".join(sorted(evaluation["files"][evaluation["halves"] == half])).encode()
        ).hexdigest()
        for half in HALVES
    }


def to_side(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 (n, h, w) brought to the arm's `size` (area) and then to 128 px (cubic when
    enlarging): a floor image goes through the same sizes as a synthetic one."""
    from cxr_gan.data.preprocessing import resize_square
    from cxr_gan.metrics.image_sets import at_gan_resolution

    small = at_gan_resolution(np.asarray(images), size)
    return np.stack([resize_square(image, SIDE) for image in small])


class ClassJudge:
    """The half's real images of one class in the judge's two feature spaces."""

    def __init__(self, real: np.ndarray, extractor) -> None:
        from cxr_gan.metrics.feature_distances import FeatureSpace
        from cxr_gan.metrics.realism import pixel_vectors
        from cxr_gan.metrics.ssim import mean_pairwise_ms_ssim

        self.real, self.extractor = real, extractor
        self.features = extractor(real)
        self.space = FeatureSpace.fit(self.features)
        self.pixels = pixel_vectors(real)
        self.pixel_space = FeatureSpace.fit(self.pixels)
        self.kernel = self.space.kernel_features(self.features)
        self.pixel_kernel = self.pixel_space.kernel_features(self.pixels)
        self.real_ms_ssim = mean_pairwise_ms_ssim(real, image_size=(SIDE, SIDE))

    def kernels(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(random-CNN, pixel) kernel features of 128 px images."""
        from cxr_gan.metrics.realism import pixel_vectors

        return (
            self.space.kernel_features(self.extractor(images)),
            self.pixel_space.kernel_features(pixel_vectors(images)),
        )

    def set_scores(self, images: np.ndarray) -> dict[str, float]:
        """One set of 128 px images: AUC (+ DeLong SE), diversity, coverage, density, W1."""
        from cxr_gan.metrics.coverage import knn_scores
        from cxr_gan.metrics.detectability import real_vs_synthetic_auc_se
        from cxr_gan.metrics.realism import exposure_w1
        from cxr_gan.metrics.ssim import mean_pairwise_ms_ssim

        features = self.extractor(images)
        auc, se = real_vs_synthetic_auc_se(
            self.space.standardize(self.features), self.space.standardize(features)
        )
        knn = knn_scores(self.space.standardize(self.features), self.space.standardize(features))
        w1 = exposure_w1(self.real, images)
        return {
            "auc": auc,
            "auc_se": se,
            "ms_ssim": mean_pairwise_ms_ssim(images, image_size=(SIDE, SIDE)),
            "coverage": knn.coverage,
            "density": knn.density,
            "w1_mean": w1["mean"],
            "w1_std": w1["std"],
        }


def _summarise(per_set: list[dict[str, float]]) -> dict:
    """Means over sets; the AUC's interval from the mean DeLong variance (Var(mean) of
    correlated sets is at most the mean variance)."""
    out = {key: float(np.mean([s[key] for s in per_set])) for key in per_set[0] if key != "auc_se"}
    half = 1.96 * float(np.sqrt(np.mean([s["auc_se"] ** 2 for s in per_set])))
    out["auc_ci95"] = [out["auc"] - half, out["auc"] + half]
    out["auc_per_set"] = [s["auc"] for s in per_set]
    return out


def score_arm(judge: ClassJudge, synthetic_sets, floor_sets, floor_pool) -> dict:
    """Everything the judge says of one arm and one class; kernels kept for paired contrasts.
    floor_pool: all the arm's GAN-training images of the class through its size at 128 px (the
    floor's KID and the nearest-training SSIM's reference)."""
    from cxr_gan.metrics.feature_distances import jackknife_se, kid_jackknife
    from cxr_gan.metrics.ssim import count_memorized, nearest_real_ssim

    pooled = np.concatenate(synthetic_sets)
    kernels = {"arm": judge.kernels(pooled), "floor": judge.kernels(floor_pool)}
    kid = {}
    for index, name in ((0, "kid"), (1, "pixel_kid")):
        real = judge.kernel if index == 0 else judge.pixel_kernel
        for who, pair in kernels.items():
            value, leave_real, leave_other = kid_jackknife(real, pair[index])
            se = float(np.hypot(jackknife_se(leave_real), jackknife_se(leave_other)))
            kid[f"{name}_{who}_x1000"] = 1000 * value
            kid[f"{name}_{who}_ci95_x1000"] = [
                1000 * (value - 1.96 * se),
                1000 * (value + 1.96 * se),
            ]
    nearest, _ = nearest_real_ssim(pooled, floor_pool, (SIDE, SIDE))
    return {
        "synthetic": _summarise([judge.set_scores(images) for images in synthetic_sets]),
        "floor": _summarise([judge.set_scores(images) for images in floor_sets]),
        **kid,
        "nearest_training_ssim_max": float(nearest.max()),
        "nearest_training_ssim_mean": float(nearest.mean()),
        "copies_over_0.9": count_memorized(nearest, 0.9),
        "real_ms_ssim_full_detail": judge.real_ms_ssim,
        "_kernels": kernels,
    }


def kid_targets(judge: ClassJudge, arm: dict, baseline: dict) -> dict:
    """Issue 22's KID targets as paired contrasts on the same real features:
    margin = gap_today / 2 - gap_arm (gap = KID - its floor's KID), met where the 95% interval
    lies above 0. Same for pixel KID."""
    from cxr_gan.metrics.feature_distances import kid_contrast

    out = {}
    for index, name in ((0, "kid"), (1, "pixel_kid")):
        real = judge.kernel if index == 0 else judge.pixel_kernel
        others = {
            "today": baseline["_kernels"]["arm"][index],
            "today_floor": baseline["_kernels"]["floor"][index],
            "arm": arm["_kernels"]["arm"][index],
            "arm_floor": arm["_kernels"]["floor"][index],
        }
        weights = {"today": 0.5, "today_floor": -0.5, "arm": -1.0, "arm_floor": 1.0}
        if arm is baseline:
            continue
        if others["arm_floor"] is others["today_floor"] or np.array_equal(
            others["arm_floor"], others["today_floor"]
        ):  # same size: one floor, drawn once, weighted +0.5
            del others["arm_floor"], weights["arm_floor"]
            weights["today_floor"] = 0.5
        value, se, _ = kid_contrast(real, others, weights)
        low, high = 1000 * (value - 1.96 * se), 1000 * (value + 1.96 * se)
        out[f"{name}_margin_x1000"] = 1000 * value
        out[f"{name}_margin_ci95_x1000"] = [low, high]
        out[f"{name}_target"] = "met" if low > 0 else "not met" if high < 0 else "undecided"
    return out


def targets(scores: dict, record: dict, conditioning: dict | None) -> dict[str, bool | None]:
    """Issue 22's targets for one arm and class (KID contrasts: kid_targets)."""
    synthetic, floor = scores["synthetic"], scores["floor"]
    limit = max(floor["auc"] + 0.10, 0.80)
    return {
        "auc_limit": limit,
        "auc": synthetic["auc"] <= limit and synthetic["auc_ci95"][1] <= limit + 0.05,
        "w1_mean": synthetic["w1_mean"] <= 2 * floor["w1_mean"],
        "w1_std": synthetic["w1_std"] <= 2 * floor["w1_std"],
        "diversity": synthetic["ms_ssim"] <= floor["ms_ssim"] + 0.05,
        "coverage": synthetic["coverage"] >= 0.6 * floor["coverage"],
        "no_copy": scores["nearest_training_ssim_max"] < 0.9,
        "conditions": None if conditioning is None else conditioning["intervals_overlap"],
        "generator_le_50mb": record["generator_keras_mb"] <= 50,
        "did_not_end_collapsing": record["generator_epoch"] == record["epochs"],
    }


def strip_kernels(value):
    """The JSON record without the kernel features kept for contrasts."""
    if isinstance(value, dict):
        return {k: strip_kernels(v) for k, v in value.items() if k != "_kernels"}
    return value


def write(path: Path, half: str, hashes: dict, results: dict) -> None:
    """Merge this run's arms into the results file, per half."""
    earlier = json.loads(path.read_text()) if path.exists() else {}
    block = earlier.get(half, {"arms": {}})
    block["split_sha256"] = hashes[half]
    block["arms"].update(strip_kernels(results))
    earlier[half] = block
    path.write_text(json.dumps(earlier, indent=2, default=float))


def markdown_table(path: Path, half: str) -> str:
    """The docs table of one half: an arm and class a row, each figure beside its floor."""
    block = json.loads(path.read_text())[half]
    lines = [
        f"cxr-eval {half} half (split {block['split_sha256'][:12]}); synthetic / floor, means "
        "over 3 sets of 50; AUC with its 95% interval; KID x1000 on all 150 images",
        "",
        "| arm | px | min (steps) | seed | class | AUC [95% CI] / floor | KID / floor "
        "| pixel KID / floor | KID, pixel KID target margin [95% CI] | W1 mean, std / floor "
        "| MS-SSIM / floor | coverage / floor | nearest SSIM | targets failed (undecided) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for arm, result in block["arms"].items():
        record = result["record"]
        for name, scores in result["classes"].items():
            s, f = scores["synthetic"], scores["floor"]
            targets = scores["targets"]
            failed = [k for k, v in targets.items() if v is False or v == "not met"]
            undecided = [k for k, v in targets.items() if v == "undecided"]
            margins = "n/a (the baseline)"
            if "kid_margin_x1000" in targets:
                margins = "; ".join(
                    f"{targets[f'{m}_margin_x1000']:.0f} [{low:.0f}, {high:.0f}]"
                    for m in ("kid", "pixel_kid")
                    for low, high in [targets[f"{m}_margin_ci95_x1000"]]
                )
            verdict = ", ".join(failed) or "none"
            if undecided:
                verdict += f" ({', '.join(undecided)})"
            lines.append(
                f"| {arm} | {result['gan_image_size']} "
                f"| {record['train_seconds'] / 60:.1f} ({record['steps']:,}) "
                f"| {record['settings']['seed']} | {name} "
                f"| {s['auc']:.2f} [{s['auc_ci95'][0]:.2f}, {s['auc_ci95'][1]:.2f}] "
                f"/ {f['auc']:.2f} "
                f"| {scores['kid_arm_x1000']:.0f} / {scores['kid_floor_x1000']:.0f} "
                f"| {scores['pixel_kid_arm_x1000']:.0f} / {scores['pixel_kid_floor_x1000']:.0f} "
                f"| {margins} "
                f"| {s['w1_mean']:.1f}, {s['w1_std']:.1f} / {f['w1_mean']:.1f}, {f['w1_std']:.1f} "
                f"| {s['ms_ssim']:.2f} / {f['ms_ssim']:.2f} "
                f"| {s['coverage']:.2f} / {f['coverage']:.2f} "
                f"| {scores['nearest_training_ssim_max']:.2f} | {verdict} |"
            )
    return "\n".join(lines)
