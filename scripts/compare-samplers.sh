#!/usr/bin/env bash
# Reproduces the paper's claim at CPU scale: with the same compute budget, the NSBG sampler (BigGAN on
# 64×64 wavelet low bands, decoded by the NSBG decoder) against NSBG-PIXEL (the same BigGAN on 64×64
# pixels, decoded by the pixel decoder), both trained on shared/data/photos/train and compared by SWD and
# KID (and, with NSBG_INCEPTION=FILE, FID/IS/FID*) against shared/data/photos/val.
#
# Writes $NSBG_RUNS/{wavelet,pixel}/ (runs, compute.json), $NSBG_RUNS/eval-*.{json,md},
# $NSBG_RUNS/compute/ (nsbg-host report) and the table $NSBG_RUNS/compare.md.
#
# Equal budget: by default both samplers run the same number of G steps (NSBG_STEPS, default 600) —
# the two GANs are the same network on 64×64 inputs, so equal steps at equal batch are equal compute
# whatever else the machine is doing; NSBG_BUDGET_MIN instead gives each the same wall-clock minutes.
# Knobs (environment): NSBG_STEPS, NSBG_BUDGET_MIN (wall-clock minutes per sampler), NSBG_RUNS
# (default out/compare-samplers), NSBG_PRESET (sampler preset, default small), NSBG_ARCH
# (biggan-deep), NSBG_THREADS (libtorch threads, default 1), NSBG_DEVICE (cpu), NSBG_SEED (0),
# NSBG_SAMPLES (images generated per sampler for the metrics, default 500), NSBG_INCEPTION (optional
# TorchScript Inception, see scripts/export_fid_inception.py), NSBG_RESUME=1 (continue the runs).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

if [ -n "${NSBG_BUDGET_MIN:-}" ]; then
  budget=(--time-budget "$NSBG_BUDGET_MIN")
else
  budget=(--steps "${NSBG_STEPS:-600}")
fi
runs=${NSBG_RUNS:-$root/out/compare-samplers}
preset=${NSBG_PRESET:-small}
arch=${NSBG_ARCH:-biggan-deep}
threads=${NSBG_THREADS:-1}
dev=${NSBG_DEVICE:-cpu}
seed=${NSBG_SEED:-0}
n=${NSBG_SAMPLES:-500}
# shellcheck source=lib/experiment.sh
source "$root/scripts/lib/experiment.sh"
inception=()
if [ -n "${NSBG_INCEPTION:-}" ]; then inception=(--inception "$NSBG_INCEPTION"); fi
echo "# $(date -u +%FT%TZ) $(uname -srm), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$log"

for domain in wavelet pixel; do
  if [ "$domain" = wavelet ]; then dec=weights/nsbg-small.safetensors; else dec=weights/nsbg-pixel-small.safetensors; fi
  run "$bin" train-sampler --arch "$arch" --preset "$preset" --domain "$domain" \
    --data "$photos/train" --out "$runs/$domain" --cache "$runs/cache-$domain" --seed "$seed" \
    "${budget[@]}" --threads "$threads" --device "$dev" --decoder "$dec" "${again[@]}"
  # Metrics of N samples against the validation photos; FID*/SWD* against the val photos decoded by
  # the same decoder.
  run "$bin" eval-samples --generator "$runs/$domain" --decoder "$dec" -n "$n" --seed "$seed" \
    --reference "$photos/val" --star --device "$dev" --threads "$threads" "${inception[@]}" \
    --json "$runs/eval-$domain.json" --markdown "$runs/eval-$domain.md"
done
run "$bin" report "$runs/wavelet" "$runs/pixel" --out "$runs/compute"

python - "$runs" <<'PY'
import json, sys
runs = sys.argv[1]
rows = []
compute = {r["run"]: r for r in json.load(open(f"{runs}/compute/report.json"))}
for domain, name in (("wavelet", "NSBG (wavelet sampler)"), ("pixel", "NSBG-PIXEL")):
    e = json.load(open(f"{runs}/eval-{domain}.json"))
    c = compute[domain]
    real, star = e["real"], e["reconstructions"]
    fmt = lambda v, d=2: "—" if v is None else f"{v:.{d}f}"
    kid = lambda k: f"{k['mean']*1e3:.2f} ± {k['std']*1e3:.2f}"
    rows.append(f"| {name} | {c['hours']:.2f} | {c['kwh']:.4f} | {c['images']} | {e['sample_images']} | "
                f"{real['swd']:.2f} | {kid(real['kid_patches'])} | {star['swd']:.2f} | {kid(star['kid_patches'])} | "
                f"{fmt(real['fid'])} | {fmt(star['fid'])} |")
table = ["| sampler | hours | kWh | real images seen | samples | SWD ×10³ | KID patches ×10³ | SWD* ×10³ | KID* patches ×10³ | FID | FID* |",
         "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"] + rows
open(f"{runs}/compare.md", "w").write("\n".join(table) + "\n")
print("\n".join(table))
PY
echo "wrote $runs/compare.md"
