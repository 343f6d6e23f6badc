"""Where a bundle's training batches come from: rows of stored datasets, read in windows
(`training.data: dataset`, the default), or fresh draws made inside the compiled step
(`training.data: fresh`, tasks.model.fresh). The compiled step takes a feed's tensors and
asks `rows_tf` for each step's batch; the host loop asks a feed which tensors to pass
during which steps (`spans`). Either way a member's batch at a step depends only on its seed,
the step and its data, so training resumes at any step with the batches it would have had.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from tasks.model import fresh
from tasks.model.batches import batch_indices_tf, stream_key
from tasks.model.hostmem import as_tensor, on_huge_pages


@dataclass(frozen=True)
class FeedKind:
    """What the compiled step needs to know of its feed (part of its cache key)."""

    fresh: bool = False
    log: bool = False  # fresh draws from a log-uniform range


def rows_tf(kind: FeedKind, tensors: tuple, keys, step, batch: int, n_inputs: int):
    """The members' rows [K, batch, ·] at `step`, inside the compiled loop."""
    if kind.fresh:
        return fresh.batch_tf(tensors, keys, step, batch, n_inputs, kind.log)
    import tensorflow as tf

    flat, n_rows, offsets = tensors
    return tf.gather(flat, batch_indices_tf(keys, step, batch, n_rows) + offsets[:, None])


def window_schedule(window_rows: Sequence[int], batch: int, steps: int, first: int = 0) -> list[tuple[int, int]]:
    """(window, steps) pairs covering `steps`: one window takes them all; several windows
    are visited in turn from `first`, each for about one pass over its rows, cycling as needed."""
    if len(window_rows) == 1:
        return [(0, steps)]
    order = [(first + i) % len(window_rows) for i in range(len(window_rows))]
    schedule, done = [], 0
    while done < steps:
        for w in order:
            n = min(max(1, -(-window_rows[w] // batch)), steps - done)
            schedule.append((w, n))
            done += n
            if done >= steps:
                break
    return schedule


class WindowFeed:
    """Stored rows: windows of D datasets; member k reads dataset `dataset_index[k]`."""

    kind = FeedKind()

    def __init__(
        self,
        load_window: Callable[[int], np.ndarray],
        window_rows: Sequence[int],
        dataset_index: Sequence[int],
        seeds: Sequence[int],
        first_window: int,
    ):
        self.load_window, self.window_rows, self.first_window = load_window, window_rows, first_window
        self.dataset_index = np.asarray(dataset_index, np.int64)
        self.keys = np.array([stream_key(s) for s in seeds], np.int64)
        self._loaded: tuple[int, tuple] | None = None

    def spans(self, batch: int, steps: int, start: int = 0) -> Iterator[tuple[int, int, int]]:
        """(window, first step, end step) of the schedule from `start` on (a resumed run
        starts inside the window the uninterrupted run was in)."""
        step = 0
        for window, n in window_schedule(self.window_rows, batch, steps, self.first_window):
            if step + n > start:
                yield window, max(step, start), step + n
            step += n

    def tensors(self, window: int) -> tuple:
        """(rows flattened to [D · n, ·] on the device, rows per dataset, each member's offset)."""
        import tensorflow as tf

        if self._loaded is None or self._loaded[0] != window:
            rows = self.load_window(window)
            n_rows = rows.shape[1]
            self._loaded = None  # the previous window goes before the next is copied
            flat = as_tensor(on_huge_pages(rows.reshape(-1, rows.shape[-1])))  # same bytes, fewer TLB misses
            offsets = tf.constant(self.dataset_index * n_rows, tf.int64)
            self._loaded = (window, (flat, tf.constant(n_rows, tf.int64), offsets))
        return self._loaded[1]


class FreshFeed:
    """Fresh draws: each member's own stream over its training range (tasks.model.fresh)."""

    def __init__(self, table: fresh.RangeTable, seeds: Sequence[int]):
        self.table = table
        self.kind = FeedKind(fresh=True, log=table.log)
        self.keys = np.array([fresh.fresh_key(s) for s in seeds], np.int64)
        self._tensors: tuple | None = None

    def spans(self, batch: int, steps: int, start: int = 0) -> Iterator[tuple[int, int, int]]:
        if start < steps:
            yield 0, start, steps

    def tensors(self, window: int) -> tuple:
        if self._tensors is None:
            self._tensors = self.table.tensors()
        return self._tensors
