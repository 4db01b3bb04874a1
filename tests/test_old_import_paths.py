"""Names that left models.gan, models.gan_trainer, data.decoding and data.annotations (issue
15's split) still import from there for one release, with a DeprecationWarning naming the new
home; unknown names still fail."""

from __future__ import annotations

import importlib

import pytest

MOVED = [
    ("cxr_gan.models.gan", "build_generator", "cxr_gan.models.gan_networks"),
    ("cxr_gan.models.gan", "MinibatchStdDev", "cxr_gan.models.gan_networks"),
    ("cxr_gan.models.gan_trainer", "tile_grid", "cxr_gan.data.thumbnails"),
    ("cxr_gan.models.gan_trainer", "EPOCH_LOG_SECONDS", "cxr_gan.models.gan_monitor"),
    ("cxr_gan.models.gan_trainer", "SAMPLES_FOLDER", "cxr_gan.models.gan_checkpoints"),
    ("cxr_gan.data.decoding", "DICOM_EXTRA_INSTALL", "cxr_gan.data.dicom"),
    ("cxr_gan.data.decoding", "DICOM_EXTRA_SYNTAXES", "cxr_gan.data.dicom"),
    ("cxr_gan.data.annotations", "find_patient_table", "cxr_gan.data.patients"),
    ("cxr_gan.data.annotations", "understand_patient_table", "cxr_gan.data.patients"),
]


@pytest.mark.parametrize(("old", "name", "home"), MOVED)
def test_a_moved_name_still_imports_from_its_old_module_with_a_warning(old, name, home):
    with pytest.warns(DeprecationWarning, match=rf"{old}\.{name} has moved to {home}\.{name}"):
        value = getattr(importlib.import_module(old), name)
    assert value is getattr(importlib.import_module(home), name)


def test_a_name_that_never_existed_is_still_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'build_nothing'"):
        importlib.import_module("cxr_gan.models.gan").build_nothing  # noqa: B018
