"""TensorFlow without its start-up chatter, for a command that imports it in its own process
(`mlab export`): on a CPU machine TF 2.21 prints INFO lines about oneDNN and missing CUDA
drivers, and `E0000 … failed call to cuInit`, none of which is about the user's request.

TF_CPP_MIN_LOG_LEVEL=2 silences TF's own INFO and WARNING logs once its logging is set up; GPUs
are hidden when the machine has none; but TF's shared libraries log from their static
initialisers, before TF reads that variable ("All log messages before absl::InitializeLog() is
called are written to STDERR"), and the cuInit failure is logged at ERROR level. So the import
and TF's device discovery run with file descriptor 2 captured, and what they wrote is passed on
except those known lines; anything else TF says there (a real error) still reaches stderr.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

PRE_INIT_BANNER = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
ABSL_INFO_OR_WARNING = re.compile(r"^[IW]\d{4} [\d:.]+ +\d+ \S+:\d+\] ")  # I0000 00:00:1796… 29054 port.cc:153]
CUINIT_FAILED = "failed call to cuInit"


def machine_has_gpu() -> bool:
    """An NVIDIA GPU is visible to this machine (its driver's device nodes or /proc entry)."""
    return any(Path("/dev").glob("nvidia[0-9]*")) or Path("/proc/driver/nvidia/gpus").is_dir()


def startup_noise(has_gpu: bool) -> Callable[[str], bool]:
    def noise(line: str) -> bool:
        if line.startswith(PRE_INIT_BANNER) or ABSL_INFO_OR_WARNING.match(line):
            return True
        return not has_gpu and CUINIT_FAILED in line  # no GPU to fail on: not an error here

    return noise


@contextmanager
def stderr_without(noise: Callable[[str], bool]) -> Iterator[None]:
    """Capture file descriptor 2 (C++ libraries write there directly); on exit, write what was
    captured to stderr, less the lines `noise` accepts."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode(errors="replace")
            kept = [line for line in text.splitlines(keepends=True) if not noise(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def quiet_tensorflow() -> None:
    """Import TensorFlow (and find its devices) quietly; a no-op once it is imported."""
    if "tensorflow" in sys.modules:
        return
    has_gpu = machine_has_gpu()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not has_gpu:
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    with stderr_without(startup_noise(has_gpu)):
        import tensorflow as tf

        tf.config.list_physical_devices()  # device discovery (and its cuInit) happens here, not later
