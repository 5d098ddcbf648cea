"""Speed measured as ratios against hand-derived NumPy, in one process.

Run ``python -m benchmarks`` from the repository root (``--help`` for options).
"""
