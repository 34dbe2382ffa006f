"""PyTorch 1.13's products at the 125M training step's shapes against 2048^3, fp32 (its BLAS) and bf16 (both operands
bf16, as torch.autocast runs them), 2 threads: GFLOP/s, median of 30 calls (10 at 2048). Used by the issue-15
session-17 probes (bench/results/issue15-s17-probes-2026-12-04.txt, section 4):

    OPENBLAS_CORETYPE=SkylakeX OMP_WAIT_POLICY=passive /usr/bin/python3 bench/python/product_shapes.py
"""
import time

import torch

torch.set_num_threads(2)
shapes = [(512, 768, 3072), (512, 3072, 768), (512, 768, 2304), (512, 768, 768), (1024, 768, 3072), (2048, 2048, 2048)]
for dt in (torch.float32, torch.bfloat16):
    line = [str(dt).split('.')[-1]]
    for (m, k, n) in shapes:
        a = torch.randn(m, k).to(dt); w = torch.randn(n, k).to(dt)
        for _ in range(3): torch.nn.functional.linear(a, w)
        ts = []
        for _ in range(30 if m < 2048 else 10):
            t0 = time.perf_counter(); torch.nn.functional.linear(a, w); ts.append(time.perf_counter() - t0)
        ts.sort(); med = ts[len(ts) // 2]
        line.append("%dx%dx%d %.0f" % (m, k, n, 2 * m * k * n / med / 1e9))
    print("  ".join(line))
