"""GAN-quality metrics on tiny synthetic image sets with real Keras models and real TF SSIM."""

from __future__ import annotations

import io
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from matplotlib.figure import Figure

from cxr_gan.metrics import gan_features, image_sets
from cxr_gan.metrics.feature_distances import (
    frechet_distance,
    jackknife_se,
    kernel_inception_distance,
    kid_jackknife,
)
from cxr_gan.metrics.gan_features import build_feature_extractor
from cxr_gan.metrics.gan_quality import gan_quality_report
from cxr_gan.metrics.ssim import (
    count_memorized,
    mean_pairwise_ms_ssim,
    ms_ssim_settings,
    nearest_real_ssim,
)
from cxr_gan.models import weights
from cxr_gan.models.weights import FeatureExtractorUnavailable
from cxr_gan.reporting.gan_figures import plot_gan_quality


def blobs(count: int, size: int, seed: int) -> np.ndarray:
    """Smooth bright blobs on black: one 'class' of images, varied but alike."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    images = np.zeros((count, size, size))
    for index in range(count):
        for _ in range(4):
            cx, cy = rng.uniform(0.2, 0.8, 2)
            width = rng.uniform(0.05, 0.2)
            images[index] += np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * width**2))
    return (images / images.max(axis=(1, 2), keepdims=True) * 255).astype(np.uint8)


def stripes(count: int, size: int, seed: int) -> np.ndarray:
    """Sine gratings: clearly another distribution than blobs."""
    rng = np.random.default_rng(seed)
    x = np.arange(size)[None, :].repeat(size, axis=0)
    return np.stack(
        [127 + 120 * np.sin(x * rng.uniform(0.3, 1.2) + rng.uniform(0, 6)) for _ in range(count)]
    ).astype(np.uint8)


def with_noise(images: np.ndarray, amplitude: int, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).integers(-amplitude, amplitude + 1, images.shape)
    return np.clip(images.astype(int) + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def extractor() -> gan_features.FeatureExtractor:
    return build_feature_extractor("random_cnn", seed=0, image_size=64)


@pytest.fixture(scope="module")
def real() -> np.ndarray:
    return blobs(40, 48, seed=1)


def test_kid_and_fid_near_zero_for_same_distribution_and_large_for_another(extractor, real):
    real_features = extractor(real)
    same_features = extractor(blobs(40, 48, seed=2))
    other_features = extractor(stripes(40, 48, seed=3))

    kid_other, _ = kernel_inception_distance(real_features, other_features)
    kid_identical, _ = kernel_inception_distance(real_features, real_features)
    kid_same, _ = kernel_inception_distance(real_features, same_features)
    assert kid_other > 0.1
    assert abs(kid_identical) < 0.01 * kid_other
    assert abs(kid_same) < 0.02 * kid_other

    fid_other = frechet_distance(real_features, other_features)
    assert fid_other > 1.0
    assert abs(frechet_distance(real_features, real_features)) < 1e-4 * fid_other
    assert frechet_distance(real_features, same_features) < 0.05 * fid_other


def test_kid_equals_the_unbiased_mmd_written_out():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 3)), rng.normal(1.0, 1.0, size=(6, 3))

    def k(a, b):
        return (a @ b / 3 + 1) ** 3

    m = len(x)
    within = sum(k(x[i], x[j]) + k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    across = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    expected = within / (m * (m - 1)) - 2 * across / m**2

    # subsets of all 6 rows: every subset is the whole set, so the spread is 0
    mean, std = kernel_inception_distance(y, x, n_subsets=3)
    assert mean == pytest.approx(expected, rel=1e-9)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_subsets_are_seeded_and_give_a_spread():
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(30, 4)), rng.normal(0.3, 1.0, size=(12, 4))
    first = kernel_inception_distance(real, fake, subset_size=10, n_subsets=20, seed=5)
    assert first == kernel_inception_distance(real, fake, subset_size=10, n_subsets=20, seed=5)
    assert first != kernel_inception_distance(real, fake, subset_size=10, n_subsets=20, seed=6)
    assert first[1] > 0
    with pytest.raises(ValueError, match="subset_size"):
        kernel_inception_distance(real, fake, subset_size=13)
    with pytest.raises(ValueError, match="n_subsets"):
        kernel_inception_distance(real, fake, n_subsets=1)


def test_fid_of_shifted_gaussians_is_the_squared_shift_and_singular_covariances_work():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4000, 3)), rng.normal(size=(4000, 3))
    b[:, 0] += 2.0
    assert frechet_distance(a, b) == pytest.approx(4.0, abs=0.15)
    # fewer samples than dimensions, as with 50 images and 256-d features
    few = frechet_distance(rng.normal(size=(10, 32)), rng.normal(size=(10, 32)))
    assert np.isfinite(few) and few > 0


def test_collapsed_set_has_high_ms_ssim_and_diverse_set_low():
    collapsed = with_noise(np.repeat(blobs(1, 48, seed=4), 20, axis=0), 3, seed=0)
    diverse = blobs(20, 48, seed=5)
    collapsed_score = mean_pairwise_ms_ssim(collapsed)
    diverse_score = mean_pairwise_ms_ssim(diverse)
    assert collapsed_score > 0.9
    assert collapsed_score > diverse_score + 0.4


def test_ms_ssim_samples_at_most_max_pairs_reproducibly():
    images = blobs(12, 32, seed=6)  # 66 pairs
    sampled = mean_pairwise_ms_ssim(images, max_pairs=10, seed=1)
    assert sampled == mean_pairwise_ms_ssim(images, max_pairs=10, seed=1)
    assert sampled != mean_pairwise_ms_ssim(images, max_pairs=10, seed=2)
    assert mean_pairwise_ms_ssim(images, max_pairs=66) == mean_pairwise_ms_ssim(images)


@pytest.mark.parametrize(
    ("side", "scales", "filter_size"),
    [(161, 5, 11), (160, 4, 11), (81, 4, 11), (64, 3, 11), (32, 2, 11), (20, 2, 9), (8, 2, 3)],
)
def test_ms_ssim_settings_use_the_most_scales_that_tf_accepts(side, scales, filter_size):
    settings = ms_ssim_settings(side)
    assert (settings.scales, settings.filter_size) == (scales, filter_size)
    assert sum(settings.power_factors) == pytest.approx(1.0)
    images = tf.constant(blobs(2, side, seed=7)[..., None] / 255.0, tf.float32)
    kwargs = {"filter_size": settings.filter_size, "filter_sigma": settings.filter_sigma}
    same = tf.image.ssim_multiscale(images, images, 1.0, settings.power_factors, **kwargs)
    np.testing.assert_allclose(same.numpy(), 1.0, atol=1e-4)
    if scales < 5:  # one more scale is more than TF can do at this size
        with pytest.raises(tf.errors.InvalidArgumentError):
            tf.image.ssim_multiscale(images, images, 1.0, (*settings.power_factors, 0.1), **kwargs)


def test_copies_of_real_images_are_flagged_with_their_originals(real):
    copied = [3, 17, 29]
    fresh = np.concatenate([stripes(3, 48, seed=8), blobs(4, 48, seed=9)])
    synthetic = np.concatenate([with_noise(real[copied], 2, seed=1), fresh])
    # synthetic at 32 px, real at 48 px: both are compared at 32 px
    synthetic = tf.image.resize(synthetic[..., None], (32, 32), antialias=True).numpy()
    synthetic = np.round(synthetic[..., 0]).astype(np.uint8)

    nearest, index = nearest_real_ssim(synthetic, real)
    assert count_memorized(nearest, threshold=0.9) == len(copied)
    assert index[: len(copied)].tolist() == copied
    assert (nearest[: len(copied)] > 0.95).all()
    assert (nearest[len(copied) :] < 0.9).all()


def test_random_cnn_is_fixed_by_its_seed(real):
    first = build_feature_extractor("random_cnn", seed=3, image_size=32)
    again = build_feature_extractor("random_cnn", seed=3, image_size=32)
    other = build_feature_extractor("random_cnn", seed=4, image_size=32)
    features = first(real[:8])
    assert features.shape == (8, 256)
    np.testing.assert_array_equal(features, again(real[:8]))
    assert not np.allclose(features, other(real[:8]))


def test_inception_offline_names_the_cache_file_and_the_random_cnn(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    # a closed local port: the download fails at once and nothing leaves this machine
    monkeypatch.setattr(weights, "INCEPTION_V3_NOTOP_URL", "http://127.0.0.1:9/weights.h5")
    with pytest.raises(FeatureExtractorUnavailable) as raised:
        build_feature_extractor("inception_v3")
    message = str(raised.value)
    expected = tmp_path / "models" / "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert str(expected) in message
    assert "feature_extractor: random_cnn" in message
    assert not expected.exists()

    with pytest.raises(FeatureExtractorUnavailable, match="random_cnn"):
        build_feature_extractor("inception_v3", inception_weights=tmp_path / "missing.h5")


# Keras's own save_weights trips numpy 2's __array__(copy=...) deprecation: theirs, not ours
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_inception_uses_a_local_weights_file_and_gives_2048_features(tmp_path, real):
    model = keras.applications.InceptionV3(
        include_top=False, weights=None, input_shape=(299, 299, 3), pooling="avg"
    )
    weights = tmp_path / "inception.weights.h5"
    model.save_weights(weights)
    extractor = build_feature_extractor("inception_v3", inception_weights=weights)
    features = extractor(real[:2])
    assert features.shape == (2, 2048)
    expected = model.predict_on_batch(
        extractor.preprocess(image_sets.resize_unit(real[:2], (299, 299)) * 255)
    )
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-6)


def test_unknown_extractor_is_refused():
    with pytest.raises(ValueError, match="random_cnn"):
        build_feature_extractor("vgg")


def test_report_is_json_and_figure_builds(extractor, real):
    copies = with_noise(real[:2], 2, seed=3)
    # two sampling seeds; the second at another size than the real images
    sets = [np.concatenate([copies, blobs(10, 48, seed=10)]), stripes(12, 40, seed=11)]
    report = gan_quality_report(sets, real, extractor, kid_subsets=10, ms_ssim_max_pairs=30)
    parsed = json.loads(json.dumps(report, allow_nan=False))

    assert parsed["feature_extractor"] == "random_cnn"
    assert "not published" in parsed["feature_extractor_note"]
    assert (parsed["n_real"], parsed["n_synthetic"], parsed["n_synthetic_sets"]) == (40, 24, 2)
    per_set = [s["kid_mean"] for s in parsed["per_set"]]
    assert parsed["kid_mean"] == pytest.approx(np.mean(per_set))
    assert parsed["kid_std"] == pytest.approx(np.std(per_set, ddof=1))
    assert parsed["kid_std_kind"] == "between_sets"
    assert parsed["kid_x1000_mean"] == pytest.approx(1000 * parsed["kid_mean"])
    assert per_set[1] > per_set[0]  # stripes are further from blobs than blobs are
    assert parsed["diversity"]["image_size"] == [40, 40]
    assert parsed["diversity"]["synthetic_ms_ssim"] is not None
    assert parsed["diversity"]["real_ms_ssim"] is not None
    memo = parsed["memorization"]
    assert memo["count_above"] == 2
    assert memo["nearest_real_index"][:2] == [0, 1]
    assert len(memo["nearest_ssim"]) == len(memo["set_index"]) == 24

    single = gan_quality_report(sets[0], real, extractor, kid_subsets=10, ms_ssim_max_pairs=30)
    assert single["n_synthetic_sets"] == 1 and single["kid_std_kind"] == "subsets"
    json.dumps(single, allow_nan=False)

    figure = plot_gan_quality(report, sets, real)
    assert isinstance(figure, Figure)
    assert sum(bool(axes.images) for axes in figure.axes) == 16
    titles = [axes.get_title() for axes in figure.axes]
    # the two copies are the closest pairs, each shown beside its original with the SSIM
    assert {titles[0], titles[2]} == {"closest: synthetic 0:0", "closest: synthetic 0:1"}
    assert {titles[1].split()[1], titles[3].split()[1]} == {"0", "1"} and "SSIM" in titles[1]
    figure.savefig(io.BytesIO(), format="png")


def test_report_defaults_are_the_quality_settings_that_synthesis_extends():
    """One model for the report's settings: the synthesis parameters extend it, and
    gan_quality_report takes it whole (defaults: its defaults), never as keyword copies."""
    import inspect

    from cxr_gan.metrics.gan_quality_settings import DEFAULTS, GanQualitySettings
    from cxr_gan.pipelines.synthesis.params import SynthesisParams

    assert issubclass(SynthesisParams, GanQualitySettings)
    parameters = inspect.signature(gan_quality_report).parameters
    assert parameters["settings"].default is DEFAULTS
    for name, field in GanQualitySettings.model_fields.items():
        assert name not in parameters, f"{name} is passed inside settings, not on its own"
        assert field.default == getattr(SynthesisParams(), name), name


def test_kid_from_all_pairs_and_its_leave_one_out_values_match_the_formula_written_out():
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(9, 4)), rng.normal(0.5, 1, size=(13, 4))

    def mmd(x, y):  # unequal sizes, every pair, diagonals left out
        k = lambda a, b: (a @ b.T / 4 + 1) ** 3  # noqa: E731
        kxx, kyy = k(x, x), k(y, y)
        return (
            (kxx.sum() - np.trace(kxx)) / (len(x) * (len(x) - 1))
            + (kyy.sum() - np.trace(kyy)) / (len(y) * (len(y) - 1))
            - 2 * k(x, y).mean()
        )

    full, leave_one_out, leave_fake_out = kid_jackknife(real, fake)
    assert full == pytest.approx(mmd(real, fake))
    expected = [mmd(np.delete(real, i, axis=0), fake) for i in range(len(real))]
    np.testing.assert_allclose(leave_one_out, expected)
    expected_fake = [mmd(real, np.delete(fake, j, axis=0)) for j in range(len(fake))]
    np.testing.assert_allclose(leave_fake_out, expected_fake)
    values = np.array(expected)
    manual = np.sqrt((len(values) - 1) / len(values) * ((values - values.mean()) ** 2).sum())
    assert jackknife_se(leave_one_out) == pytest.approx(manual)
    with pytest.raises(ValueError, match="at least 3 rows"):
        kid_jackknife(real[:2], fake)
    with pytest.raises(ValueError, match="at least 2 leave-one-out"):
        jackknife_se(np.array([1.0]))


def test_the_jackknife_interval_over_few_real_images_covers_the_true_kid():
    """16 real images, as cxr-dev's evaluation split per class: over 300 draws, KID +- 1.96 SE
    holds the value from 1500 real images about 95% of the time, and the SE is as large as
    the draws' real spread (the spread between synthetic sets alone misses it)."""
    rng = np.random.default_rng(0)
    dim, shift = 32, 0.35
    fake = rng.normal(shift, 1, size=(150, dim))
    truth, _, _ = kid_jackknife(rng.normal(size=(1500, dim)), fake)
    estimates, errors = [], []
    for _ in range(300):
        estimate, leave_one_out, _ = kid_jackknife(rng.normal(size=(16, dim)), fake)
        estimates.append(estimate)
        errors.append(jackknife_se(leave_one_out))
    estimates, errors = np.array(estimates), np.array(errors)
    covered = np.mean(np.abs(estimates - truth) <= 1.96 * errors)
    assert 0.88 <= covered <= 0.995, covered
    assert 0.7 <= np.median(errors) / estimates.std() <= 1.5
