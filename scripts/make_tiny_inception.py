#!/usr/bin/env python3
"""Writes a tiny random-weight TorchScript module with the interface `nsbg-host eval-samples --inception`
expects (see host/src/eval/inception.rs), for tests only — its numbers mean nothing:

    forward(x: float32 [N, 3, 299, 299], values in [-1, 1)) -> (pool [N, 64], logits [N, 10])

It rejects inputs of another size or outside the range the real graph receives ((v - 128) / 128 for
v in 0..255), so the tests also check what nsbg-host feeds the network.

    python scripts/make_tiny_inception.py OUT.pt [SEED]
"""
import sys

import torch


class TinyInception(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 16, kernel_size=5, stride=4)
        self.pool_fc = torch.nn.Linear(16, 64)
        self.logits_fc = torch.nn.Linear(64, 10, bias=False)

    def forward(self, x: torch.Tensor):
        if x.dim() != 4 or x.shape[1] != 3 or x.shape[2] != 299 or x.shape[3] != 299:
            raise RuntimeError("expected [N, 3, 299, 299]")
        if bool(x.min() < -1.0) or bool(x.max() >= 1.0):
            raise RuntimeError("expected values (v - 128) / 128 in [-1, 1)")
        h = torch.relu(self.conv(x))
        # Spatial mean and a little spatial structure, like pool_3.
        pool = torch.relu(self.pool_fc(h.mean(dim=(2, 3)) + h.std(dim=(2, 3))))
        return pool, self.logits_fc(pool)


def main():
    out = sys.argv[1]
    torch.manual_seed(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    m = torch.jit.script(TinyInception().eval())
    m.save(out)


if __name__ == "__main__":
    main()
