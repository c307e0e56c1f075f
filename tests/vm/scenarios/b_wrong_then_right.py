"""b. A wrong passphrase, then the right one, on ttyS1: the wrong one is
reported on the line, keygate asks again, the right one lets the boot go on."""

DESCRIPTION = "prompt mode: wrong passphrase reported on ttyS1, then the right one boots"

SETUP = r"""
scenario_setup() {
    mk_root nest/a hunter2hunter2 100000
    mk_dependent_unit kgvm-needs-data nest/a
    gate_dropin --mode prompt --console /dev/ttyS1
}
"""

REJECTED = r"keygate: wrong passphrase for nest/a\."


def run(t):
    _, line = t.boot_to_prompt("ttyS1")
    mark = line.mark()
    line.type("wrongpass1\r")
    m = line.expect(REJECTED, 60, since=mark, what="the wrong passphrase being reported")
    t.note(f"reported on ttyS1: {m.group(0).strip()!r}")
    line.expect(t.PROMPT, 60, what="a second prompt")
    t.assert_held(["nest/a"])
    line.type(t.PASS + "\r")
    t.wait_multi_user()
    t.assert_unlocked_and_running(["nest/a"])
