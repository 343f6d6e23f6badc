"""Host memory for large training windows: backed by 2 MiB pages where the kernel allows it.

Each training step reads its batch as a few runs of consecutive rows at random places of the
window (tasks.model.batches); from a 10⁶-row window (400 MB on 100 inputs) nearly every run
misses the TLB with 4 KiB pages. Asking for transparent huge pages (MADV_HUGEPAGE, honoured
where /sys/kernel/mm/transparent_hugepage/enabled is `madvise` or `always`) makes those reads
cheaper. The bytes are the same, so training is bit for bit the same; where the request is not
possible (another OS, no THP) the window stays where it was.
"""

from __future__ import annotations

import mmap

import numpy as np

HUGE_PAGES_FROM = 64 << 20  # smaller windows stay in cache-sized territory: not worth a copy


def on_huge_pages(array: np.ndarray) -> np.ndarray:
    """`array` (C-contiguous) copied into anonymous memory advised for huge pages; `array`
    itself when it is smaller than HUGE_PAGES_FROM or the advice is unavailable."""
    if array.nbytes < HUGE_PAGES_FROM or not hasattr(mmap, "MADV_HUGEPAGE"):
        return array
    try:
        region = mmap.mmap(-1, array.nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        region.madvise(mmap.MADV_HUGEPAGE)
    except (OSError, ValueError, AttributeError):
        return array
    out = np.frombuffer(region, dtype=array.dtype).reshape(array.shape)  # the array keeps the region alive
    out[...] = array
    return out


def as_tensor(array: np.ndarray):
    """A TensorFlow tensor over `array`'s own memory where TensorFlow can share it (DLPack),
    else a copy: a huge-page window stays on its pages and is not held twice."""
    import tensorflow as tf

    try:
        return tf.experimental.dlpack.from_dlpack(array.__dlpack__())
    except (AttributeError, TypeError, ValueError, BufferError, tf.errors.InvalidArgumentError):
        return tf.constant(array)
