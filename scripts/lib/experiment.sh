# Shared preamble of the experiment scripts (train-small.sh, train-sampler-small.sh,
# compare-samplers.sh), sourced after they set `runs` (their output folder):
# set-up if needed (scripts/setup.sh), the cached environment, a release build of nsbg-host as
# "$bin", the shared photos as "$photos", and `run CMD...`, which logs CMD to "$runs/commands.log"
# before running it. NSBG_RESUME=1 makes "${again[@]}" --resume (continue the runs), else --force.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
NSBG_CACHE=${NSBG_CACHE:-$HOME/.cache/nsbg}
if [ ! -f "$NSBG_CACHE/env.sh" ]; then
  "$root/scripts/setup.sh"
fi
# shellcheck disable=SC1091
source "$NSBG_CACHE/env.sh"
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
export NSBG_SHARED=${NSBG_SHARED:-$(cd "$root/../shared" && pwd)}
photos="$NSBG_SHARED/data/photos"

cargo build --quiet --release -p nsbg-host
bin="$target/release/nsbg-host"
mkdir -p "$runs"
log="$runs/commands.log"
run() {
  echo "+ $*" | tee -a "$log"
  "$@"
}
if [ "${NSBG_RESUME:-0}" = 1 ]; then again=(--resume); else again=(--force); fi
