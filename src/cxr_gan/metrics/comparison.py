"""The classification experiments side by side: metrics of each experiment's seed-averaged
predictions, per-source and source-matched AUCs, the paired AUC difference real_plus_synthetic
vs real on each set (the primary question), the verdict ("did the synthetic images help?"), the
secondary comparisons with `real` (synthetic_pretrain), Holm-adjusted among themselves, and the
shortcut probe's reading; and an experiment's scores on the external folder. Every paired
difference carries a percentile bootstrap (interval and p-value) and DeLong's test beside it.

Plain module (no Kedro, no TensorFlow); reporting.comparison writes the result as Markdown.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxr_gan.data.experiments import SHORTCUT_PROBE, SYNTHETIC_PRETRAIN
from cxr_gan.metrics.classification import (
    calls,
    cannot_decide,
    classification_metrics,
    compare_auc,
    roc_curve_points,
)
from cxr_gan.metrics.delong import delong_paired
from cxr_gan.metrics.shortcuts import (
    per_source_metrics,
    probe_reading,
    shortcut_warning,
    source_gap_reading,
    source_gap_sentence,
    source_matched_auc,
    sources_confounded,
)

logger = logging.getLogger(__name__)
BASELINE, CANDIDATE = "real", "real_plus_synthetic"
# secondary questions: each compared with BASELINE like CANDIDATE, Holm-adjusted among
# themselves (the primary answer, CANDIDATE vs BASELINE, stays unadjusted); name -> its words
SECONDARY = {SYNTHETIC_PRETRAIN: "pre-trained on synthetic images, fine-tuned on real ones"}
PREDICTION_COLUMNS = ["experiment", "seed", "id", "label", "source", "probability"]
SOURCE_CONFOUND = (
    "Every image source in the test set holds one class only: disease and source cannot be told "
    "apart here, so no metric in this report can show that a model detects disease rather than "
    "the archive an image came from."
)


@dataclass(frozen=True)
class ComparisonSettings:
    """The classification parameters the comparison reads."""

    seeds: list[int]  # the first seeds every bootstrap
    n_bootstrap: int
    min_source_images: int
    mask_fraction: float
    probe_warning_lower_bound: float


def ensemble_probabilities(evaluation: dict[str, Any], key: str = "probabilities") -> np.ndarray:
    """Mean over seeds of each image's probability (key: "probabilities" for the test split,
    "external_probabilities" for the external folder): the seed ensemble every reported metric
    uses, so no single seed's luck decides. evaluation: an experiment_evaluation record whose
    per_seed runs each hold `key` as n floats p(covid) in 0..1, one per image in the same order.
    Returns float64 (n,) in 0..1. Raises KeyError when a run lacks `key`, ValueError when the
    runs hold different numbers of images."""
    return np.mean([run[key] for run in evaluation["per_seed"]], axis=0)


def _source_scores(
    labels: np.ndarray,
    probabilities: np.ndarray,
    sources: np.ndarray,
    overall_auc: float | None,
    settings: ComparisonSettings,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(per-source metrics, source-matched AUC with the sentence on its gap to overall_auc)."""
    seed = settings.seeds[0]
    per_source = per_source_metrics(
        labels, probabilities, sources, settings.min_source_images, settings.n_bootstrap, seed
    )
    matched = source_matched_auc(
        labels,
        probabilities,
        sources,
        settings.min_source_images,
        n_bootstrap=settings.n_bootstrap,
        seed=seed,
    )
    matched["sentence"] = source_gap_sentence(overall_auc, matched)
    matched["reading"] = source_gap_reading(overall_auc, matched)
    return per_source, matched


def experiment_row(
    name: str,
    evaluation: dict[str, Any],
    external: dict[str, Any] | None,
    labels: np.ndarray,
    sources: np.ndarray | None,
    settings: ComparisonSettings,
) -> dict[str, Any]:
    """One experiment's line of the comparison: metrics of its seed-averaged predictions (95%
    bootstrap intervals, classification_metrics), its mean and std across seeds, its external
    scores (external: external_scores' result, or None), and, with sources, per-source metrics
    and the source-matched AUC; `calls` (and `external_calls`): how many images it calls each
    class at 0.5 and whether nearly all are one class (metrics.classification.calls); `device`:
    where it trained, as the training node recorded it (None in older evaluations).

    labels: int (n,) 0 (normal) / 1 (covid), the test labels every experiment must share;
    sources: str (n,) each test image's source, or None when unknown. Raises ValueError when the
    experiment was tested on other labels than `labels` (other images), when labels are not 0/1,
    or when probabilities are not finite or not one per label."""
    if evaluation["test_labels"] != labels.tolist():
        raise ValueError(f"experiment {name} was tested on other images than the others")
    ensemble = ensemble_probabilities(evaluation)
    metrics = classification_metrics(
        labels, ensemble, n_bootstrap=settings.n_bootstrap, seed=settings.seeds[0]
    )
    external = external or {}
    row = {
        "name": name,
        "training_set": evaluation["training_set"],
        "metrics": metrics,
        "across_seeds": evaluation["across_seeds"],
        "pretraining": evaluation.get("pretraining"),
        "external": external.get("metrics"),
        "external_per_source": external.get("per_source"),
        "external_source_matched": external.get("source_matched"),
        "per_source": None,
        "source_matched": None,
        "calls": calls(ensemble),
        "external_calls": external.get("calls"),
        "device": evaluation.get("device"),
    }
    if sources is not None:
        row["per_source"], row["source_matched"] = _source_scores(
            labels, ensemble, sources, metrics["roc_auc"]["value"], settings
        )
    return row


def compare(
    evaluations: Mapping[str, dict[str, Any]],
    externals: Mapping[str, dict[str, Any]],
    sources: np.ndarray | None,
    gan_quality: dict[str, Any],
    resolution: Mapping[str, Any] | None,
    settings: ComparisonSettings,
) -> dict[str, Any]:
    """Every experiment in one table (experiment_row), the synthetic images' effect and verdict
    when both `real` and `real_plus_synthetic` ran (synthetic_effect), the shortcut probe's
    reading when it ran, and whether the test set's sources confound disease; gan_quality
    (reporting.comparison.gan_quality_line) and resolution (the classification data's) are
    repeated beside the answer.

    evaluations: experiment name -> experiment_evaluation record, at least one, all tested on the
    same n images (int 0/1 test_labels); externals: name -> external scores (may miss names);
    sources: str (n,) each test image's source, or None. Raises ValueError when experiments
    were tested on different images, or from synthetic_effect (see there); StopIteration when
    evaluations is empty."""
    labels = np.array(next(iter(evaluations.values()))["test_labels"])
    rows = [
        experiment_row(name, evaluation, externals.get(name), labels, sources, settings)
        for name, evaluation in evaluations.items()
    ]
    comparison: dict[str, Any] = {
        "test_images": int(len(labels)),
        "seeds": settings.seeds,
        "experiments": rows,
        "gan_quality": gan_quality,
        "resolution": resolution,
    }
    if BASELINE in evaluations and CANDIDATE in evaluations:
        comparison.update(synthetic_effect(evaluations[BASELINE], evaluations[CANDIDATE], settings))
        logger.info(
            "Did the synthetic images help? %s %s",
            comparison["verdict"]["sentence"],
            gan_quality["sentence"],
        )
    secondary = secondary_effects(evaluations, settings)
    if secondary:
        comparison["secondary"] = secondary
        for name, result in secondary.items():
            logger.info("Secondary question, %s: %s", name, result["sentence"])
    probe = next((row for row in rows if row["name"] == SHORTCUT_PROBE), None)
    if probe is not None:
        comparison["shortcut_probe"] = probe_section(probe, settings, len(labels))
    comparison["sources_confounded"] = sources_confounded(rows[0].get("per_source"))
    if comparison["sources_confounded"]:
        logger.warning(SOURCE_CONFOUND)
    for row in rows:
        for key in ("source_matched", "external_source_matched"):
            if row.get(key):
                logger.info("%s (%s): %s", row["name"], key, row[key]["sentence"])
    return comparison


def probe_section(
    probe: dict[str, Any], settings: ComparisonSettings, n_images: int
) -> dict[str, Any]:
    """The shortcut probe's AUC, its reading, and a warning when it scores too well."""
    auc, bound = probe["metrics"]["roc_auc"], settings.probe_warning_lower_bound
    warning = shortcut_warning(auc, bound)
    if warning:
        logger.warning(warning)
    return {
        "mask_fraction": settings.mask_fraction,
        "roc_auc": auc,
        "warning_lower_bound": bound,
        "warning": warning,
        "reading": probe_reading(auc, bound, n_images),
    }


def synthetic_effect(
    baseline: dict[str, Any],
    candidate: dict[str, Any],
    settings: ComparisonSettings,
    candidate_name: str = "real + synthetic",
) -> dict[str, Any]:
    """Paired comparisons of the seed-averaged predictions (and per seed) on each set, and the
    verdict (synthetic_verdict): synthetic_effect[_per_seed] on the deciding set, the same
    _by_set, and verdict.

    baseline, candidate: the `real` and `real_plus_synthetic` experiment_evaluation records, on
    the same n test images (int 0/1 test_labels) with the same seeds; per_seed probabilities are
    n floats in 0..1. Each difference is AUC(candidate) - AUC(baseline) with a paired,
    class-stratified percentile bootstrap interval and p-value (compare_auc; the paired design
    of DeLong et al. 1988) and, under "delong", DeLong's test of the same difference on the same
    predictions (metrics.delong.delong_paired). candidate_name: the candidate in the sentences
    (another experiment than real_plus_synthetic: see secondary_effects). The external folder
    decides when both scored it. Raises ValueError when the two scored different external
    images, ran different numbers of seeds, or a set's labels hold fewer than 2 images of a
    class (AUC and DeLong undefined)."""

    def paired(labels, key, images_name, base_probs=None, cand_probs=None, seed=None):
        base = ensemble_probabilities(baseline, key) if base_probs is None else base_probs
        cand = ensemble_probabilities(candidate, key) if cand_probs is None else cand_probs
        result = compare_auc(
            labels,
            base,
            cand,
            candidate_name=candidate_name,
            images_name=images_name,
            n_bootstrap=settings.n_bootstrap,
            seed=settings.seeds[0] if seed is None else seed,
        )
        result["delong"] = delong_paired(labels, base, cand, result["confidence"])
        return result

    def per_seed(labels, key, images_name):
        return [
            paired(labels, key, images_name, np.array(b[key]), np.array(c[key]), b["seed"])[
                "difference"
            ]
            for b, c in zip(baseline["per_seed"], candidate["per_seed"], strict=True)
        ]

    labels = np.array(baseline["test_labels"])
    internal = paired(labels, "probabilities", "internal test images")
    effects = {"internal": internal}
    seeds = {"internal": per_seed(labels, "probabilities", "internal test images")}
    external_info = baseline.get("external")
    has_external = bool(external_info) and all(
        "external_probabilities" in run for e in (baseline, candidate) for run in e["per_seed"]
    )
    if has_external:
        if candidate.get("external", {}).get("ids") != external_info["ids"]:
            names = f"{baseline.get('experiment')} and {candidate.get('experiment')}"
            raise ValueError(f"{names} were scored on other external images")
        ext_labels = np.array(external_info["labels"])
        effects["external"] = paired(ext_labels, "external_probabilities", "external images")
        seeds["external"] = per_seed(ext_labels, "external_probabilities", "external images")
    deciding = "external" if has_external else "internal"
    return {
        "synthetic_effect": effects[deciding],
        "synthetic_effect_per_seed": seeds[deciding],
        "synthetic_effect_by_set": effects,
        "synthetic_effect_per_seed_by_set": seeds,
        "verdict": synthetic_verdict(
            internal, effects.get("external"), external_info["root"] if has_external else None
        ),
    }


def holm_adjust(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (Holm 1979, "A simple sequentially rejective multiple
    test procedure", Scand. J. Statist. 6:65-70): the k-th smallest of m p-values becomes
    max over j <= k of min(1, (m - j + 1) p_(j)), so rejecting where the adjusted p-value is
    below alpha keeps the family-wise error rate at alpha. p_values: floats in [0, 1], in any
    order; None (an undefined p-value) stays None and is not counted in m. Returns the adjusted
    values in the given order."""
    defined = [(p, i) for i, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, index) in enumerate(sorted(defined)):
        running = max(running, min(1.0, (len(defined) - rank) * float(p)))
        adjusted[index] = running
    return adjusted


def secondary_effects(
    evaluations: Mapping[str, dict[str, Any]], settings: ComparisonSettings
) -> dict[str, Any]:
    """The secondary questions (SECONDARY: synthetic_pretrain), each the same paired comparison
    with `real` as the primary one (synthetic_effect: bootstrap and DeLong, each set, per seed),
    with Holm-adjusted p-values (holm_adjust) over the family of secondary comparisons that ran,
    per set, and a verdict and sentence from the deciding set's Holm-adjusted bootstrap p-value
    (below 1 - confidence: "helped" or "hurt" by the difference's sign, else "no detectable
    difference"). The primary comparison is not in the family: it stays unadjusted.

    evaluations: experiment name -> experiment_evaluation record (as compare). Returns {name:
    {"effect", "per_seed", "by_set", "per_seed_by_set", "rests_on", "holm", "verdict",
    "sentence", "pretraining"}} in SECONDARY's order; {} when `real` or every secondary
    experiment is missing. Each set's effect gains "holm": {"m", "bootstrap_p", "delong_p"}.
    Raises ValueError as synthetic_effect."""
    if BASELINE not in evaluations:
        return {}
    results: dict[str, Any] = {}
    for name, words in SECONDARY.items():
        if name not in evaluations:
            continue
        effect = synthetic_effect(evaluations[BASELINE], evaluations[name], settings, words)
        results[name] = {
            "effect": effect["synthetic_effect"],
            "per_seed": effect["synthetic_effect_per_seed"],
            "by_set": effect["synthetic_effect_by_set"],
            "per_seed_by_set": effect["synthetic_effect_per_seed_by_set"],
            "rests_on": effect["verdict"]["rests_on"],
            "pretraining": evaluations[name].get("pretraining"),
        }
    for set_name in ("internal", "external"):
        family = [r["by_set"][set_name] for r in results.values() if set_name in r["by_set"]]
        bootstrap = holm_adjust([e["p_value"] for e in family])
        delong = holm_adjust([e["delong"]["p_value"] for e in family])
        for effect, p_boot, p_delong in zip(family, bootstrap, delong, strict=True):
            effect["holm"] = {"m": len(family), "bootstrap_p": p_boot, "delong_p": p_delong}
    for name, result in results.items():
        result["holm"] = result["effect"]["holm"]
        result["verdict"] = _holm_verdict(result["effect"])
        result["sentence"] = _secondary_sentence(name, result)
    return results


def _holm_verdict(effect: dict[str, Any]) -> str:
    p_value = effect["holm"]["bootstrap_p"]
    if p_value is None or p_value >= 1 - effect["confidence"] or effect["difference"] == 0:
        return "no detectable difference"
    return "helped" if effect["difference"] > 0 else "hurt"


def _p(value: float | None) -> str:
    """A p-value as reports print it: 'p < 0.001', 'p = 0.042', 'p undefined'."""
    if value is None:
        return "p undefined"
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"


def _secondary_sentence(name: str, result: dict[str, Any]) -> str:
    """One secondary comparison in words: what the experiment is, the set it rests on, the
    Holm-adjusted verdict, the bootstrap and DeLong numbers."""
    effect, holm = result["effect"], result["holm"]
    pretraining = result.get("pretraining") or {}
    counts = pretraining.get("training_set") or {}
    what = SECONDARY[name]
    if counts:
        what = (
            f"pre-trained on {counts.get('images', '?')} synthetic images of both classes, "
            f"training {pretraining.get('trainable', 'every trainable layer')}; then "
            "fine-tuned on the real training images"
        )
    delong = effect["delong"]
    reading = result["verdict"]
    if reading == "no detectable difference" and cannot_decide(effect["ci_low"], effect["ci_high"]):
        reading = f"cannot decide with {effect['n_images']} images"
    return (
        f"Secondary question, {name} ({what}) vs real, from the {result['rests_on']} set "
        f"({effect['n_images']} images), Holm-adjusted over {holm['m']} secondary "
        f"comparison(s): {reading}, {_effect_numbers(effect)}, paired bootstrap "
        f"{_p(effect['p_value'])} (Holm-adjusted {_p(holm['bootstrap_p'])}); DeLong "
        f"{effect['confidence']:.0%} CI {delong['ci_low']:+.3f} to {delong['ci_high']:+.3f}, "
        f"{_p(delong['p_value'])} (Holm-adjusted {_p(holm['delong_p'])})."
    )


def _effect_numbers(effect: dict[str, Any]) -> str:
    low, high = effect["ci_low"], effect["ci_high"]
    interval = (
        "CI undefined"
        if low is None
        else f"{effect['confidence']:.0%} CI {low:+.3f} to {high:+.3f}"
    )
    return f"AUC difference {effect['difference']:+.3f} ({interval})"


def _side(low: float | None, high: float | None) -> int:
    """+1 when an interval lies wholly above 0, -1 wholly below, 0 when it holds 0 or is
    undefined."""
    if low is None or high is None:
        return 0
    return 1 if low > 0 else (-1 if high < 0 else 0)


def _reading(effect: dict[str, Any]) -> str:
    """The verdict in words: "cannot decide with N images" when the interval holds both 0 and a
    difference of 0.05 AUC (metrics.classification.cannot_decide), else the verdict."""
    if effect["verdict"] == "no detectable difference" and cannot_decide(
        effect["ci_low"], effect["ci_high"]
    ):
        return f"cannot decide with {effect['n_images']} images"
    return effect["verdict"]


def shown_path(path: str | None, root: Path | None = None) -> str | None:
    """A path as a report names it: relative to `root` (default: the working directory, the
    project's root in a Kedro run) when it lies under it, else as given."""
    if not path:
        return path
    root = Path.cwd() if root is None else root
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except (ValueError, OSError):
        return str(path)


def synthetic_verdict(
    internal: dict[str, Any], external: dict[str, Any] | None, external_root: str | None = None
) -> dict[str, Any]:
    """The answer to "did the synthetic images help?" and the set it rests on.

    internal, external: compare_auc results on the internal test split and the external folder
    (None when there is none). The external set decides when there is one (more images, other
    patients, never used to choose anything); the sentence names the set (its folder relative
    to the project, shown_path), gives the paired difference with its CI, and says "cannot
    decide with N images" when that CI holds both 0 and a difference of 0.05 AUC. It says the
    internal test set "points the other way" only when one set's interval lies wholly on the
    other side of zero from the other set's difference (two undecided sets never disagree).
    Returns {"rests_on": "external" | "internal", "verdict", "internal_disagrees", "sentence"}.
    """
    if external is None:
        return {
            "rests_on": "internal",
            "verdict": internal["verdict"],
            "internal_disagrees": False,
            "sentence": (
                f"Answer, from the internal test set ({internal['n_images']} images; no "
                f"external folder was given): {_reading(internal)}, "
                f"{_effect_numbers(internal)}."
            ),
        }
    internal_side = _side(internal["ci_low"], internal["ci_high"])
    external_side = _side(external["ci_low"], external["ci_high"])
    disagrees = bool(
        (internal_side and internal_side * external["difference"] < 0)
        or (external_side and external_side * internal["difference"] < 0)
    )
    root = shown_path(external_root)
    where = f", {root}" if root else ""
    sentence = (
        f"Answer, from the external set ({external['n_images']} images{where}), which decides: "
        f"{_reading(external)}, {_effect_numbers(external)}."
    )
    if disagrees:
        sentence += (
            f" The internal test set ({internal['n_images']} images) points the other way: "
            f"{_reading(internal)}, {_effect_numbers(internal)}."
        )
    elif internal["difference"] * external["difference"] > 0:
        sentence += (
            f" The internal test set ({internal['n_images']} images) agrees in direction: "
            f"{_reading(internal)}, {_effect_numbers(internal)}."
        )
    else:
        sentence += (
            f" On the internal test set ({internal['n_images']} images): "
            f"{_reading(internal)}, {_effect_numbers(internal)}."
        )
    return {
        "rests_on": "external",
        "verdict": external["verdict"],
        "internal_disagrees": disagrees,
        "sentence": sentence,
    }


def external_scores(
    evaluation: dict[str, Any], settings: ComparisonSettings
) -> tuple[dict[str, Any], pd.DataFrame]:
    """An experiment's models (every seed) on the external folder: metrics of the
    seed-averaged predictions with 95% bootstrap intervals, the AUC per seed, per-source
    metrics and the source-matched AUC when sources are known; and the per-image, per-seed
    predictions as a table (PREDICTION_COLUMNS; empty without an external folder)."""
    external = (evaluation or {}).get("external")
    if not external:
        return {"skipped": "no external validation folder"}, pd.DataFrame(
            columns=PREDICTION_COLUMNS
        )
    labels = np.array(external["labels"], int)
    per_seed = evaluation["per_seed"]
    ensemble = ensemble_probabilities(evaluation, "external_probabilities")
    metrics = classification_metrics(
        labels, ensemble, n_bootstrap=settings.n_bootstrap, seed=settings.seeds[0]
    )
    sources = external.get("sources")
    result: dict[str, Any] = {
        "source": external["root"],
        "images": len(labels),
        "seeds": [run["seed"] for run in per_seed],
        "metrics": metrics,
        "roc_auc_per_seed": [
            roc_curve_points(labels, np.array(run["external_probabilities"]))["roc_auc"]
            for run in per_seed
        ],
        "per_source": None,
        "source_matched": None,
        "calls": calls(ensemble),
    }
    if sources is not None:
        result["per_source"], result["source_matched"] = _source_scores(
            labels, ensemble, np.array(sources), metrics["roc_auc"]["value"], settings
        )
    rows = [
        {
            "experiment": evaluation["experiment"],
            "seed": run["seed"],
            "id": image_id,
            "label": int(label),
            "source": "" if sources is None else sources[index],
            "probability": float(probability),
        }
        for run in per_seed
        for index, (image_id, label, probability) in enumerate(
            zip(external["ids"], labels, run["external_probabilities"], strict=True)
        )
    ]
    return result, pd.DataFrame(rows, columns=PREDICTION_COLUMNS)
