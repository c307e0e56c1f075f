# shellcheck shell=bash
# Shared helpers for the VM tier: messages, timings, paths.

VM_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_DIR="$(cd "$VM_DIR/../.." && pwd)"
CACHE_DIR="${KEYGATE_VM_CACHE:-/var/cache/keygate-vm}"
RESULTS_DIR="${KEYGATE_VM_RESULTS:-$REPO_DIR/target/vm-results}"
# host_debian_mirror: the Debian archive this host's apt already uses: the
# first URI serving the bookworm suite itself, from deb822 .sources files or
# one-line sources.list entries. Nothing is guessed: without one, the caller
# must set KEYGATE_VM_MIRROR.
host_debian_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -r $f ]] || continue
        # deb822: blank-line separated stanzas with URIs: and Suites: fields.
        awk 'BEGIN { IGNORECASE = 1 }
            function flush() { if (uri != "" && suite) { print uri; found = 1; exit } uri = ""; suite = 0 }
            /^[[:space:]]*$/ { flush(); next }
            /^URIs:/ { uri = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") suite = 1 }
            END { if (!found) flush() }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -r $f ]] || continue
        # deb [options] URI SUITE COMPONENTS...
        sed -E 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && $3 == "bookworm" { print $2 }'
    done
}
if [[ -z ${KEYGATE_VM_MIRROR:-} ]]; then
    KEYGATE_VM_MIRROR=$(host_debian_mirror | head -n 1 | sed 's|/*$||')
fi
DEBIAN_MIRROR=${KEYGATE_VM_MIRROR:-}

# require_mirror: stop with one line when no mirror is known.
require_mirror() {
    [[ -n $DEBIAN_MIRROR ]] ||
        die "no Debian bookworm mirror in this host's apt sources; set KEYGATE_VM_MIRROR=URL"
}
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
