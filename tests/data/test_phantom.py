import numpy as np
from PIL import Image

from cxr_gan.data.phantom import COVID, NORMAL, PhantomConfound, draw_phantom, main


def test_phantoms_are_deterministic_and_distinct():
    first = draw_phantom(COVID, 3, seed=7, size=64)
    assert first.shape == (64, 64) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, draw_phantom(COVID, 3, seed=7, size=64))
    assert not np.array_equal(first, draw_phantom(COVID, 4, seed=7, size=64))
    assert not np.array_equal(first, draw_phantom(COVID, 3, seed=8, size=64))


def test_phantoms_look_like_radiographs():
    image = draw_phantom(NORMAL, 0, seed=1, size=128).astype(float)
    lungs = image[40:80, 25:45].mean()  # image-left lung field
    spine = image[40:80, 60:68].mean()
    assert spine > lungs + 20  # dense midline brighter than air-filled lungs
    assert image.std() > 20


def test_covid_opacities_brighten_the_lower_lungs():
    def lower_lungs(label):
        return np.mean([draw_phantom(label, i, 5, 128)[75:95, 20:50].mean() for i in range(12)])

    assert lower_lungs(COVID) > lower_lungs(NORMAL) + 3


def test_confound_marks_one_class_only():
    marker = PhantomConfound(kind="marker", label=COVID)
    covid = draw_phantom(COVID, 0, 1, 64, confound=marker)
    normal = draw_phantom(NORMAL, 0, 1, 64, confound=marker)
    np.testing.assert_array_equal(normal, draw_phantom(NORMAL, 0, 1, 64))
    assert not np.array_equal(covid, draw_phantom(COVID, 0, 1, 64))


def test_command_line_writes_the_raw_layout(tmp_path):
    main([str(tmp_path), "--count", "2", "--size", "32"])
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png"))
    assert files == [
        "covid/phantom_00000.png",
        "covid/phantom_00001.png",
        "normal/phantom_00000.png",
        "normal/phantom_00001.png",
    ]
    assert Image.open(tmp_path / files[0]).size == (32, 32)
