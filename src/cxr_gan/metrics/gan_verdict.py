"""The GAN-quality verdict in words: collapsed or diverse, missing modes, realistic or not."""

from __future__ import annotations

from cxr_gan.metrics.gan_quality_settings import GanQualitySettings

REALISTIC, TOLD_FROM_REAL, UNDECIDED, NOT_JUDGED = (
    "realistic",
    "told from real",
    "undecided",
    "not judged",
)


def realism_limit(floor_auc: float, settings: GanQualitySettings) -> float:
    """The highest real-vs-synthetic AUC still called realistic: the floor (other real images
    at the generator's resolution, scored the same way) + realism_margin, never below
    realism_ceiling (a floor near 0.5 would otherwise demand the impossible)."""
    return max(floor_auc + settings.realism_margin, settings.realism_ceiling)


def realism_verdict(
    auc: float | None,
    interval: list[float] | None,
    floor_auc: float | None,
    n_evaluation: int,
    gan_image_size: int | None,
    settings: GanQualitySettings,
) -> tuple[str, str]:
    """(status, text) of the floor rule. auc: mean out-of-fold real-vs-synthetic AUC in [0, 1];
    interval: its 95% [low, high]; floor_auc: the AUC of other real images at the GAN's size;
    n_evaluation: real images the GAN never saw that both were scored against.

    status: REALISTIC (auc <= limit and high <= limit + realism_slack), TOLD_FROM_REAL (low >
    limit), UNDECIDED (the interval straddles, or too few evaluation images for a floor or an
    AUC: too few to say), NOT_JUDGED (no evaluation images). E.g. (TOLD_FROM_REAL, "told from
    real X-rays: AUC 0.94 [0.90, 0.97], limit 0.80 (real images at 64 px: 0.55)")."""
    external = "give an external folder (data/01_raw_external) of real X-rays the GAN never saw"
    if n_evaluation < 2:
        return NOT_JUDGED, f"realism not judged: no evaluation images; {external}"
    if floor_auc is None or auc is None or interval is None:
        return (
            UNDECIDED,
            f"{n_evaluation} evaluation images are too few to judge realism; {external}",
        )
    limit = realism_limit(floor_auc, settings)
    where = f" at {gan_image_size} px" if gan_image_size else ""
    figures = (
        f"AUC {auc:.2f} [{interval[0]:.2f}, {interval[1]:.2f}], limit {limit:.2f} "
        f"(real images{where}: {floor_auc:.2f})"
    )
    if auc <= limit and interval[1] <= limit + settings.realism_slack:
        return REALISTIC, f"not told from real X-rays: {figures}"
    if interval[0] > limit:
        return TOLD_FROM_REAL, f"told from real X-rays: {figures}"
    return (
        UNDECIDED,
        f"{n_evaluation} evaluation images cannot decide realism ({figures}); {external}",
    )


def with_realism(verdict: str, realism: dict | None) -> str:
    """The diversity verdict with the realism sentence beside it: a varied set that a linear
    classifier tells from real images is not realistic, and "diverse" alone would hide it.
    realism: the report's realism block (status, text) or None."""
    if not realism:
        return verdict
    return f"{verdict}; {realism['text']}"


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
