"""Old import paths kept for one release: a module-level __getattr__ that warns and forwards.

    __getattr__ = moved_names(__name__, {"cxr_gan.models.classifier_network": "build_classifier"})

`from old.module import build_classifier` then still works, with a DeprecationWarning naming the
new home; the new module is imported only when an old name is used (TensorFlow stays lazy).
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any


def moved_names(module: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module __getattr__ for names that left `module`: new module -> its names, space
    separated; `old=new` where a name was also renamed."""
    moved: dict[str, tuple[str, str]] = {}
    for home, names in homes.items():
        for name in names.split():
            old, _, new = name.partition("=")
            moved[old] = (home, new or old)

    def __getattr__(name: str) -> Any:
        if name not in moved:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        home, new = moved[name]
        warnings.warn(
            f"{module}.{name} has moved to {home}.{new}; the old import path will be removed in "
            "the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(home), new)

    return __getattr__
