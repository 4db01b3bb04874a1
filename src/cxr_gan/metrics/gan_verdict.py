"""The GAN-quality verdict in words: collapsed or diverse, missing modes, realistic or not."""

from __future__ import annotations

UNREALISTIC_AUC = 0.95  # a real-vs-synthetic classifier this good tells (almost) every image apart


def with_realism(verdict: str, real_vs_synthetic_auc: float | None) -> str:
    """The verdict with realism beside diversity: a varied set that a linear classifier on the
    report's features tells from real images (AUC >= UNREALISTIC_AUC) is not realistic, and a
    "diverse" verdict alone would hide it."""
    if real_vs_synthetic_auc is None:
        return verdict
    if real_vs_synthetic_auc >= UNREALISTIC_AUC:
        return (
            f"{verdict}; UNREALISTIC: told from real images with AUC "
            f"{real_vs_synthetic_auc:.2f} (real-vs-synthetic classifier)"
        )
    return f"{verdict}; real-vs-synthetic AUC {real_vs_synthetic_auc:.2f}"


def diversity_verdict(
    synthetic_ms_ssim: float,
    real_ms_ssim: float,
    gan_image_size: int | None = None,
    margin: float = 0.05,
) -> tuple[bool, str]:
    """(collapsed, text): collapsed when the synthetic set's mean pairwise MS-SSIM exceeds the
    real one's (measured on real images at the generator's resolution) by more than `margin`.

    E.g. (True, "collapsed: synthetic MS-SSIM 0.88 vs real 0.44 at 64 px")."""
    collapsed = synthetic_ms_ssim > real_ms_ssim + margin
    where = f" at {gan_image_size} px" if gan_image_size else ""
    word = "collapsed" if collapsed else "diverse"
    return (
        collapsed,
        f"{word}: synthetic MS-SSIM {synthetic_ms_ssim:.2f} vs real {real_ms_ssim:.2f}{where}",
    )


def quality_verdict(
    synthetic_ms_ssim: float | None,
    real_ms_ssim: float | None,
    gan_image_size: int | None,
    coverage: float | None,
    real_coverage: float | None,
    margin: float = 0.05,
    min_coverage_ratio: float = 0.6,
) -> tuple[bool, bool, str]:
    """(collapsed, missing_modes, text) from diversity and coverage together.

    missing_modes: coverage below min_coverage_ratio x the coverage an equal number of other
    real images reaches (real_coverage). collapsed: the MS-SSIM rule of diversity_verdict, or
    missing_modes. Either part is skipped (and the text says so) when its inputs are None."""
    parts, collapsed_by_ms_ssim = [], False
    if synthetic_ms_ssim is not None and real_ms_ssim is not None:
        collapsed_by_ms_ssim, text = diversity_verdict(
            synthetic_ms_ssim, real_ms_ssim, gan_image_size, margin
        )
        parts.append(text.split(": ", 1)[1])
    missing_modes = False
    if coverage is not None and real_coverage:
        missing_modes = coverage < min_coverage_ratio * real_coverage
        parts.append(f"coverage {coverage:.2f} of real's {real_coverage:.2f}")
    elif coverage is not None:
        parts.append(f"coverage {coverage:.2f} (no real reference: no evaluation split)")
    collapsed = collapsed_by_ms_ssim or missing_modes
    if collapsed_by_ms_ssim:
        word = "collapsed"
    elif missing_modes:
        word = f"collapsed (missing modes: coverage below {min_coverage_ratio:g}x real's)"
    else:
        word = "diverse" if parts else "unknown"
    return collapsed, missing_modes, f"{word}: " + "; ".join(parts or ["too few images to judge"])
