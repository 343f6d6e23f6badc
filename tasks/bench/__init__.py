"""The benchmark harness (workflows/bench.py) and its Keras baseline."""
