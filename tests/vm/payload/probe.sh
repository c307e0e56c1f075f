#!/bin/bash
# keygate VM tier: run probe-commands.txt against real ZFS, one section each:
#   ### NN $ CMD / --- rc=N / --- stdout (N bytes): / --- stderr (N bytes):
set -euo pipefail
cmds=${1:-/kgvm/probe-commands.txt}
out=${2:-/root/probe-output.txt}
export KEYDIR=/root
cd /root
n=0
: >"$out"
block() { # NAME FILE
    local bytes
    bytes=$(stat -c %s "$2")
    printf -- '--- %s (%d bytes):\n' "$1" "$bytes" >>"$out"
    cat "$2" >>"$out"
    if [[ $bytes -gt 0 && $(tail -c1 "$2" | od -An -c | tr -d ' ') != '\n' ]]; then
        echo >>"$out"
    fi
}
while IFS= read -r cmd; do
    [[ -z $cmd || $cmd == \#* ]] && continue
    n=$((n + 1))
    rc=0
    bash -c "$cmd" </dev/null >/tmp/probe.out 2>/tmp/probe.err || rc=$?
    printf '### %02d $ %s\n--- rc=%d\n' "$n" "$cmd" "$rc" >>"$out"
    block stdout /tmp/probe.out
    block stderr /tmp/probe.err
    echo >>"$out"
done <"$cmds"
echo "probe: $n commands"
