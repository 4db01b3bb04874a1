"""Pipeline slices in memory: a pipeline from its create_pipeline(), a DataCatalog of Kedro's own
MemoryDatasets, and SequentialRunner, as the kedro-starters' tests do. Real Kedro, real (tiny)
Keras models, nothing mocked, no project copy and no files but a scratch folder, so a slice runs
in seconds where a KedroSession in a copied project takes minutes.

Parameters reach the nodes as a KedroSession hands them over: conf/base's values with a test's
overrides merged in, typed by Kedro's own ParameterValidator as the nodes' type hints ask
(DataProcessingParams, ...), nested keys (`params:data_processing.classes`) included.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from kedro.framework.hooks.manager import _create_hook_manager
from kedro.io import AbstractDataset, DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner
from kedro.validation import ParameterValidator
from kedro.validation.utils import get_typed_fields

from tests.conftest import PROJECT_ROOT

# The small settings every section runs with in a slice (in the spirit of the session tests'
# TINY_STUDY); tests add or override keys per section with parameters().
TINY: dict[str, dict[str, Any]] = {
    "data_processing": {"image_size": 32, "min_images_per_class": 5, "test_fraction": 0.25},
    "gan_training": {
        "gan_image_size": 16,
        "base_filters": 8,
        "epochs": 2,
        "batch_size": 8,
        "samples_per_class": 2,
        "checkpoint_dir": None,  # nothing written, nothing resumed
    },
    "synthesis": {
        "n_images": 6,
        "per_class_images": 4,
        "quality_sample_sets": 1,
        "quality_image_size": 16,
    },
    "classification": {
        "backbone": "small_cnn",
        "weights": None,
        "input_size": 32,
        "small_cnn_filters": [4, 8],
        "batch_size": 8,
        "epochs": 1,
        "seeds": [1],
        "n_bootstrap": 100,
        "gradcam_images": 2,
        "min_source_images": 2,
    },
}


def parameters(**overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """TINY with per-section overrides: parameters(synthesis={"n_images": 3})."""
    return {section: {**values, **overrides.get(section, {})} for section, values in TINY.items()}


def shaped(
    create_pipeline: Callable[[], Pipeline], params: dict[str, Any], folder: Path
) -> Pipeline:
    """create_pipeline() as `kedro run` builds it from `params`: with the namespaced copies
    (experiments, GAN variants) they ask for (cxr_gan.pipelines.shape), whatever the developer's
    own conf/local or KEDRO_ENV says. It is built from `folder`, whose conf/base then holds
    `params`."""
    for env in ("base", "local"):  # `kedro run` reads conf/local too; it must exist
        (folder / "conf" / env).mkdir(parents=True, exist_ok=True)
    (folder / "conf" / "base" / "parameters.yml").write_text(yaml.safe_dump(params))
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("KEDRO_ENV", raising=False)
        patch.chdir(folder)
        return create_pipeline()


class RetainedMemoryDataset(MemoryDataset):
    """Kedro's MemoryDataset, except that the runner's release after a dataset's last reader
    keeps the data, so a test can load intermediate datasets after the run too."""

    def _release(self) -> None:
        pass


def session_parameters(overrides: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """conf/base's parameters with `overrides` merged in per section, as `kedro run --params`
    merges them: every key a node may ask for exists, with the project's own value."""
    merged: dict[str, Any] = {}
    for path in sorted((PROJECT_ROOT / "conf" / "base").glob("parameters*.yml")):
        merged.update(yaml.safe_load(path.read_text()) or {})
    for section, values in overrides.items():
        merged[section] = {**merged.get(section, {}), **values}
    return merged


def _feed(name: str, value: Any, feed: dict[str, Any]) -> None:
    """`params:<name>` and, through dicts and typed models, every nested `params:<name>.<key>`,
    as a KedroContext feeds parameters to the catalog."""
    feed[f"params:{name}"] = value
    fields = value if isinstance(value, dict) else get_typed_fields(value)
    for key, nested in (fields or {}).items():
        _feed(f"{name}.{key}", nested, feed)


def run_slice(
    pipeline: Pipeline,
    params: dict[str, dict[str, Any]],
    hooks: tuple[Any, ...] = (),
    **inputs: Any,
) -> DataCatalog:
    """Run `pipeline` with SequentialRunner on a DataCatalog that holds:

    - the parameters a KedroSession would give: conf/base's with `params` (overrides per
      section) merged in, each section typed by Kedro's own ParameterValidator as the slice's
      nodes ask (DataProcessingParams, ...), and every nested `params:<section>.<key>`;
    - every keyword as a dataset: a Kedro dataset as it is (PhantomXrayDataset), anything else
      in a MemoryDataset;
    - every other dataset of the pipeline in a RetainedMemoryDataset.

    `hooks`: project hook objects (cxr_gan.hooks.GanCheckpointHooks()) registered with Kedro's
    own hook manager for the run, as settings.HOOKS are in a session. Returns the catalog, to
    load any dataset from. MemoryDatasets copy what they load (pandas and numpy: a copy;
    anything else: a deep copy), so a node that changed its input in place would not change
    what the next node reads."""
    typed = ParameterValidator({"slice": pipeline}).validate_raw_params(session_parameters(params))
    feed: dict[str, Any] = {}
    for section, value in typed.items():
        _feed(section, value, feed)
    catalog = DataCatalog()
    for name in pipeline.inputs():
        if name.startswith("params:"):
            catalog[name] = MemoryDataset(feed[name])
    for name, value in inputs.items():
        catalog[name] = value if isinstance(value, AbstractDataset) else MemoryDataset(value)
    for name in pipeline.datasets() - set(inputs):
        if not name.startswith("params:"):
            catalog[name] = RetainedMemoryDataset()
    manager = _create_hook_manager()
    for hook in hooks:
        manager.register(hook)
    SequentialRunner().run(pipeline, catalog, hook_manager=manager)
    return catalog


def tiny_generator(size: int = 16, latent_dim: int = 8, seed: int = 0) -> Any:
    """A conditional generator with the GAN's interface: (latent (n, d), label (n, 1) int32)
    -> (n, size, size, 1) in [-1, 1]; untrained, so its samples differ by latent and label."""
    import keras  # TensorFlow: only in the tests that need a model

    keras.utils.set_random_seed(seed)
    latent = keras.Input((latent_dim,))
    label = keras.Input((1,), dtype="int32")
    joined = keras.layers.Concatenate()([latent, keras.ops.cast(label, "float32")])
    pixels = keras.layers.Dense(size * size, activation="tanh")(joined)
    return keras.Model([latent, label], keras.layers.Reshape((size, size, 1))(pixels))


def class_counts(labels: Any) -> dict[int, int]:
    """{label: count}, plain ints, for exact comparisons."""
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts, strict=True)}
