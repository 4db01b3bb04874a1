"""gan_quality_report on sets with a known answer: healthy, collapsed, missing a mode, copied.

Real images have two visibly different kinds (phantom X-rays and inverted phantom X-rays), split
into GAN-training and evaluation images as the synthesis node does.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from cxr_gan.data.phantom import COVID, draw_phantom
from cxr_gan.metrics.gan_features import build_feature_extractor
from cxr_gan.metrics.gan_quality import gan_quality_report
from cxr_gan.metrics.gan_verdict import diversity_verdict, quality_verdict

SIZE = 32


def kind_a(first: int, count: int, size: int = SIZE) -> np.ndarray:
    return np.stack([draw_phantom(COVID, i, 3, size) for i in range(first, first + count)])


def kind_b(first: int, count: int, size: int = SIZE) -> np.ndarray:
    return 255 - kind_a(first, count, size)  # inverted: the other, visibly different mode


def noisy(images: np.ndarray, amplitude: int, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).integers(-amplitude, amplitude + 1, images.shape)
    return np.clip(images.astype(int) + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def extractor():
    return build_feature_extractor("random_cnn", seed=0, image_size=64)


@pytest.fixture(scope="module")
def training() -> np.ndarray:
    return np.concatenate([kind_a(0, 30), kind_b(0, 30)])


@pytest.fixture(scope="module")
def evaluation() -> np.ndarray:
    return np.concatenate([kind_a(100, 30), kind_b(100, 30)])


def report(synthetic, training, evaluation, extractor, **kwargs):
    result = gan_quality_report(
        synthetic, training, extractor, evaluation=evaluation, kid_subsets=10, **kwargs
    )
    json.dumps(result, allow_nan=False)  # always valid JSON
    return result


@pytest.fixture(scope="module")
def healthy(training, evaluation, extractor):
    sets = [np.concatenate([kind_a(200 + 50 * s, 25), kind_b(200 + 50 * s, 25)]) for s in (0, 1)]
    return report(sets, training, evaluation, extractor)


def test_a_healthy_set_is_called_diverse(healthy):
    assert not healthy["collapsed"] and not healthy["missing_modes"]
    assert healthy["verdict"].startswith("diverse: synthetic MS-SSIM")
    assert healthy["coverage"]["ratio_to_real"] > 0.8
    assert healthy["real_vs_synthetic_auc"]["mean"] < 0.8
    assert healthy["memorization"]["count_above"] == 0
    # KID against both real sides, labelled, with a spread over the 2 sets
    assert healthy["kid_vs_evaluation"]["n_real"] == 60
    assert healthy["kid_vs_training"]["n_real"] == 60
    assert healthy["kid_vs_evaluation"]["x1000_std_between_sets"] is not None
    assert healthy["kid_mean"] == pytest.approx(healthy["kid_vs_evaluation"]["x1000_mean"] / 1000)
    # its 95% interval: mean +- 1.96 x the two-sample jackknife SE, on the x1000 scale
    evaluation_kid = healthy["kid_vs_evaluation"]
    low, high = evaluation_kid["x1000_ci95"]
    errors = (
        evaluation_kid["x1000_se_evaluation_images"],
        evaluation_kid["x1000_se_synthetic_images"],
    )
    assert (low + high) / 2 == pytest.approx(evaluation_kid["x1000_mean"])
    assert (high - low) / 2 == pytest.approx(1.96 * np.hypot(*errors))
    # same scale as the spread between the 2 sets (a lost x1000 would be 1000x smaller)
    assert 0.1 < np.hypot(*errors) / evaluation_kid["x1000_std_between_sets"] < 100


def test_one_image_repeated_is_called_collapsed(healthy, training, evaluation, extractor):
    collapsed = report(
        noisy(np.repeat(kind_a(300, 1), 50, axis=0), 3, seed=0), training, evaluation, extractor
    )
    assert collapsed["collapsed"]
    assert collapsed["verdict"].startswith("collapsed: synthetic MS-SSIM")
    diversity = collapsed["diversity"]
    assert diversity["synthetic_ms_ssim"] > diversity["real_ms_ssim"] + 0.3
    assert collapsed["coverage"]["coverage_mean"] < 0.2
    assert collapsed["real_vs_synthetic_auc"]["mean"] > 0.95
    # the old failure: KID must now rate the collapsed set far worse than the healthy one
    assert collapsed["kid_x1000_mean"] > 3 * max(healthy["kid_x1000_mean"], 100)


def test_a_set_missing_one_mode_has_low_coverage(training, evaluation, extractor):
    one_kind = report(kind_a(200, 50), training, evaluation, extractor)
    coverage = one_kind["coverage"]
    assert coverage["ratio_to_real"] < 0.6
    assert coverage["coverage_mean"] < 0.6 * coverage["real_reference"]["coverage_mean"]
    assert one_kind["missing_modes"] and one_kind["collapsed"]
    assert "coverage" in one_kind["verdict"]


def test_copies_of_training_images_are_flagged_as_memorized(training, evaluation, extractor):
    copied = [*range(0, 20), *range(30, 50)]  # 20 of each kind
    copies = report(noisy(training[copied], 2, seed=1), training, evaluation, extractor)
    memo = copies["memorization"]
    assert memo["count_above"] == 40
    assert memo["nearest_real_index"] == copied
    # closer to what it trained on than to unseen real images
    assert copies["kid_vs_training"]["x1000_mean"] < copies["kid_vs_evaluation"]["x1000_mean"]


def test_real_images_are_judged_at_the_generators_resolution(extractor):
    training, evaluation = kind_a(0, 30, size=64), kind_a(100, 30, size=64)
    synthetic = kind_a(0, 20, size=32)  # the generator's size: 32 px copies of training images
    result = gan_quality_report(
        synthetic, training, extractor, evaluation=evaluation, gan_image_size=32, kid_subsets=5
    )
    assert result["gan_image_size"] == 32 and "32 px" in result["verdict"]
    assert result["memorization"]["count_above"] == 20  # SSIM ~1 only at the same resolution
    diversity = result["diversity"]
    assert diversity["real_ms_ssim"] != diversity["real_ms_ssim_full_size"]


def test_without_an_evaluation_split_the_main_numbers_use_training(training, extractor):
    result = gan_quality_report(kind_a(200, 20), training, extractor, kid_subsets=5)
    assert result["kid_vs_evaluation"] is None and result["n_evaluation"] == 0
    assert result["coverage"]["real_reference"] is None
    assert "no real reference" in result["verdict"]


def test_verdict_texts():
    assert diversity_verdict(0.88, 0.44, 64, 0.05) == (
        True,
        "collapsed: synthetic MS-SSIM 0.88 vs real 0.44 at 64 px",
    )
    assert diversity_verdict(0.48, 0.44, 64, 0.05)[0] is False
    assert diversity_verdict(0.48, 0.44, 64, 0.03)[0] is True
    collapsed, missing, text = quality_verdict(0.45, 0.44, 64, 0.71, 0.80)
    assert (collapsed, missing) == (False, False)
    assert (
        text
        == "diverse: synthetic MS-SSIM 0.45 vs real 0.44 at 64 px; coverage 0.71 of real's 0.80"
    )
    collapsed, missing, text = quality_verdict(0.45, 0.44, 64, 0.30, 0.80)
    assert collapsed and missing and text.startswith("collapsed (missing modes")


def test_the_floor_rule_in_words():
    from cxr_gan.metrics.gan_quality_settings import DEFAULTS
    from cxr_gan.metrics.gan_verdict import realism_limit, realism_verdict, with_realism

    assert realism_limit(0.55, DEFAULTS) == 0.80  # never stricter than the ceiling
    assert realism_limit(0.78, DEFAULTS) == pytest.approx(0.88)  # a blurry floor: floor + 0.10
    status, text = realism_verdict(0.94, [0.90, 0.97], 0.55, 70, 64, DEFAULTS)
    assert status == "told from real"
    assert text == (
        "told from real X-rays: AUC 0.94 [0.90, 0.97], limit 0.80 (real images at 64 px: 0.55)"
    )
    assert realism_verdict(0.70, [0.62, 0.78], 0.55, 70, 64, DEFAULTS)[0] == "realistic"
    # the point is fine but the interval reaches past limit + slack: not decided either way
    status, text = realism_verdict(0.70, [0.45, 0.95], 0.55, 16, 64, DEFAULTS)
    assert status == "undecided"
    assert text.startswith("16 evaluation images cannot decide realism")
    assert "give an external folder (data/01_raw_external)" in text
    assert realism_verdict(0.7, [0.6, 0.8], None, 0, 64, DEFAULTS)[0] == "not judged"
    status, text = realism_verdict(None, None, None, 3, 64, DEFAULTS)
    assert status == "undecided" and text.startswith("3 evaluation images are too few")
    block = {"status": "told from real", "text": text}
    combined = with_realism("diverse: synthetic MS-SSIM 0.41 vs real 0.48 at 32 px", block)
    assert combined.startswith("diverse: synthetic MS-SSIM 0.41") and combined.endswith(text)
    assert with_realism("collapsed: x", None) == "collapsed: x"


def test_the_report_judges_realism_against_its_floor(training, evaluation, extractor):
    """Real images of the same kinds are realistic; the same images with their exposure shifted
    are told from real; both against 60 evaluation images and the floor of 60 real ones."""
    real_like = np.concatenate([kind_a(300, 30), kind_b(300, 30)])
    fine = report(real_like, training, evaluation, extractor, gan_image_size=SIZE)["realism"]
    assert fine["status"] == "realistic", fine["text"]
    assert fine["floor_auc"] < 0.75 and fine["limit"] == pytest.approx(0.80)
    washed = np.clip(real_like.astype(int) + 60, 0, 255).astype(np.uint8)
    result = report(washed, training, evaluation, extractor, gan_image_size=SIZE)
    assert result["realism"]["status"] == "told from real", result["realism"]["text"]
    assert result["realism"]["auc_ci95"][0] > result["realism"]["limit"]
    assert "told from real X-rays: AUC" in result["verdict"]
    few = report(washed, training, evaluation[:3], extractor, gan_image_size=SIZE)["realism"]
    assert few["n_evaluation"] == 3 and few["status"] == "undecided", few["text"]


def test_two_evaluation_images_give_a_kid_but_no_interval(training, extractor):
    result = gan_quality_report(
        kind_a(200, 20), training, extractor, evaluation=kind_a(100, 2), kid_subsets=5
    )
    block = result["kid_vs_evaluation"]
    assert block["n_real"] == 2 and block["x1000_mean"] is not None
    assert block["x1000_ci95"] is None and block["x1000_se_evaluation_images"] is None
    json.dumps(result, allow_nan=False)
