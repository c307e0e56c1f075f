# shellcheck shell=bash
# Shared helpers for the VM tier: messages, timings, paths.

VM_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_DIR="$(cd "$VM_DIR/../.." && pwd)"
CACHE_DIR="${KEYGATE_VM_CACHE:-/var/cache/keygate-vm}"
RESULTS_DIR="${KEYGATE_VM_RESULTS:-$REPO_DIR/target/vm-results}"
DEBIAN_MIRROR="${KEYGATE_VM_MIRROR:-http://deb.debian.org/debian}"
export VM_DIR REPO_DIR CACHE_DIR RESULTS_DIR DEBIAN_MIRROR

log() { printf '[vm %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# now_ms: milliseconds since the epoch.
now_ms() { date +%s%3N; }

# record_timing NAME SECONDS: print and append to the results' timings file.
record_timing() {
    local name=$1 secs=$2
    log "timing: $name = ${secs}s"
    mkdir -p "$RESULTS_DIR"
    printf '%s\t%s\n' "$name" "$secs" >>"$RESULTS_DIR/timings.tsv"
}

# elapsed_s START_MS: seconds (one decimal) since START_MS.
elapsed_s() {
    local start=$1 end
    end=$(now_ms)
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", (b - a) / 1000 }'
}
