"""The machine's reference figure for the speed benchmarks: a float32 GEMM rate.

Imported by ``bench_functional.py`` and ``bench_synapse.py`` (both run from ``scripts/``).
"""

from __future__ import annotations

import time

import numpy as np


def gemm_rate(repeats: int = 5) -> float:
    """Best float32 GEMM rate (FLOP/s) on a conv-shaped product, (4096 × 4608) @ (4608 × 512):
    a 3×3×512 → 512 conv on a 64×64 output batch."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4096, 4608), dtype=np.float32)
    b = rng.standard_normal((4608, 512), dtype=np.float32)
    np.matmul(a, b)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        np.matmul(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * 4096 * 4608 * 512 / best
