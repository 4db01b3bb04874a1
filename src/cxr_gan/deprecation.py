"""Old import paths kept for one release: a module-level __getattr__ that warns and forwards.

    __getattr__ = moved_names(__name__, {"build_classifier": "cxr_gan.models.classifier_network"})

`from old.module import build_classifier` then still works, with a DeprecationWarning naming the
new home; the new module is imported only when an old name is used (TensorFlow stays lazy).
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any


def moved_names(module: str, moved: Mapping[str, str]) -> Callable[[str], Any]:
    """A module __getattr__ for `moved`: old name -> its new module ("pkg.mod") or "pkg.mod:new"."""

    def __getattr__(name: str) -> Any:
        if name not in moved:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        new_module, _, new_name = moved[name].partition(":")
        new_name = new_name or name
        warnings.warn(
            f"{module}.{name} has moved to {new_module}.{new_name}; the old import path will be "
            "removed in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(new_module), new_name)

    return __getattr__
