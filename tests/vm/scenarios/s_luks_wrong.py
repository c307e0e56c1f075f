"""s. As m, but a wrong passphrase first: it is reported on ttyS1 naming the
LUKS devices, nothing is opened by it, and the right one then boots."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import _luks  # noqa: E402

DESCRIPTION = "[[luks]]: a wrong passphrase is reported naming the devices and opens nothing"
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
    mark = line.mark()
    line.type("wrongpass1\r")
    # Up to the full stop: the line arrives a few bytes at a time.
    m = line.expect(r"keygate: wrong passphrase for [^\n]*?\.\r?\n", 120, since=mark,
                    what="the wrong passphrase being reported")
    t.note(f"reported on ttyS1: {m.group(0).strip()!r}")
    t.check("luks:crypt0" in m.group(0) and "luks:crypt1" in m.group(0),
            "the report names both LUKS devices")
    line.expect(t.QUESTION, 60, since=mark, what="a second prompt")
    _luks.assert_closed(t, ["crypt0", "crypt1"])
    t.check(t.sh("zpool list nest")[0] != 0, "nothing imported after the wrong passphrase")
    line.type(t.PASS + "\r")
    t.wait_multi_user()
    _luks.assert_open(t, ["crypt0", "crypt1"])
    _luks.assert_pool_online(t)
    t.assert_unlocked_and_running(["nest/a"])
