#!/usr/bin/env python3
"""PyWavelets reference timings for `scripts/bench-dwt.sh`, and the merged nsbg-vs-pywt table.

Times `pywt.wavedec2` / `pywt.waverec2` (wavelet bior2.2, mode periodization) on random square planes
in float32 and float64, one thread, median of --repeat calls, with the same conventions as
`nsbg-host bench-dwt` (one untimed warm-up pair, then forward and inverse calls alternated).

    bench_pywt.py [--sizes 1024,4096] [--levels 3] [--repeat 7] [--json FILE] [--nsbg-json FILE]

With --nsbg-json (the output of `nsbg-host bench-dwt --json`), prints the merged table:
size, dtype, direction, nsbg ms, pywt ms, speed-up (pywt / nsbg), nsbg GB/s, memcpy GB/s, % of memcpy.
"""
import os

# One thread for every numeric library, before numpy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pywt  # noqa: E402

WAVELET = "bior2.2"
MODE = "periodization"


def bench(size: int, dtype, levels: int, repeat: int) -> dict:
    rng = np.random.default_rng(size)
    x = rng.random((size, size)).astype(dtype)
    # Warm-up, and a correctness check: dtype kept, exact reconstruction.
    coeffs = pywt.wavedec2(x, WAVELET, mode=MODE, level=levels)
    y = pywt.waverec2(coeffs, WAVELET, mode=MODE)
    assert coeffs[0].dtype == dtype and y.dtype == dtype, (coeffs[0].dtype, y.dtype)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    assert float(np.max(np.abs(y - x))) < tol
    fwd, inv = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        coeffs = pywt.wavedec2(x, WAVELET, mode=MODE, level=levels)
        fwd.append(time.perf_counter() - t)
        t = time.perf_counter()
        y = pywt.waverec2(coeffs, WAVELET, mode=MODE)
        inv.append(time.perf_counter() - t)
        del y
    name = np.dtype(dtype).name.replace("float", "f")
    return [
        {"size": size, "dtype": name, "direction": d, "median_ms": 1e3 * statistics.median(v), "min_ms": 1e3 * min(v)}
        for d, v in (("forward", fwd), ("inverse", inv))
    ]


def merged_table(nsbg: dict, pywt_rows: list) -> tuple[str, list]:
    mem = nsbg["memcpy"]["gbps"]
    ref = {(r["size"], r["dtype"], r["direction"]): r for r in pywt_rows}
    head = (f"{'size':>6} {'dtype':<5} {'dir':<8} {'nsbg ms':>9} {'pywt ms':>9} {'speed-up':>9} "
            f"{'nsbg GB/s':>10} {'memcpy GB/s':>12} {'% memcpy':>9}")
    lines, merged = [head], []
    for r in nsbg["results"]:
        p = ref.get((r["size"], r["dtype"], r["direction"]))
        p_ms = p["median_ms"] if p else float("nan")
        speedup = p_ms / r["median_ms"]
        lines.append(f"{r['size']:>6} {r['dtype']:<5} {r['direction']:<8} {r['median_ms']:>9.3f} {p_ms:>9.3f} "
                     f"{speedup:>8.2f}x {r['gbps']:>10.2f} {mem:>12.2f} {r['pct_memcpy']:>8.1f}%")
        merged.append({**r, "pywt_median_ms": p_ms, "speedup": speedup, "memcpy_gbps": mem})
    return "\n".join(lines), merged


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1024,4096")
    ap.add_argument("--levels", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--json", help="write the pywt timings here")
    ap.add_argument("--nsbg-json", help="nsbg-host bench-dwt --json output to merge with")
    ap.add_argument("--summary-json", help="write the merged rows here (needs --nsbg-json)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]

    rows = []
    for size in sizes:
        for dtype in (np.float32, np.float64):
            rows.extend(bench(size, dtype, args.levels, args.repeat))
    info = {"pywt": pywt.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "wavelet": WAVELET, "mode": MODE, "levels": args.levels, "repeat": args.repeat, "results": rows}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(info, f, indent=2)
    print(f"PyWavelets {pywt.__version__} / numpy {np.__version__}, wavedec2/waverec2 {WAVELET} {MODE}, "
          f"level {args.levels}, median of {args.repeat} calls, 1 thread")
    if not args.nsbg_json:
        for r in rows:
            print(f"{r['size']:>6} {r['dtype']:<5} {r['direction']:<8} {r['median_ms']:>9.3f} ms")
        return 0
    with open(args.nsbg_json) as f:
        nsbg = json.load(f)
    if nsbg.get("levels") != args.levels:
        print(f"warning: nsbg ran {nsbg.get('levels')} levels, pywt {args.levels}", file=sys.stderr)
    table, merged = merged_table(nsbg, rows)
    print(f"nsbg: {nsbg['transform']} {nsbg['mode']}, {nsbg['levels']} levels, {nsbg['threads']} thread, "
          f"median of {nsbg['repeat']} calls; memcpy {nsbg['memcpy']['mib']} MiB")
    print("GB/s = 2*sizeof(T)*sum_l(w_l*h_l) / time (read+write of every level block); "
          "memcpy GB/s counts read+write the same way")
    print(table)
    if args.summary_json:
        with open(args.summary_json, "w") as f:
            json.dump({"nsbg": nsbg, "pywt": info, "merged": merged}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
