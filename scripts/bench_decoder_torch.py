#!/usr/bin/env python3
"""PyTorch (libtorch CPU kernels) timing of the decoder forwards that `core/benches/decoder.rs` times in
nsbg core: same architectures (built by scripts/make_nn_fixtures.py's modules), random weights, batch 1,
eval mode, inference_mode, torch.set_num_threads(t).

Prints one JSON line per (config, threads), prefixed `TORCH `. Usage:
  bench_decoder_torch.py [--configs paper,small] [--threads 1,2] [--seconds 3] [--frozen]
`--frozen` also times torch.jit.trace + freeze + optimize_for_inference (conv-BN folded, as nsbg does).
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_nn_fixtures import PixelLevel, UNetNTail, randomise  # noqa: E402

CONFIGS = {
    # name: (constructor, input shape)
    "paper": (lambda: UNetNTail(12, 12, 512, 3, 256), (1, 12, 32, 32)),
    "small": (lambda: UNetNTail(12, 12, 64, 3, 32), (1, 12, 32, 32)),
    "pixel": (lambda: PixelLevel(64, 4), (1, 3, 64, 64)),
}


def timed(f, warmup, min_iters, min_seconds):
    for _ in range(warmup):
        f()
    ts = []
    start = time.perf_counter()
    while len(ts) < min_iters or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), min(ts), len(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", default="paper,small")
    ap.add_argument("--threads", default=f"1,{os.cpu_count()}")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--frozen", action="store_true")
    a = ap.parse_args()
    gen = torch.Generator().manual_seed(1)
    for name in a.configs.split(","):
        make, shape = CONFIGS[name]
        torch.manual_seed(1)
        model = make().eval()
        randomise(model, gen)
        params = sum(p.numel() for p in model.parameters())
        x = torch.randn(*shape, generator=gen)
        if name == "pixel":
            x = x.abs().clamp(0, 1)
        variants = [("eager", model)]
        if a.frozen:
            with torch.inference_mode():
                fm = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, x)))
            variants.append(("frozen", fm))
        for t in [int(s) for s in a.threads.split(",")]:
            torch.set_num_threads(t)
            for vname, m in variants:
                with torch.inference_mode():
                    med, mn, n = timed(lambda: m(x), 2, 5 if name != "small" else 20, a.seconds)
                print("TORCH " + json.dumps({"config": name, "threads": t, "variant": vname, "ms": med * 1e3,
                                             "min_ms": mn * 1e3, "iters": n, "params": params,
                                             "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
