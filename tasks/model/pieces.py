"""How the host loop hands training to the compiled function: in pieces, several per call.

A piece is a run of steps that ends at a log point (then the evaluation sets are evaluated
inside the same call) or at the end of a window's span. Pieces are cut exactly where one
compiled call per piece would stop, and the results do not depend on how many pieces one
call carries, so a call's size is free: the first call carries one piece (it compiles, and
is timed apart), later ones more while a call stays short, so that the host's side of a
call (around a millisecond on a slow CPU, as much as a thousand small steps' evaluation) is
paid once per many log points, and checkpoints and a stop request still come within seconds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MAX_PIECES = 32  # pieces per call: the compiled call's fixed shape (unused ones are empty)
CALL_SECONDS = 1.0  # a call's aim: twice the pieces while one takes under half this, half over twice this


def pieces(step: int, end: int, steps: int, log_every: int) -> list[tuple[int, bool]]:
    """(steps, ends at a log point) of each piece from `step` to `end` (a span's end)."""
    out = []
    while step < end:
        next_log = min((step // log_every + 1) * log_every, steps)
        n = min(next_log, end) - step
        step += n
        out.append((n, step == next_log))
    return out


class CallSizes:
    """How many pieces the next call carries: 1, then doubling while calls stay short."""

    def __init__(self):
        self.size = 1

    def next(self) -> int:
        return self.size

    def took(self, seconds: float) -> None:
        if seconds < CALL_SECONDS / 2:
            self.size = min(MAX_PIECES, self.size * 2)
        elif seconds > CALL_SECONDS * 2:
            self.size = max(1, self.size // 2)

    def padded(self, these: Sequence[tuple[int, bool]]):
        """The call's (lengths, evaluate after) tensors, padded with empty pieces to its shape."""
        import tensorflow as tf

        lengths = np.zeros(MAX_PIECES, np.int32)
        evals = np.zeros(MAX_PIECES, bool)
        for i, (n, logged) in enumerate(these):
            lengths[i], evals[i] = n, logged
        return tf.constant(lengths), tf.constant(evals)


def set_mses(errors: np.ndarray, sets: Sequence) -> list[np.ndarray]:
    """Per-member MSE of each evaluation set from its blocks' summed squared errors
    [blocks, K] (float32): summed in float64 in block order, divided by the set's rows."""
    out, i = [], 0
    for rows in sets:
        total = np.zeros(errors.shape[1])
        for row in errors[i : i + len(rows.blocks)]:
            total += row
        out.append(total / max(rows.n, 1))
        i += len(rows.blocks)
    return out
