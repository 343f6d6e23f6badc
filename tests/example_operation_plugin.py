"""An operation brought by a plugin: the sum of squares, y = a² + b².

    python workflows/run.py --plugin tests/example_operation_plugin.py --config my_study.yaml

with `target: {operation: sum_squares}` (or a list that names it) in the study's config.
"""

from dataclasses import dataclass

from tasks.data.operations import Operation, register


@dataclass(frozen=True)
class SumOfSquares(Operation):
    """y = a² + b², the same expression for numpy (metrics, float64) and TensorFlow (training,
    float32); the success rules, the diagonal and the report follow from it."""

    def y(self, z):  # z = [a, b]: arrays or tensors of the operands
        a, b = z
        return a * a + b * b


register(SumOfSquares("sum_squares", "a²+b²", on_diagonal="2x²"))
