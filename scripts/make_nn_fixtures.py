#!/usr/bin/env python3
"""Generates core/tests/fixtures/nn/: small decoder networks built in PyTorch with random weights and
non-trivial BatchNorm statistics (eval mode), fixed inputs, and PyTorch's outputs.

Architectures follow shared/spec/design.md §Networks / §Weight file format (tensor names included):
  * UNet_NTail(n_in, n_tails, width, depth, tail_width) — the wavelet decoder level;
  * the pixel-decoder level: u = bilinear x2 (align_corners=False) of the image, output u + UNet(u).

Output: index.json (cases: kind, shape, side, bn_eps, tensor table) and one <case>.bin per case holding
raw little-endian f32: every tensor (offsets in the index), then the input, then the expected output.
The expected output is computed in float64 (the model and input cast to double) and rounded to f32, so
it is PyTorch's result without PyTorch's own f32 rounding; the f32 PyTorch result is checked against it.

Run:  ~/.cache/nsbg/venv-torch-2.13.0/bin/python scripts/make_nn_fixtures.py
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "core", "tests", "fixtures", "nn")
PREFIX = "level1."
BN_EPS = 1e-5


class DoubleConv(nn.Module):
    def __init__(self, cin, cout, mid=None):
        super().__init__()
        mid = mid or cout
        self.conv1 = nn.Conv2d(cin, mid, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self.conv2 = nn.Conv2d(mid, cout, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(x)))


class Tail(nn.Module):  # OutConv2: Conv3x3 -> BN -> ReLU -> Conv3x3
    def __init__(self, cin, mid, cout=3):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, mid, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self.conv2 = nn.Conv2d(mid, cout, 3, padding=1)

    def forward(self, x):
        return self.conv2(F.relu(self.bn1(self.conv1(x))))


def up(x):
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)


class UNetBody(nn.Module):
    """inc, down1..depth (maxpool + DoubleConv), up1..depth (upsample, cat(skip, up), DoubleConv)."""

    def __init__(self, inc, downs, ups):
        super().__init__()
        self.depth = len(downs)
        self.inc = DoubleConv(*inc)
        for i, d in enumerate(downs):
            setattr(self, f"down{i + 1}", DoubleConv(*d))
        for i, u in enumerate(ups):
            setattr(self, f"up{i + 1}", DoubleConv(*u))

    def forward(self, x):
        xs = [self.inc(x)]
        for i in range(self.depth):
            xs.append(getattr(self, f"down{i + 1}")(F.max_pool2d(xs[-1], 2)))
        u = xs[-1]
        for i in range(self.depth):
            skip = xs[self.depth - 1 - i]
            u = getattr(self, f"up{i + 1}")(torch.cat([skip, up(u)], dim=1))
        return u


class UNetNTail(nn.Module):
    def __init__(self, n_in, n_tails, width, depth, tail_width):
        super().__init__()
        w = width
        self.body = UNetBody((n_in, w), [(w, w)] * depth, [(2 * w, w, w)] * depth)
        self.n_tails = n_tails
        for j in range(n_tails):
            setattr(self, f"tail{j}", Tail(w, tail_width))

    def forward(self, x):
        u = self.body(x)
        return torch.cat([getattr(self, f"tail{j}")(u) for j in range(self.n_tails)], dim=1)


class PixelLevel(nn.Module):
    def __init__(self, base, depth):
        super().__init__()
        b, d = base, depth
        downs = [(b << (i - 1), (b << i) if i < d else (b << (d - 1))) for i in range(1, d + 1)]
        ups = []
        for i in range(1, d + 1):
            cin = 2 * (b << (d - i))
            ups.append((cin, (b << (d - i - 1)) if i < d else b, cin // 2))
        self.body = UNetBody((3, b), downs, ups)
        self.outc = nn.Conv2d(b, 3, 3, padding=1)

    def forward(self, x):
        u = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        return u + self.outc(self.body(u))


def randomise(model, gen):
    """PyTorch default conv init, plus random (non-trivial) BatchNorm affine parameters and statistics."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            with torch.no_grad():
                m.weight.copy_(0.5 + torch.rand(c, generator=gen))
                m.bias.copy_(0.2 * torch.randn(c, generator=gen))
                m.running_mean.copy_(0.3 * torch.randn(c, generator=gen))
                m.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=gen))


def export_name(name):
    # Module paths -> design.md names: drop the "body." level.
    return PREFIX + name.replace("body.", "", 1) if name.startswith("body.") else PREFIX + name


def run_case(name, model, x, meta, cases):
    model.eval()
    with torch.no_grad():
        y32 = model(x)
        y64 = model.double()(x.double())
        model.float()
    err32 = (y32.double() - y64).abs().max().item()
    print(f"{name}: output {tuple(y64.shape)}, |y| max {y64.abs().max().item():.3f}, torch f32 vs f64 {err32:.2e}")
    blobs, tensors, off = [], {}, 0
    for k, v in model.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        a = v.detach().cpu().numpy().astype("<f4").ravel()
        tensors[export_name(k)] = {"shape": list(v.shape), "offset": off}
        blobs.append(a)
        off += a.size
    xin = x.numpy().astype("<f4").ravel()
    yout = y64.numpy().astype("<f4").ravel()
    blobs += [xin, yout]
    data = np.concatenate(blobs)
    with open(os.path.join(OUT, f"{name}.bin"), "wb") as f:
        f.write(data.tobytes())
    case = dict(meta)
    case.update(
        name=name,
        file=f"{name}.bin",
        prefix=PREFIX,
        bn_eps=BN_EPS,
        tensors=tensors,
        input={"offset": off, "len": int(xin.size)},
        output={"offset": off + int(xin.size), "len": int(yout.size)},
        torch_f32_max_abs_err=err32,
    )
    cases.append(case)


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(20240601)
    torch.manual_seed(20240601)
    cases = []

    def wavelet(name, n_in, n_tails, width, depth, tail_width, side):
        m = UNetNTail(n_in, n_tails, width, depth, tail_width)
        randomise(m, gen)
        x = torch.randn(1, n_in, side, side, generator=gen)
        meta = {"kind": "wavelet", "side": side,
                "shape": {"n_in": n_in, "n_tails": n_tails, "width": width, "depth": depth, "tail_width": tail_width}}
        run_case(name, m, x, meta, cases)

    def pixel(name, base, depth, side):
        m = PixelLevel(base, depth)
        randomise(m, gen)
        x = torch.rand(1, 3, side, side, generator=gen)
        meta = {"kind": "pixel", "side": side, "shape": {"base": base, "depth": depth}}
        run_case(name, m, x, meta, cases)

    wavelet("wavelet_l1_w16", 12, 12, 16, 3, 8, 32)      # level-1 layout, 32x32 patches
    wavelet("wavelet_l2_w8_s16", 48, 48, 8, 3, 4, 16)    # level-2 channel counts, 16x16, 2x2 bottleneck
    wavelet("wavelet_w8_s64", 3, 2, 8, 2, 4, 64)         # several Winograd blocks at 64x64
    pixel("pixel_b4_d4_s32", 4, 4, 32)                   # paper depth: 32 -> 64
    pixel("pixel_b8_d3_s16", 8, 3, 16)                   # 16 -> 32
    with open(os.path.join(OUT, "index.json"), "w") as f:
        # One case per line, compact (the tensor tables are long).
        f.write('{"format": "nsbg nn fixtures 1", "torch": %s, "cases": [\n' % json.dumps(torch.__version__))
        f.write(",\n".join(json.dumps(c, separators=(",", ":")) for c in cases))
        f.write("\n]}\n")
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"wrote {len(cases)} cases to {os.path.normpath(OUT)} ({total / 1e6:.2f} MB)")
    if total > 2_000_000:
        sys.exit("fixtures exceed 2 MB")


if __name__ == "__main__":
    main()
