"""Compiled TensorFlow functions traced without AutoGraph, unless their code needs it.

The lab's own steps write TensorFlow's control flow out (tf.while_loop, tf.where), so
AutoGraph's rewriting of their Python source only costs time: measured on a small bundle
(an MLP of 16 units, K = 2, 300 steps) in a fresh process, the first call plus the first
evaluation took 3.2–3.5 s with it and 2.2–2.6 s without, the same numbers to the bit (the
same operations are traced). A plugin whose code branches on a tensor in Python needs the
rewriting: tracing it plainly raises OperatorNotAllowedInGraphError before anything runs,
and it is then traced with AutoGraph, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Traced", "function"]


class Traced:
    """A tf.function traced plainly first; `converted` tells whether AutoGraph was needed."""

    def __init__(self, fn: Callable, options: dict[str, Any]):
        import tensorflow as tf

        self._fn, self._options = fn, options
        self._plain = tf.function(fn, autograph=False, **options)
        self._autograph: Callable | None = None
        self._needs_autograph = tf.errors.OperatorNotAllowedInGraphError  # raised while tracing: nothing ran

    @property
    def converted(self) -> bool:
        return self._autograph is not None

    def __call__(self, *args):
        if self._autograph is None:
            try:
                return self._plain(*args)
            except self._needs_autograph:
                import tensorflow as tf

                self._autograph = tf.function(self._fn, autograph=True, **self._options)
        return self._autograph(*args)


def function(fn: Callable, **options: Any) -> Traced:
    """`tf.function(fn, **options)`, without AutoGraph where the code does not need it."""
    return Traced(fn, options)
