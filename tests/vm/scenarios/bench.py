"""bench: keygate against real OpenZFS, side by side in one guest boot
(manual: `tests/vm/run bench`, or `benches/run --vm`; not a pass/fail check).

1. unlock: N = 1, 2, 4, 8 encryption roots sharing one passphrase at the
   default 350000 PBKDF2 iterations, clock from the passphrase written to a
   pty to the end of the command (every key loaded):
     a  `keygate unlock bench/nN` (no gate running) on a pty (`script`)
     b  `zfs load-key -r bench/nN`, one stdin line per root
     c  a shell loop of `zfs load-key ROOT` (N = 4 only)
     d  one `zfs load-key` (bench/n1/r1); the limit is ceil(N / 2) x its median
2. wrong: a waiting `keygate gate --mode prompt` on a pty with the 4 roots of
   bench/n4, clock from a wrong passphrase written to the next prompt shown;
   over one derivation = one `zfs load-key` of bench/n1/r1 given a wrong
   passphrase (zfs's own time to reject it).
3. check: `keygate check bench` (200 datasets, 2000 snapshots) against the
   bare `zfs get` it makes (same argv) and `zfs get -r` without `-t`.
4. boot: boots with keygate enabled and disabled in turn, every key in a file
   (raw keys: no derivation), pool `nest`; from systemd's monotonic
   timestamps: keygate.service start to READY=1, and multi-user.target.
   Disabled, `zfs mount -a -l` loads the file keys instead (see TOGGLE).

Every variant is measured in rotation (round k starts at variant k), so load
from elsewhere on the machine hits them alike; bench.tsv gets the medians.
The bench pool lives in a file vdev that is not imported at boot, so the
boots of part 4 see only `nest`.
"""

import json
import math
import os
import re
import statistics
import time

DESCRIPTION = "benchmark (manual): keygate vs OpenZFS on real ZFS; writes bench.tsv"
MANUAL = True
# The install boot creates 15 roots at 350000 iterations, 200 datasets and
# 2000 snapshots: more than the default install timeout under TCG.
INSTALL_TIMEOUT = 1200

ROUNDS = int(os.environ.get("KEYGATE_BENCH_ROUNDS", "5"))
CHECK_ROUNDS = int(os.environ.get("KEYGATE_BENCH_CHECK_ROUNDS", "11"))
BOOTS = int(os.environ.get("KEYGATE_BENCH_BOOTS", "5"))  # per variant
VCPUS = 2  # harness.py: -smp 2
# Root counts to unlock (each round takes about 2.5 x N derivations per N);
# the serial loop (c) is measured for N = 4 only, and can be left out.
NS = [int(n) for n in os.environ.get("KEYGATE_BENCH_NS", "4 1 2 8").split()]
SERIAL = os.environ.get("KEYGATE_BENCH_SERIAL", "1") == "1"
# An earlier keygate build to compare in the check and wrong-passphrase runs
# (copied into the staging tree as usr/sbin/keygate-base, if present).
BASE_WRONG = os.environ.get("KEYGATE_BENCH_BASE_WRONG", "1") == "1"

SETUP_TEMPLATE = r"""
scenario_setup() {
    # Part 4: file keys only in pool nest (zfs-load-key.service loads them).
    local r i n
    for r in f1 f2; do
        head -c 32 /dev/urandom >"/etc/zfs/kgbench-$r.key"
        zfs create -o encryption=on -o keyformat=raw \
            -o keylocation="file:///etc/zfs/kgbench-$r.key" "nest/$r"
        echo "canary of nest/$r" >"/nest/$r/canary"
    done
    # Parts 1-3: pool bench on a file, never imported at boot.
    truncate -s 1G /var/lib/kgbench.img
    zpool create -f -o cachefile=none -O mountpoint=none bench /var/lib/kgbench.img
    # (in parallel: every create of a passphrase root derives its key, and
    # creates that run together share transaction groups)
    local t0=$SECONDS
    for n in @NS@; do zfs create "bench/n$n"; done
    for n in @NS@; do
        for i in $(seq "$n"); do
            printf '%s\n' hunter2hunter2 | zfs create -o encryption=on \
                -o keyformat=passphrase -o keylocation=prompt "bench/n$n/r$i" &
        done
    done
    wait
    echo "kgbench: encryption roots in $((SECONDS - t0)) s"
    t0=$SECONDS
    zfs create bench/c
    for i in $(seq -w 1 199); do
        zfs create "bench/c/d$i" &
        [ $((10#$i % 20)) != 0 ] || wait
    done
    wait
    echo "kgbench: 200 datasets in $((SECONDS - t0)) s"
    t0=$SECONDS
    local s names
    for s in $(seq 1 10); do
        names=()
        for i in $(seq -w 1 199); do names+=("bench/c/d$i@s$s"); done
        names+=("bench/c@s$s")
        zfs snapshot "${names[@]}"
    done
    echo "kgbench: 2000 snapshots in $((SECONDS - t0)) s"
    n=$(zfs list -H -o name -t filesystem -r bench | wc -l)
    i=$(zfs list -H -o name -t snapshot -r bench | wc -l)
    echo "kgbench: pool bench: $n filesystems, $i snapshots"
    [ "$i" = 2000 ] || { echo "kgbench: setup incomplete"; return 1; }
    zfs unload-key -a || true
    zpool export bench
    write_bench_script >/kgvm/bench.sh
    chmod 0755 /kgvm/bench.sh
}

write_bench_script() {
cat <<'BENCH'
#!/bin/bash
# kgbench ROUND: one rotation of every variant; prints "sample NAME MICROSECONDS".
set -u
PASS=hunter2hunter2
WRONG=wrongwrong99
# The properties of keygate's one zfs get (src/zfs/get.rs PROPERTIES).
PROPS=encryption,encryptionroot,keyformat,keylocation,keystatus,mountpoint
# KGB_BASE: an earlier keygate build, measured too where given (check, wrong)
KGB_BASE=${KGB_BASE:-$(command -v keygate-base || true)}
D=${KGB_DIR:-/run/kgbench}
mkdir -p "$D"
now() { local t=${EPOCHREALTIME/./}; echo "$t"; }
sample() { echo "sample $1 $2"; }
unload() { zfs unload-key -r "$1" >/dev/null 2>&1; true; }
lines() { local i; for ((i = 0; i < $1; i++)); do printf '%s\n' "$PASS"; done; }
keys_ok() { # DATASET: every encrypted dataset under it has its key
    zfs get -H -r -o value keystatus "$1" | awk '$1 != "-" && $1 != "available" { bad = 1 } END { exit bad }'
}
fail() { echo "kgbench-error: $*"; exit 1; }

# waitfor FILE REGEX COUNT: until COUNT lines of FILE match REGEX (before a
# clock starts only: each try forks a grep).
waitfor() {
    local end=$((SECONDS + 600))
    until [ "$(grep -c -- "$2" "$1" 2>/dev/null)" -ge "$3" ]; do
        [ $SECONDS -lt $end ] || fail "no '$2' x$3 in $1: $(tr -cd '[:print:]\n' <"$1")"
        sleep 0.02
    done
}

# prompts FD COUNT: read the pty output on FD until COUNT more passphrase
# prompts have shown, copying it to $D/out. Unlike waitfor, it forks
# nothing and sleeps in read(): a clock stopped by a polling loop would
# take CPU from the derivations it times (a grep under TCG costs about as
# much as a process start, 40 ms, ten times a second).
prompts() {
    local fd=$1 want=$2 seen=0 c tail=
    while [ $seen -lt "$want" ]; do
        IFS= read -r -N 1 -t 600 -u "$fd" c ||
            fail "no 'Enter passphrase' x$want: $(tr -cd '[:print:]\n' <$D/out)"
        printf '%s' "$c" >>$D/out
        tail=$tail$c
        [ ${#tail} -le 16 ] || tail=${tail:1}
        [ "$tail" != "Enter passphrase" ] || seen=$((seen + 1))
    done
}

v_single() { # d: one zfs load-key
    unload bench/n1
    local a b
    a=$(now); printf '%s\n' "$PASS" | zfs load-key bench/n1/r1 || fail single; b=$(now)
    sample single $((b - a))
    unload bench/n1
}

v_derivation() { # one zfs load-key given a wrong passphrase
    unload bench/n1
    local a b
    a=$(now); printf '%s\n' "$WRONG" | zfs load-key bench/n1/r1 2>/dev/null && fail "wrong accepted"; b=$(now)
    sample derivation $((b - a))
}

v_load_key_r() { # b: N
    unload "bench/n$1"
    local a b
    lines "$1" >$D/lines
    a=$(now); zfs load-key -r "bench/n$1" <$D/lines >/dev/null || fail "load-key -r n$1"; b=$(now)
    sample "n$1_load_key_r" $((b - a))
    keys_ok "bench/n$1" || fail "load-key -r n$1 left keys"
    unload "bench/n$1"
}

v_serial() { # c: N
    unload "bench/n$1"
    local a b i
    a=$(now)
    for ((i = 1; i <= $1; i++)); do
        printf '%s\n' "$PASS" | zfs load-key "bench/n$1/r$i" || fail "serial n$1"
    done
    b=$(now)
    sample "n$1_serial" $((b - a))
    unload "bench/n$1"
}

v_keygate() { # a: N, keygate unlock on a pty, no gate running
    unload "bench/n$1"
    rm -f $D/in $D/out; mkfifo $D/in
    timeout 600 script -qfec "keygate unlock bench/n$1" /dev/null <$D/in >$D/out 2>&1 &
    local pid=$! a b rc=0
    exec 3>$D/in
    waitfor $D/out 'Enter passphrase' 1
    a=$(now); printf '%s\n' "$PASS" >&3; wait "$pid" || rc=$?; b=$(now)
    exec 3>&-
    [ $rc = 0 ] || fail "keygate unlock n$1 rc=$rc: $(tr -cd '[:print:]\n' <$D/out)"
    sample "n$1_keygate" $((b - a))
    keys_ok "bench/n$1" || fail "keygate unlock n$1 left keys"
    unload "bench/n$1"
}

v_wrong() { # a waiting gate on a pty, 4 roots: wrong passphrase to the next prompt
    local kg=${1:-keygate} tag=${2:-}
    unload bench/n4
    rm -f $D/in $D/pty $D/out $D/pid $D/sock; mkfifo $D/in $D/pty
    timeout 600 script -qfec "sh -c 'echo \$\$ >$D/pid; exec $kg --service-manager none gate --mode prompt --console \$(tty) --no-ask-password --socket $D/sock --poll-interval 1h bench/n4'" /dev/null <$D/in >$D/pty 2>&1 &
    local pid=$! a b
    exec 3>$D/in 4<$D/pty
    prompts 4 1
    a=$(now); printf '%s\n' "$WRONG" >&3; prompts 4 1; b=$(now)
    grep -q 'wrong passphrase' $D/out || fail "no wrong-passphrase message: $(tr -cd '[:print:]\n' <$D/out)"
    sample "n4_wrong_keygate$tag" $((b - a))
    kill -TERM "$(cat $D/pid)"; cat <&4 >>$D/out; wait "$pid"
    exec 3>&- 4<&-
}

v_check() { # keygate check vs its bare zfs get vs zfs get -r without -t
    local a b p=$PROPS
    local rc=0
    a=$(now); keygate check bench >/dev/null || rc=$?; b=$(now)
    [ $rc -le 1 ] || fail "keygate check rc=$rc"
    sample check_keygate $((b - a))
    a=$(now); zfs get -H -p -o name,property,value,source -r -t filesystem,volume $p bench >/dev/null || fail bare; b=$(now)
    sample check_bare $((b - a))
    a=$(now); zfs get -H -p -o name,property,value,source -r $p bench >/dev/null || fail naive; b=$(now)
    sample check_naive $((b - a))
    if [ -n "${KGB_BASE:-}" ]; then # an earlier build, to compare against
        rc=0
        a=$(now); "$KGB_BASE" check bench >/dev/null || rc=$?; b=$(now)
        [ $rc -le 1 ] || fail "$KGB_BASE check rc=$rc"
        sample check_keygate_base $((b - a))
    fi
}

# Part 4's span, taken apart by hand in a booted guest (pool bench not yet
# imported, so nest's two file keys are all there is, as at boot).
lock_files() {
    local r
    for r in nest/f1 nest/f2; do
        zfs unmount "$r" 2>/dev/null
        zfs unload-key "$r" || fail "unload-key $r"
    done
}
v_gate_files() { # the gate as keygate.service runs it, both file keys locked
    lock_files
    local a b rc=0
    a=$(now); keygate --service-manager none gate >/dev/null 2>&1 || rc=$?; b=$(now)
    [ $rc = 0 ] || fail "keygate gate rc=$rc"
    keys_ok nest || fail "keygate gate left nest/f1, nest/f2 locked"
    sample files_gate $((b - a))
    zfs mount -a
}
v_get_files() { # the one zfs get keygate makes at boot (same argv)
    local a b
    a=$(now); zfs get -H -p -o name,property,value,source -r -t filesystem,volume $PROPS >/dev/null || fail get; b=$(now)
    sample files_get $((b - a))
}
v_load_files() { # the two zfs load-key keygate then runs, at once
    lock_files
    local a b
    a=$(now); zfs load-key nest/f1 & zfs load-key nest/f2; wait; b=$(now)
    keys_ok nest || fail "zfs load-key left nest/f1, nest/f2 locked"
    sample files_load $((b - a))
    zfs mount -a
}
v_mount_files() { # without keygate: zfs mount -a -l, against zfs mount -a
    lock_files
    local a b
    a=$(now); zfs mount -a -l || fail "mount -a -l"; b=$(now)
    keys_ok nest || fail "zfs mount -a -l left nest/f1, nest/f2 locked"
    sample files_mount_l $((b - a))
    zfs unmount nest/f1 && zfs unmount nest/f2 || fail unmount
    a=$(now); zfs mount -a || fail "mount -a"; b=$(now)
    sample files_mount $((b - a))
}

# rotate K NAME...: run the commands starting at the K-th (mod count)
rotate() {
    local k=$1; shift
    local n=$# i
    local cmds=("$@")
    for ((i = 0; i < n; i++)); do eval "${cmds[$(((k + i) % n))]}"; done
}

case ${1:-} in
unlock) # N ROUND [single] [serial]
    set -- "$2" "$3" "${4:-}" "${5:-}"
    v=("v_keygate $1" "v_load_key_r $1")
    [ "$3" != single ] || v+=(v_single)
    [ "$4" != serial ] || v+=("v_serial $1")
    rotate "$2" "${v[@]}"
    ;;
wrong) # ROUND [base]
    if [ -n "$KGB_BASE" ] && [ "${3:-}" = base ]; then
        rotate "$2" 'v_wrong' 'v_derivation' 'v_wrong "$KGB_BASE" _base'
    else
        rotate "$2" 'v_wrong' 'v_derivation'
    fi
    ;;
check) rotate "$2" 'v_check' ;;
files) rotate "$2" 'v_gate_files' 'v_get_files' 'v_load_files' 'v_mount_files' ;;
import)
    zpool import -d /var/lib/kgbench.img -o cachefile=none bench || fail import
    zfs list -H -o name -t filesystem -r bench | wc -l
    zfs list -H -o name -t snapshot -r bench | wc -l
    ;;
*) fail "usage: kgbench unlock|wrong|check|files ROUND | import" ;;
esac
BENCH
}
"""


SETUP = SETUP_TEMPLATE.replace("@NS@", " ".join(str(n) for n in sorted(set(NS) | {1})))


def med(xs):
    return statistics.median(xs)


def spread(xs):
    return f"{min(xs) / 1000:.0f}..{max(xs) / 1000:.0f} ms"


def guest_ms(t, cmd):
    return int(t.out(cmd)) / 1000


# The guest has no zfs-load-key.service: without keygate, the file keys are
# loaded the way OpenZFS offers at mount time, `zfs mount -a -l` (a drop-in),
# so both kinds of boot end with every key loaded and every dataset mounted.
DROPIN = "/etc/systemd/system/zfs-mount.service.d/kgbench.conf"
TOGGLE = {
    "off": ("systemctl disable keygate.service 2>&1 && mkdir -p /etc/systemd/system/zfs-mount.service.d && "
            f"printf '[Service]\\nExecStart=\\nExecStart=/sbin/zfs mount -a -l\\n' >{DROPIN}"),
    "on": f"systemctl enable keygate.service 2>&1 && rm -f {DROPIN}",
}


def boot_figures(t, vm):
    """From systemd's monotonic timestamps (microseconds since the kernel
    started): keygate.service start to READY=1 (when enabled) and
    multi-user.target reached."""
    t.wait_multi_user(300)
    show = t.out("for u in keygate.service multi-user.target; do "
                 "systemctl show -p ExecMainStartTimestampMonotonic -p ActiveEnterTimestampMonotonic "
                 "-p UnitFileState -p Result $u | tr '\\n' ' '; echo; done")
    rows = [dict(kv.split("=", 1) for kv in line.split()) for line in show.splitlines() if "=" in line]
    kg, mu = rows[0], rows[1]
    enabled = kg.get("UnitFileState") == "enabled"
    fig = {"multi_user_us": int(mu["ActiveEnterTimestampMonotonic"]), "enabled": enabled}
    if enabled:
        start, ready = int(kg["ExecMainStartTimestampMonotonic"]), int(kg["ActiveEnterTimestampMonotonic"])
        t.check(start > 0 and ready >= start and kg.get("Result") == "success",
                f"keygate.service started and sent READY=1 ({kg})")
        fig["keygate_us"] = ready - start
    keys = t.out("zfs get -H -o value keystatus nest/f1 nest/f2 | sort -u | tr '\\n' ' '")
    t.check(keys.strip() == "available", f"file keys loaded ({keys.strip()})")
    t.note(f"boot {vm.label}: {fig}")
    return fig


def collect(out, samples):
    if "kgbench-error" in out:
        raise RuntimeError(out.strip()[-600:])
    for m in re.finditer(r"^sample (\S+) (\d+)$", out, re.M):
        samples.setdefault(m.group(1), []).append(int(m.group(2)))


def run(t):
    started = time.monotonic()
    samples: dict[str, list[int]] = {}
    boots = {"on": [], "off": []}

    def save():
        (t.rundir / "samples.txt").write_text(
            "".join(f"{n}\t{' '.join(str(v) for v in vs)}\n" for n, vs in sorted(samples.items())))
        (t.rundir / "boots.json").write_text(json.dumps(boots, indent=1) + "\n")
        write_results(t, samples, boots, time.monotonic() - started)

    # Part 4 first: boots with keygate on and off in turn (the install left
    # it enabled); parts 1-3 follow in the last boot.
    vm = t.boot("boot1")
    boots["on"].append(boot_figures(t, vm))
    want = "off"
    while len(boots["on"]) < BOOTS or len(boots["off"]) < BOOTS:
        t.sh(TOGGLE[want], check=True)
        vm.poweroff()
        vm = t.boot(f"boot{t.boots + 1}")
        fig = boot_figures(t, vm)
        t.check(fig["enabled"] == (want == "on"), f"keygate {want} in {vm.label}")
        boots[want].append(fig)
        want = "on" if want == "off" else "off"
    t.note(f"boots done at {time.monotonic() - started:.0f}s")
    save()

    for k in range(ROUNDS):
        rc, out = t.sh(f"bash /kgvm/bench.sh files {k}", timeout=600)
        collect(out, samples)
    t.note(f"boot span taken apart at {time.monotonic() - started:.0f}s")
    rc, out = t.sh("bash /kgvm/bench.sh import", timeout=600)
    t.check(rc == 0, f"bench pool imported (filesystems, snapshots: {' '.join(out.split())})")
    for k in range(CHECK_ROUNDS):
        rc, out = t.sh(f"bash /kgvm/bench.sh check {k}", timeout=600)
        collect(out, samples)
    t.note(f"check done at {time.monotonic() - started:.0f}s")
    save()
    for k in range(ROUNDS):
        for i, n in enumerate(NS):
            extra = ("single" if i == 0 else "-") + (" serial" if n == 4 and SERIAL else "")
            rc, out = t.sh(f"bash /kgvm/bench.sh unlock {n} {k} {extra}", timeout=1800)
            collect(out, samples)
        rc, out = t.sh(f"bash /kgvm/bench.sh wrong {k}{' base' if BASE_WRONG else ''}", timeout=900)
        collect(out, samples)
        t.note(f"round {k} done at {time.monotonic() - started:.0f}s")
        save()
    vm.poweroff()
    t.vm = None
    save()


def write_results(t, samples, boots, took):
    m = {n: med(v) for n, v in samples.items()}
    tsv: list[tuple[str, str]] = []
    notes: list[str] = []

    def put(name, value, how=""):
        tsv.append((name, value))
        notes.append(f"{name}\t{value}\t{how}")

    have = lambda *names: all(n in samples for n in names)  # noqa: E731
    single = m.get("single", 0)
    if single:
        put("load_key_one_ms", f"{single / 1000:.0f}", f"median of {len(samples['single'])}, {spread(samples['single'])}")
    for n in sorted(NS):
        if not (single and have(f"n{n}_keygate", f"n{n}_load_key_r")):
            continue
        kg, r = samples[f"n{n}_keygate"], samples[f"n{n}_load_key_r"]
        limit = math.ceil(n / VCPUS) * single
        put(f"unlock_n{n}_keygate_ms", f"{med(kg) / 1000:.0f}", f"median of {len(kg)}, {spread(kg)}")
        put(f"unlock_n{n}_load_key_r_ms", f"{med(r) / 1000:.0f}", f"median of {len(r)}, {spread(r)}")
        put(f"unlock_n{n}_limit_ms", f"{limit / 1000:.0f}", f"ceil({n}/{VCPUS}) x load_key_one_ms")
        put(f"unlock_n{n}_keygate_over_limit", f"{med(kg) / limit:.2f}", "goal <= 1.10" if n == 4 else "")
        put(f"unlock_n{n}_keygate_over_load_key_r", f"{med(kg) / med(r):.2f}", "goal <= 0.56" if n == 4 else "")
    if have("n4_serial", "n4_keygate"):
        s4 = samples["n4_serial"]
        put("unlock_n4_serial_ms", f"{med(s4) / 1000:.0f}", f"median of {len(s4)}, {spread(s4)}")
        put("unlock_n4_keygate_over_serial", f"{m['n4_keygate'] / med(s4):.2f}")
    if have("n4_wrong_keygate", "derivation"):
        write_wrong(samples, put)
    if have("check_keygate", "check_bare", "check_naive"):
        write_check(samples, put)
    if boots["on"] and boots["off"]:
        write_boots(boots, put)
    if have(*(f"files_{n}" for n, _ in FILES_PARTS)):
        write_files(samples, put)
    put("bench_run_s", f"{took:.0f}", "boots and measurements, after the install boot")
    put("accel", t.cfg.accel)
    (t.cfg.results / "bench.tsv").write_text("".join(f"{n}\t{v}\n" for n, v in tsv))
    (t.rundir / "bench-notes.tsv").write_text("\n".join(notes) + "\n")


def write_wrong(samples, put):
    w, d = samples["n4_wrong_keygate"], samples["derivation"]
    put("wrong_n4_keygate_ms", f"{med(w) / 1000:.0f}", f"median of {len(w)}, {spread(w)}")
    put("wrong_one_derivation_ms", f"{med(d) / 1000:.0f}", f"median of {len(d)}, {spread(d)}")
    put("wrong_n4_keygate_over_one_derivation", f"{med(w) / med(d):.2f}", "goal <= 1.3")
    if "n4_wrong_keygate_base" in samples:
        wb = samples["n4_wrong_keygate_base"]
        put("wrong_n4_base_ms", f"{med(wb) / 1000:.0f}", f"median of {len(wb)}, {spread(wb)}")
        put("wrong_n4_base_over_one_derivation", f"{med(wb) / med(d):.2f}", "the earlier build")


def write_check(samples, put):
    ck, bare, naive = samples["check_keygate"], samples["check_bare"], samples["check_naive"]
    put("check_keygate_ms", f"{med(ck) / 1000:.0f}", f"median of {len(ck)}, {spread(ck)}")
    put("check_bare_ms", f"{med(bare) / 1000:.0f}", f"median of {len(bare)}, {spread(bare)}")
    put("check_naive_ms", f"{med(naive) / 1000:.0f}", f"median of {len(naive)}, {spread(naive)}")
    put("check_keygate_over_bare", f"{med(ck) / med(bare):.2f}", "goal <= 1.05")
    put("check_naive_over_keygate", f"{med(naive) / med(ck):.2f}", "report only")
    if "check_keygate_base" in samples:  # an earlier build (keygate-base in the guest)
        base = samples["check_keygate_base"]
        put("check_base_ms", f"{med(base) / 1000:.0f}", f"median of {len(base)}, {spread(base)}")
        put("check_base_over_bare", f"{med(base) / med(bare):.2f}", "the earlier build")


def write_boots(boots, put):
    on = [b["multi_user_us"] for b in boots["on"]]
    off = [b["multi_user_us"] for b in boots["off"]]
    ready = [b["keygate_us"] for b in boots["on"]]
    put("boot_keygate_start_to_ready_ms", f"{med(ready) / 1000:.0f}", f"median of {len(ready)}, {spread(ready)}")
    put("boot_multi_user_enabled_ms", f"{med(on) / 1000:.0f}", f"median of {len(on)}, {spread(on)}")
    put("boot_multi_user_disabled_ms", f"{med(off) / 1000:.0f}", f"median of {len(off)}, {spread(off)}")
    # What keygate adds: multi-user.target with it against without it. Its
    # own span (start to READY=1) holds the loading of the file keys, which a
    # boot without keygate does too (in zfs-mount.service).
    put("boot_added_ms", f"{(med(on) - med(off)) / 1000:.0f}",
        "median multi-user enabled - median disabled; goal <= 100")


# The parts of keygate's boot span taken by hand (bench.sh files).
FILES_PARTS = (("gate", "keygate gate, both file keys locked"),
               ("get", "its one zfs get, same argv"),
               ("load", "its two zfs load-key, at once"),
               ("mount_l", "zfs mount -a -l, both keys locked"),
               ("mount", "zfs mount -a, keys loaded"))


def write_files(samples, put):
    """keygate's boot span taken apart in the last boot: the gate by hand,
    the zfs calls it makes, and what loading the keys costs `zfs mount -a -l`
    (the boot without keygate)."""
    m = {n: med(samples[f"files_{n}"]) / 1000 for n, _ in FILES_PARTS}
    for n, how in FILES_PARTS:
        xs = samples[f"files_{n}"]
        put(f"boot_{n}_by_hand_ms", f"{m[n]:.0f}", f"median of {len(xs)}, {spread(xs)}; {how}")
    put("boot_keygate_own_ms", f"{m['gate'] - m['get'] - m['load']:.0f}",
        "gate - get - load: keygate's own part of its span")
    keys = m["mount_l"] - m["mount"]
    put("boot_keys_in_mount_ms", f"{keys:.0f}", "mount -a -l - mount -a: the keys loaded without keygate")
    put("boot_added_floor_ms", f"{m['get'] + m['load'] - keys:.0f}",
        "get + load - keys_in_mount: what the zfs calls alone add on this accelerator")


def rewrite(results):
    """Recompute bench.tsv from a run's saved samples.txt and boots.json:
    python3 tests/vm/scenarios/bench.py target/vm-results"""
    from pathlib import Path
    from types import SimpleNamespace

    results = Path(results)
    rundir = results / "bench"
    samples = {}
    for line in (rundir / "samples.txt").read_text().splitlines():
        name, values = line.split("\t")
        samples[name] = [int(v) for v in values.split()]
    boots = json.loads((rundir / "boots.json").read_text())
    accel = dict(l.split("\t", 1) for l in (results / "bench.tsv").read_text().splitlines()).get("accel", "?")
    took = dict(l.split("\t", 1) for l in (results / "bench.tsv").read_text().splitlines()).get("bench_run_s", "0")
    t = SimpleNamespace(rundir=rundir, cfg=SimpleNamespace(results=results, accel=accel))
    write_results(t, samples, boots, float(took))
    print((results / "bench.tsv").read_text(), end="")


if __name__ == "__main__":
    import sys

    rewrite(sys.argv[1] if len(sys.argv) > 1 else "target/vm-results")
