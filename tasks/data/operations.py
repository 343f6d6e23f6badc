"""The one registry of operations: what y is, given the operands a, b, … that a target supplies.

A target (tasks.data.targets) decides which numbers the operands are — the inputs themselves,
or sums of subsets of N inputs — and an operation turns them into y. An operation owns:

- y in numpy, in the operands' dtype (float64 for metrics and success thresholds; float32
  for a shard's stored y, rounded as the trainer's float32 arithmetic rounds it), and in
  TensorFlow (float32, inside the compiled training step);
- the diagonal's true values (every input = x) and how the report writes them;
- how the success rules perturb its ideal model (tasks.evaluation.success);
- the input domain it needs (division keeps its divisor away from 0);
- its symbol in the report (a·b, a/b, …).

    mul     a·b     the article's task
    div     a/b     its divisor's range must stay away from 0 (see DIVISOR_MARGIN)
    add     a+b
    sub     a−b
    square  a²      one operand; an input it does not read is a distractor (stable-nalu's `squared`)
    root    √a      one operand, never negative (stable-nalu's `root`)
    mul3    a·b·c   three operands (stable-nalu's `mul` over three subsets)

Adding one is a subclass of Operation (y, and whatever else differs) and one line,
`register(MyOperation("name", "symbol"))`, here or in a plugin (tasks.model.plugins).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tasks.core import code_identity as plugin_code
from tasks.core import registries
from tasks.core.errors import UserError
from tasks.core.ranges import Ranges

# Division rejects a divisor range whose smallest magnitude is under this share of its
# largest: y = a/b then spans at most 1/DIVISOR_MARGIN = 20× of what the range's far end
# gives, and the test MSE is not decided by the few samples nearest 0 (E[1/b²] diverges on a
# range that reaches 0).
DIVISOR_MARGIN = 0.05
LETTERS = "abcdefgh"


@dataclass(frozen=True)
class Operation:
    """Base: subclasses implement y (and y_tf where y is not plain arithmetic) and override what differs."""

    name: str  # how a config names it
    symbol: str  # y in the operands, as the report writes it: "a·b"
    on_diagonal: str = ""  # y when every input is x ("x²"); default: the symbol with x for each operand

    @property
    def arity(self) -> int:
        """How many operands it reads (a target supplies at least this many)."""
        return 2

    def y(self, z: Sequence[np.ndarray]) -> np.ndarray:
        """y of the operands z[0] = a, z[1] = b, … in their dtype (numpy)."""
        raise NotImplementedError

    def y_tf(self, z):
        """y of float32 operand tensors, inside a compiled TF graph; by default `y` itself,
        which serves where y is plain arithmetic (a numpy function would fail when traced)."""
        return self.y(z)

    def directions(self) -> tuple[int, ...]:
        """Per operand: +1 where |y| grows with the operand's magnitude, −1 where it shrinks
        (a divisor): how the success rules move an operand to move y."""
        return (1,) * self.arity

    def diagonal(self, x: np.ndarray) -> np.ndarray:
        """y on the diagonal: every operand = x."""
        return self.y([x] * self.arity)

    @property
    def diagonal_symbol(self) -> str:
        return self.on_diagonal or re.sub(f"[{LETTERS}]", "x", self.symbol)

    def scaled_error(self, z: Sequence[np.ndarray], epsilon: float) -> np.ndarray:
        """The `inputs_scaled` rule's near − exact: every operand off by a relative ε in the
        direction that moves y (operand i times 1 + dᵢ·ε, dᵢ from `directions`)."""
        moved = [zi * (1 + d * epsilon) for zi, d in zip(z, self.directions())]
        return self.y(moved) - self.y(z)

    def primer_error(self, z: Sequence[np.ndarray], rest: np.ndarray, epsilon: float) -> np.ndarray:
        """The `primer2022` rule's near − exact, with `rest` [n, M] the inputs no operand
        reads. The Primer defines it for +, −, × and ÷; an operation without it is not
        judged by that rule."""
        raise NotImplementedError

    @property
    def defines_primer(self) -> bool:
        return type(self).primer_error is not Operation.primer_error

    def domain_problem(self, operands: Sequence[Ranges]) -> str | None:
        """Why y is not usable when operand i ranges over operands[i], or None."""
        return None


def _power(x, p: float, sqrt):
    """x**p, exact for the common powers (x·x is what float arithmetic of a² rounds to)."""
    if p == 1:
        return x
    if p == 2:
        return x * x
    if p == 0.5:
        return sqrt(x)
    return x**p


@dataclass(frozen=True)
class PowerProduct(Operation):
    """y = Π zᵢ^pᵢ (mul: p = (1, 1); div: (1, −1); square: (2,); root: (½,)). Moving every
    operand by a relative ε scales y by one factor, so both rules' perturbations are that
    factor times y; for a·b they are exactly the formulas this lab has always used."""

    powers: tuple[float, ...] = (1, 1)

    @property
    def arity(self) -> int:
        return len(self.powers)

    def _chain(self, z, sqrt, first=None):
        """first · Π zᵢ^pᵢ, multiplied left to right (a·b: first·a·b)."""
        out = first
        for zi, p in zip(z, self.powers):
            factor = _power(zi, abs(p), sqrt)
            if out is None:
                out = factor if p > 0 else 1 / factor
            else:
                out = out * factor if p > 0 else out / factor
        return out

    def y(self, z):
        return self._chain(z, np.sqrt)

    def y_tf(self, z):
        import tensorflow as tf

        return self._chain(z, tf.sqrt)

    def directions(self):
        return tuple(1 if p > 0 else -1 for p in self.powers)

    def factor(self, epsilon: float, sign: int) -> float:
        """y's factor when operand i moves by 1 + sign·dᵢ·ε: (1 + sign·ε)^P / (1 − sign·ε)^Q,
        P the sum of the positive powers, Q of the negative ones' magnitudes."""
        grow = sum(p for p in self.powers if p > 0)
        shrink = sum(-p for p in self.powers if p < 0)
        return (1 + sign * epsilon) ** grow / (1 - sign * epsilon) ** shrink

    def scaled_error(self, z, epsilon):
        exact = self.y(z)
        return exact * self.factor(epsilon, 1) - exact

    def primer_error(self, z, rest, epsilon):
        """The Primer's multiplicative form: each operand moved by 1 − dᵢ·ε ((1 − ε)²·a·b;
        (1 − ε)/(1 + ε)·a/b) and every unread input x by a factor 1 − ε·|x|."""
        c = self.factor(epsilon, -1)
        if rest.shape[1]:
            c = c * np.prod(1 - epsilon * np.abs(rest.astype(np.float64)), axis=1)
        return self._chain(z, np.sqrt, first=c - 1)

    def domain_problem(self, operands):
        for letter, r, p in zip(LETTERS, operands, self.powers):
            if p < 0 and r.min_abs() < DIVISOR_MARGIN * r.max_abs():
                return (
                    f"{self.name} needs its divisor {letter} away from 0, but {letter} ranges over {r.label()} "
                    f"(|{letter}| must stay ≥ {DIVISOR_MARGIN:g} × its largest magnitude, "
                    f"here ≥ {DIVISOR_MARGIN * r.max_abs():g})"
                )
            if not float(p).is_integer() and r.lo < 0:
                return f"{self.name} needs {letter} ≥ 0, but {letter} ranges over {r.label()}"
        return None


@dataclass(frozen=True)
class Sum(Operation):
    """y = Σ cᵢ·zᵢ (add: c = (1, 1); sub: (1, −1))."""

    coefficients: tuple[float, ...] = (1, 1)

    @property
    def arity(self) -> int:
        return len(self.coefficients)

    def _terms(self, z):
        out = None
        for zi, c in zip(z, self.coefficients):
            term = zi if abs(c) == 1 else abs(c) * zi
            out = (term if c > 0 else -term) if out is None else (out + term if c > 0 else out - term)
        return out

    def y(self, z):
        return self._terms(z)

    def directions(self):
        return tuple(1 if c > 0 else -1 for c in self.coefficients)

    def primer_error(self, z, rest, epsilon):
        """The Primer's additive form: y − ε·Σ|x| over every input, read or not."""
        total = sum(np.abs(zi.astype(np.float64)) for zi in z)
        return -epsilon * (total + np.abs(rest.astype(np.float64)).sum(axis=1))


REGISTRY: dict[str, Operation] = {}


def register(operation: Operation) -> Operation:
    """Add `operation` under its name; re-registering the same class (a re-import) is allowed."""
    return registries.add(REGISTRY, operation, Operation, "operation")


for _shipped in (
    PowerProduct("mul", "a·b", "x²", powers=(1, 1)),
    PowerProduct("div", "a/b", "1", powers=(1, -1)),
    Sum("add", "a+b", "2x", coefficients=(1, 1)),
    Sum("sub", "a−b", "0", coefficients=(1, -1)),
    PowerProduct("square", "a²", "x²", powers=(2,)),
    PowerProduct("root", "√a", "√x", powers=(0.5,)),
    PowerProduct("mul3", "a·b·c", "x³", powers=(1, 1, 1)),
):
    register(_shipped)


def get(name: str) -> Operation:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UserError(
            f"unknown operation '{name}' (registered: {', '.join(REGISTRY)}); load its plugin with --plugin"
        ) from None


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def unregister_plugins() -> None:
    """Forget the operations plugins registered (shipped ones stay)."""
    for name in [n for n, op in REGISTRY.items() if not plugin_code.is_shipped(op)]:
        del REGISTRY[name]


def code_identity(name: str) -> str | None:
    """A plugin operation's module source hash (None for shipped ones): part of its ids."""
    return plugin_code.code_identity(get(name))


def symbol_of(name: str) -> str:
    """An operation's symbol, or its name when it is not registered here (a report of a
    study whose plugin is not loaded)."""
    return REGISTRY[name].symbol if name in REGISTRY else name
