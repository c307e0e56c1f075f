"""n. The keyfile-device layout: a small LUKS device (its own disk) holds
random bytes that are the key of the two pool devices; the passphrase opens
it. keygate opens it, opens the pool devices with it, closes it again,
imports the pool and loads the ZFS key under the same passphrase."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import _luks  # noqa: E402

DESCRIPTION = "[[luks]] with a key device: opened with the passphrase, used, closed after boot"
NEEDS = [["gate", "--share-passphrase", "never", "--help"]]
# The key device is LUKS1 on a disk of its 2 MiB header plus 4 KiB: the
# opened device is 4 KiB of random bytes, the whole key. (A key file is
# read whole and is the PBKDF2 password: megabytes of it would cost every
# key slot operation a minute under TCG.)
EXTRA_DISKS = {"keydev": 2 * 1024 * 1024 + 4096}

SETUP = _luks.SETUP_LIB + r"""
scenario_setup() {
    printf '%s' hunter2hunter2 | cryptsetup luksFormat -q --type luks1 \
        --pbkdf-force-iterations 1000 --key-file=- /dev/disk/by-id/virtio-keydev
    printf '%s' hunter2hunter2 | cryptsetup open --key-file=- /dev/disk/by-id/virtio-keydev keyfile
    head -c "$(blockdev --getsize64 /dev/mapper/keyfile)" /dev/urandom >/dev/mapper/keyfile
    luks_pool /dev/mapper/keyfile
    cryptsetup close keyfile
    mk_root nest/a hunter2hunter2 100000
    mk_dependent_unit kgvm-needs-data nest/a
    no_pool_cache
    keygate_config '""" + _luks.KEYFILE_CONFIG + r"""'
    gate_dropin --mode prompt --console /dev/ttyS1 --no-ask-password
}
"""


def run(t):
    _, line = t.boot_to_prompt("ttyS1")
    q = t.questions(line)
    t.check(q and "luks:keyfile" in q[0], f"the prompt names the key device ({q[:1]})")
    _luks.assert_closed(t, ["keyfile", "crypt0", "crypt1"])
    line.type(t.PASS + "\r")
    t.wait_multi_user()
    _luks.assert_closed(t, ["keyfile"])
    _luks.assert_open(t, ["crypt0", "crypt1"])
    _luks.assert_pool_online(t)
    t.assert_unlocked_and_running(["nest/a"])
    assert_check_shows(t, {"keyfile": "closed", "crypt0": "open", "crypt1": "open"})
    counts = _luks.all_questions(t)
    t.check(sum(counts.values()) == 1, f"exactly one passphrase prompt ({counts})")
    log = t.out("journalctl -b -u keygate.service --no-pager -o cat")
    t.check("closed key device luks:keyfile" in log, "keygate closed the key device")


def assert_check_shows(t, states: dict[str, str]) -> None:
    """`keygate check` after boot: each device's state, and exit 0."""
    rc, out = t.sh("keygate check")
    rows = {line.split()[0]: line.split()[-1] for line in out.splitlines()[1:] if line.strip()}
    for name, state in states.items():
        t.check(rows.get(name) == state, f"keygate check shows {name} {state} ({out.strip()!r})")
    t.check(rc == 0, f"keygate check exits 0 after boot (rc {rc})")
