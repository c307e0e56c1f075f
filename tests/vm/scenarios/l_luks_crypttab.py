"""l. systemd with crypttab: two LUKS2 devices in /etc/crypttab, a mirror
pool on them and a passphrase root under the same passphrase. The
passphrase is typed once, at systemd-cryptsetup's prompt on the console;
systemd-cryptsetup opens both devices (the second from its keyring cache),
the pool imports, and keygate loads the ZFS key from that cache: no second
prompt anywhere."""

import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import _luks  # noqa: E402

DESCRIPTION = "crypttab: one passphrase at systemd-cryptsetup's prompt opens both LUKS devices and the ZFS root"

SETUP = _luks.SETUP_LIB + r"""
scenario_setup() {
    luks_pool
    mk_root nest/a hunter2hunter2 100000
    mk_dependent_unit kgvm-needs-data nest/a
    cat >/etc/crypttab <<'TAB'
crypt0 /dev/disk/by-id/virtio-pool0 none luks
crypt1 /dev/disk/by-id/virtio-pool1 none luks
TAB
}
"""

CRYPT_QUESTION = r"Please enter passphrase for disk [^\n]*?(?:\(press TAB for no echo\)|: )"
# A question the agent echoed typing for (one `*` per character).
ANSWERED = r"Please enter passphrase for disk [^\n]*?\(press TAB for no echo\)[^\n*]*\*"


def run(t):
    vm = t.boot()
    console = vm.lines["ttyS0"]
    m = console.expect(CRYPT_QUESTION, 240, since=0, what="systemd-cryptsetup's prompt on the console")
    t.note(f"asked on ttyS0: {m.group(0).strip()!r}")
    t.timing("boot_to_prompt", vm.since_start())
    typed_at = vm.since_start()
    console.type(t.PASS + "\r")
    t.wait_multi_user()
    t.timing("prompt_to_multi_user", vm.since_start() - typed_at)
    _luks.assert_open(t, ["crypt0", "crypt1"])
    _luks.assert_pool_online(t)
    t.assert_unlocked_and_running(["nest/a"])
    # systemd's console agent may show crypt1's question too before
    # systemd-cryptsetup finds crypt0's passphrase in its cache and
    # withdraws it: the person answers exactly one.
    counts = _luks.all_questions(t)
    answered = {name: len(re.findall(ANSWERED, line.text()))
                for name, line in vm.lines.items() if name != "ttyS2"}
    t.check(sum(answered.values()) == 1,
            f"exactly one passphrase typed in all serial logs (answered {answered}, shown {counts})")
    log = t.out("journalctl -b -u keygate.service --no-pager -o cat")
    t.check("trying 1 passphrase systemd-cryptsetup cached in the kernel keyring" in log,
            "keygate tried the passphrase systemd-cryptsetup cached")
    t.check("unlocked nest/a with the passphrase from systemd-cryptsetup's cache in the kernel keyring" in log,
            "keygate loaded nest/a's key from that cache")
    t.check("hunter2" not in log, "the passphrase is not in keygate's log")
