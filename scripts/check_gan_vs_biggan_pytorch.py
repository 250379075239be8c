#!/usr/bin/env python3
"""Checks nsbg's tch GAN networks against the authors' BigGAN-PyTorch code (used as an oracle only,
nothing of it is copied into nsbg).

1. Write fixtures from Rust:
     NSBG_ORACLE_DIR=/tmp/oracle cargo test -p nsbg-host --bin nsbg-host \
         write_pytorch_oracle_fixtures -- --ignored
2. Run this with a checkout of https://github.com/ajbrock/BigGAN-PyTorch (commit 98459431a5d6,
   the files BigGAN.py, BigGANdeep.py, layers.py, sync_batchnorm/) and PyTorch:
     python scripts/check_gan_vs_biggan_pytorch.py --biggan-pytorch PATH --fixtures /tmp/oracle

For each fixture (BigGAN and BigGAN-deep at 32/64/128) it builds the upstream G and D with the same
configuration, loads nsbg's initial variables with `load_state_dict(strict=True)` (so every tensor name
and shape must agree), replays the same training-mode step (G(z), D(G(z)), backward of the mean, D on a
real batch) and eval-mode forwards, and compares outputs, every gradient and every buffer after the step
(BN running statistics, SN u0/sv0). Exit status 1 on any mismatch.
"""
import argparse
import json
import struct
import sys
from pathlib import Path

import numpy as np
import torch

DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def read_safetensors(path):
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


def build(mods, cfg):
    common = dict(n_classes=cfg["n_classes"], resolution=cfg["resolution"], skip_init=True, no_optim=True)
    attn = lambda a: str(a) if a is not None else "0"
    if cfg["arch"] == "biggan":
        g = mods.BigGAN.Generator(
            G_ch=cfg["g_ch"], dim_z=cfg["dim_z"], G_attn=attn(cfg["g_attn"]), G_shared=True,
            shared_dim=cfg["shared_dim"], hier=True, BN_eps=cfg["bn_eps"], SN_eps=cfg["sn_eps"], **common)
        d = mods.BigGAN.Discriminator(
            D_ch=cfg["d_ch"], D_wide=True, D_attn=attn(cfg["d_attn"]), SN_eps=cfg["sn_eps"], **common)
    else:
        g = mods.BigGANdeep.Generator(
            G_ch=cfg["g_ch"], G_depth=cfg["g_depth"], dim_z=cfg["dim_z"], G_attn=attn(cfg["g_attn"]),
            G_shared=True, shared_dim=cfg["shared_dim"], hier=True, BN_eps=cfg["bn_eps"],
            SN_eps=cfg["sn_eps"], **common)
        d = mods.BigGANdeep.Discriminator(
            D_ch=cfg["d_ch"], D_wide=True, D_depth=cfg["d_depth"], D_attn=attn(cfg["d_attn"]),
            SN_eps=cfg["sn_eps"], **common)
    return g, d


def compare(label, ours, theirs, tol, failures):
    ours = ours.double()
    theirs = theirs.detach().double().reshape(ours.shape)
    scale = max(theirs.abs().max().item(), 1e-3)
    err = (ours - theirs).abs().max().item() / scale
    if not err <= tol:
        failures.append(f"{label}: max relative difference {err:.3g} (tolerance {tol})")
    return err


def check(mods, fixture):
    cfg = json.loads((fixture / "config.json").read_text())
    torch.manual_seed(0)
    g, d = build(mods, cfg)
    g.load_state_dict(read_safetensors(fixture / "g_init.safetensors"), strict=True)
    d.load_state_dict(read_safetensors(fixture / "d_init.safetensors"), strict=True)
    io = read_safetensors(fixture / "io.safetensors")
    z, y, x_real = io["z"], io["y"].long(), io["x_real"]
    failures, worst = [], 0.0
    g.train(), d.train()
    xg = g(z, g.shared(y))
    s = d(xg, y).view(-1)
    s.mean().backward()
    with torch.no_grad():
        s_real = d(x_real, y).view(-1)
    for name, ours, theirs in [("G train", io["g_train"], xg), ("D train fake", io["d_train_fake"], s),
                               ("D train real", io["d_train_real"], s_real)]:
        worst = max(worst, compare(name, ours, theirs, 1e-4, failures))
    for net, tag in [(g, "g"), (d, "d")]:
        grads = read_safetensors(fixture / f"{tag}_grad.safetensors")
        params = dict(net.named_parameters())
        if set(grads) != set(params):
            failures.append(f"{tag}: trainable sets differ: {sorted(set(grads) ^ set(params))[:5]}")
        for name, gr in grads.items():
            if name in params:
                worst = max(worst, compare(f"{tag} grad {name}", gr, params[name].grad, 2e-3, failures))
        after = read_safetensors(fixture / f"{tag}_after.safetensors")
        state = net.state_dict()
        for name, t in after.items():
            worst = max(worst, compare(f"{tag} after {name}", t, state[name], 1e-4, failures))
    g.eval(), d.eval()
    with torch.no_grad():
        worst = max(worst, compare("G eval", io["g_eval"], g(z, g.shared(y)), 1e-4, failures))
        worst = max(worst, compare("D eval", io["d_eval_real"], d(x_real, y).view(-1), 1e-4, failures))
    return failures, worst


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--biggan-pytorch", required=True, help="checkout of ajbrock/BigGAN-PyTorch")
    ap.add_argument("--fixtures", required=True, help="NSBG_ORACLE_DIR of the Rust fixture writer")
    a = ap.parse_args()
    sys.path.insert(0, a.biggan_pytorch)
    import types
    mods = types.SimpleNamespace(BigGAN=__import__("BigGAN"), BigGANdeep=__import__("BigGANdeep"))
    torch.set_num_threads(1)
    fixtures = sorted(p for p in Path(a.fixtures).iterdir() if (p / "config.json").is_file())
    if not fixtures:
        sys.exit(f"no fixtures in {a.fixtures}")
    bad = 0
    for f in fixtures:
        failures, worst = check(mods, f)
        print(f"{f.name}: {'OK' if not failures else 'MISMATCH'} (worst relative difference {worst:.2e})")
        for line in failures[:10]:
            print("   ", line)
        bad += bool(failures)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
