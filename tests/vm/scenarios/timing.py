"""timing: `zfs load-key` under real ZFS at the default PBKDF2 iterations
(350000): one root, and two roots sharing a passphrase loaded sequentially
and in parallel (what keygate does with one passphrase and several roots)."""

DESCRIPTION = "zfs load-key time: 1 root, 2 roots sequential vs parallel (default pbkdf2iters)"

SETUP = r"""
scenario_setup() {
    systemctl disable keygate.service          # measuring zfs only
    mk_root nest/t1 hunter2hunter2
    mk_root nest/t2 hunter2hunter2
}
"""

MEASURE = r"""
ms() { date +%s%3N; }
load() { printf 'hunter2hunter2\n' | zfs load-key -L prompt "$1"; }
zfs unload-key nest/t1 2>/dev/null; zfs unload-key nest/t2 2>/dev/null
a=$(ms); load nest/t1; b=$(ms); echo "one_root_ms=$((b - a))"
zfs unload-key nest/t1
a=$(ms); load nest/t1; load nest/t2; b=$(ms); echo "two_roots_sequential_ms=$((b - a))"
zfs unload-key nest/t1; zfs unload-key nest/t2
a=$(ms); load nest/t1 & load nest/t2 & wait; b=$(ms); echo "two_roots_parallel_ms=$((b - a))"
zfs get -H -o name,value keystatus nest/t1 nest/t2
"""


def run(t):
    t.boot()
    t.wait_multi_user()  # keygate is disabled here: the pool is imported by then
    t.sh("zpool list nest", check=True)
    t.check(t.out("zfs get -H -p -o value pbkdf2iters nest/t1") == "350000", "roots use the default 350000 iterations")
    rc, out = t.sh(MEASURE, timeout=300)
    t.check(rc == 0, "load-key timing commands ran")
    vals = dict(line.split("=", 1) for line in out.splitlines() if "_ms=" in line)
    for k, v in vals.items():
        t.timing("zfs_load_key_" + k.removesuffix("_ms"), int(v) / 1000)
    t.check("available" in out and "unavailable" not in out, "both keys loaded")
