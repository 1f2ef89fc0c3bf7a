"""The detection benchmark: distillguard against ground truth and three baselines.

``run_bench(BenchOptions(...))`` is the entry point; ``metrics`` holds the pure
metric functions, ``baselines`` the per-account comparison detectors.
"""

from distillguard.bench.run import BenchError, BenchOptions, run_bench

__all__ = ["BenchError", "BenchOptions", "run_bench"]
