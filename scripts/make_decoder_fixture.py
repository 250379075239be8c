#!/usr/bin/env python3
"""Writes tests/fixtures/decoder/: a tiny NSBG wavelet decoder in weight format v1 and the output of
the full two-level pipeline computed independently of nsbg — networks in PyTorch (float64), transform
and wavelet-packet tiling with PyWavelets (mode 'periodization', which equals nsbg's periodization
exactly) — so the Rust, C and C++ tests can check nsbg's decoder end to end.

    ~/.cache/nsbg/venv-torch-2.13.0/bin/python scripts/make_decoder_fixture.py
"""
import json
import os
import struct
import sys

import numpy as np
import pywt
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_nn_fixtures import UNetNTail, randomise  # noqa: E402  (same module definitions as the nn fixtures)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "decoder")
WIDTH, TAIL, DEPTH, EXT = 8, 4, 3, "periodization"


def dwt2(x):
    ca, (ch, cv, cd) = pywt.dwt2(x, "bior2.2", mode=EXT)
    return ca, cv, ch, cd  # nsbg quadrant order: TL, TR (= cV), BL (= cH), BR


def idwt2(tl, tr, bl, br):
    return pywt.idwt2((tl, (bl, tr, br)), "bior2.2", mode=EXT)


def tile(plane):
    """Wavelet-packet split of one square plane into 32x32 patches, quadrant-major."""
    if plane.shape[0] == 32:
        return [plane]
    return [p for q in dwt2(plane) for p in tile(q)]


def untile(patches):
    if len(patches) == 1:
        return patches[0]
    q = len(patches) // 4
    return idwt2(*(untile(patches[i * q:(i + 1) * q]) for i in range(4)))


def level(net, low):
    """One decoder level on a [3][s][s] low band -> [3][2s][2s] (design.md, Data flow)."""
    s = low.shape[1]
    per_channel = [tile(low[c]) for c in range(3)]
    n_patches = len(per_channel[0])
    x = np.stack([per_channel[c][p] for p in range(n_patches) for c in range(3)])  # channel 3p + c
    with torch.no_grad():
        y = net(torch.from_numpy(x[None])).numpy()[0]
    out = np.empty((3, 2 * s, 2 * s))
    for c in range(3):
        bands = [untile([y[3 * (n_patches * b + p) + c] for p in range(n_patches)]) for b in range(3)]
        out[c] = idwt2(low[c], *bands)
    return out


def write_weights(path, nets, config):
    tensors = {}
    for k, net in enumerate(nets, start=1):
        for name, t in net.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            tensors[f"level{k}." + name.replace("body.", "", 1)] = t.detach().float().numpy()
    header = {"__metadata__": {"nsbg.format": "1", "nsbg.kind": "wavelet-decoder", "nsbg.config": json.dumps(config),
                               "nsbg.trained_with": "random init, scripts/make_decoder_fixture.py"}}
    blobs, offset = [], 0
    for name in sorted(tensors):
        b = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(2024)
    torch.manual_seed(2024)
    nets = []
    levels = []
    for s in (64, 128):
        n = 3 * (s // 32) ** 2
        net = UNetNTail(n, n, WIDTH, DEPTH, TAIL)
        randomise(net, gen)
        nets.append(net.double().eval())
        levels.append({"n_in": n, "n_tails": n, "width": WIDTH, "depth": DEPTH, "tail_width": TAIL})
    config = {"in_size": 64, "out_size": 256, "channels": 3, "extension": EXT, "bn_eps": 1e-5, "levels": levels}
    write_weights(os.path.join(OUT, "tiny_wavelet.safetensors"), nets, config)

    # A real photo's level-2 low band (CC0 skimage coffee, bundled with the host).
    from PIL import Image  # noqa: WPS433 (only needed here)
    img = np.asarray(Image.open(os.path.join(ROOT, "host", "assets", "skimage_coffee_256.png")).convert("RGB"))
    x = img.astype(np.float64).transpose(2, 0, 1) / 255.0
    low = np.stack([pywt.wavedec2(x[c], "bior2.2", mode=EXT, level=2)[0] for c in range(3)])
    # Round the input to f32 first so the reference sees exactly what the f32 decoder sees.
    low = low.astype(np.float32).astype(np.float64)
    ll1 = level(nets[0], low)
    image = level(nets[1], ll1)
    for name, arr in (("low", low), ("ll1", ll1), ("image", image)):
        arr.astype("<f4").tofile(os.path.join(OUT, f"{name}.f32"))
    print("wrote", OUT, "image range", image.min(), image.max())


if __name__ == "__main__":
    main()
