#!/usr/bin/env python3
"""Exports the standard FID Inception-v3 (TensorFlow graph inception-2015-12-05, as ported to PyTorch
by pytorch-fid: weights pt_inception-2015-12-05-6726825d.pth) as the TorchScript file that
`nsbg-host eval-samples --inception FILE` loads. Run it once on a machine with internet access:

    pip install torch torchvision pytorch-fid
    python scripts/export_fid_inception.py fid_inception.pt

Interface of the saved module (host/src/eval/inception.rs):
    input  float32 [N, 3, 299, 299], RGB, values (v - 128) / 128 for 8-bit v (nsbg-host quantises and
           resizes with TF1's bilinear resize before calling it, as the TF graph does);
    output (pool [N, 2048], logits [N, 1008]); logits = pool @ W^T without the bias, as improved-gan's
           Inception Score reads the graph (softmax/logits/MatMul).
"""
import sys

import torch
import torch.nn.functional as F
from pytorch_fid.inception import fid_inception_v3  # downloads the FID weights on first use


class FIDInception(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = fid_inception_v3().eval()

    def forward(self, x):
        n = self.net
        x = n.Conv2d_1a_3x3(x)
        x = n.Conv2d_2a_3x3(x)
        x = n.Conv2d_2b_3x3(x)
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = n.Conv2d_3b_1x1(x)
        x = n.Conv2d_4a_3x3(x)
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (n.Mixed_5b, n.Mixed_5c, n.Mixed_5d, n.Mixed_6a, n.Mixed_6b, n.Mixed_6c,
                      n.Mixed_6d, n.Mixed_6e, n.Mixed_7a, n.Mixed_7b, n.Mixed_7c):
            x = block(x)
        pool = F.adaptive_avg_pool2d(x, 1).flatten(1)
        logits = pool @ n.fc.weight.t()
        return pool, logits


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: export_fid_inception.py OUT.pt")
    model = FIDInception().eval()
    example = torch.zeros(2, 3, 299, 299)
    with torch.no_grad():
        traced = torch.jit.trace(model, example)
        pool, logits = traced(example)
    assert pool.shape == (2, 2048) and logits.shape == (2, 1008), (pool.shape, logits.shape)
    traced.save(sys.argv[1])
    print(f"wrote {sys.argv[1]}: pool {tuple(pool.shape)}, logits {tuple(logits.shape)}")


if __name__ == "__main__":
    main()
