"""Keep TensorFlow's start-up chatter out of the user's way, and let everything else through.

TF_CPP_MIN_LOG_LEVEL silences TensorFlow's C++ logging only once it is initialised; TF 2.21 logs a
few lines from static initialisers before that, straight to file descriptor 2 (oneDNN is on, no
CUDA driver found, the absl::InitializeLog notice; tensorflow/tensorflow#100442). No environment
variable reaches them, so while `tensorflow` is first imported, descriptor 2 goes to a temporary
file, and afterwards every line that is not one of the known notices is written back to stderr.
On a machine without an NVIDIA driver, TensorFlow's first look for a GPU (which prints "failed
call to cuInit" as an ERROR) happens inside the same block; with a driver, that line is kept.

The price: if TensorFlow itself dies while it loads (an abort, "Illegal instruction"), the line
explaining why is still in that file and is lost with the process; CXR_GAN_TF_STARTUP_LOG=1
turns the filter off to see it.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from types import ModuleType

# Informational lines TensorFlow prints while it loads; none of them asks the user to act.
STARTUP_NOISE: tuple[str, ...] = (
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "oneDNN custom operations are on",
    "Could not find cuda drivers on your machine, GPU will not be used",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "rebuild TensorFlow with the appropriate compiler flags",
    "Attempting to register factory for plugin",  # cuDNN/cuFFT/cuBLAS registered twice
)
# What TensorFlow's first look for a GPU prints where there is no NVIDIA driver at all (an
# ERROR line, so TF_CPP_MIN_LOG_LEVEL=2 lets it through); probed while loading on such machines
CPU_MACHINE_NOISE: tuple[str, ...] = ("failed call to cuInit",)
NVIDIA_DRIVER_PATHS: tuple[str, ...] = ("/dev/nvidiactl", "/dev/nvidia0", "/proc/driver/nvidia")


def has_nvidia_driver() -> bool:
    """True when the machine shows an NVIDIA driver (its device files or /proc entry): then a
    failed cuInit is a real problem and its line is kept."""
    return any(os.path.exists(path) for path in NVIDIA_DRIVER_PATHS)


@contextlib.contextmanager
def stderr_without(noise: Sequence[str] = STARTUP_NOISE) -> Iterator[None]:
    """Hold back what is written to descriptor 2 (C++ and Python alike) inside the block, then
    write back every line that contains none of `noise`, in order, even if the block raises."""
    with contextlib.suppress(AttributeError, ValueError):
        sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(AttributeError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = [
                line
                for line in held.read().splitlines(keepends=True)
                if not any(text.encode() in line for text in noise)
            ]
            if kept:
                os.write(2, b"".join(kept))


class _QuietTensorflowFinder(importlib.abc.MetaPathFinder):
    """Wraps the first import of `tensorflow` in stderr_without, then steps aside."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "tensorflow":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            driver = has_nvidia_driver()
            with stderr_without(STARTUP_NOISE if driver else (*STARTUP_NOISE, *CPU_MACHINE_NOISE)):
                original(module)
                if not driver:  # look for GPUs now, while the CUDA probe's error is held back
                    module.config.list_physical_devices("GPU")

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def quiet_tensorflow_startup() -> None:
    """Filter TensorFlow's start-up notices when it is first imported (no-op if it already is).

    Set CXR_GAN_TF_STARTUP_LOG=1 to see them again, e.g. to debug a GPU setup."""
    if "tensorflow" in sys.modules or os.environ.get("CXR_GAN_TF_STARTUP_LOG") == "1":
        return
    if not any(isinstance(finder, _QuietTensorflowFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorflowFinder())
