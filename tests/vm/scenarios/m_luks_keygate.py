"""m. Without crypttab: keygate opens both LUKS devices itself from
[[luks]] entries, imports the pool and loads the ZFS key, all from one
prompt on ttyS1 (the LOM line)."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import _luks  # noqa: E402

DESCRIPTION = "[[luks]]: keygate opens two LUKS devices, imports the pool, loads the key: one prompt on ttyS1"
NEEDS = [["gate", "--share-passphrase", "never", "--help"]]

SETUP = _luks.SETUP_LIB + r"""
scenario_setup() {
    luks_pool
    mk_root nest/a hunter2hunter2 100000
    mk_dependent_unit kgvm-needs-data nest/a
    no_pool_cache
    keygate_config '""" + _luks.SHARED_CONFIG + r"""'
    gate_dropin --mode prompt --console /dev/ttyS1 --no-ask-password
}
"""


def run(t):
    _, line = t.boot_to_prompt("ttyS1")
    q = t.questions(line)
    t.check(q and "luks:crypt0, luks:crypt1" in q[0], f"the prompt names both LUKS devices ({q[:1]})")
    _luks.assert_closed(t, ["crypt0", "crypt1"])
    t.check(t.sh("zpool list nest")[0] != 0, "pool nest is not imported while held")
    line.type(t.PASS + "\r")
    t.wait_multi_user()
    _luks.assert_open(t, ["crypt0", "crypt1"])
    _luks.assert_pool_online(t)
    t.assert_unlocked_and_running(["nest/a"])
    assert_check_shows(t, {"crypt0": "open", "crypt1": "open"})
    counts = _luks.all_questions(t)
    t.check(counts.get("ttyS1") == 1 and sum(counts.values()) == 1,
            f"exactly one passphrase prompt, on ttyS1 ({counts})")


def assert_check_shows(t, states: dict[str, str]) -> None:
    """`keygate check` after boot: each device's state, and exit 0."""
    rc, out = t.sh("keygate check")
    rows = {line.split()[0]: line.split()[-1] for line in out.splitlines()[1:] if line.strip()}
    for name, state in states.items():
        t.check(rows.get(name) == state, f"keygate check shows {name} {state} ({out.strip()!r})")
    t.check(rc == 0, f"keygate check exits 0 after boot (rc {rc})")
