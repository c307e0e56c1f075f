"""d. Remote: nobody answers the consoles; `keygate unlock` run from a root
shell in the guest (as over SSH) takes the passphrase and the boot goes on.
Runs keygate.service exactly as shipped (no drop-in)."""

DESCRIPTION = "remote: `keygate unlock` from a shell unlocks; boot continues (shipped unit)"

NEEDS = [["unlock", "--help"]]

SETUP = r"""
scenario_setup() {
    mk_root nest/a hunter2hunter2 100000
    mk_dependent_unit kgvm-needs-data nest/a
}
"""


def run(t):
    t.boot()
    t.wait_keygate_holding()
    t.assert_held(["nest/a"])
    rc, out = t.sh("keygate unlock", timeout=120,
                   answers=[(r"(?i)passphrase[^\n]*:?", t.PASS + "\n")])
    t.check(rc == 0, f"keygate unlock succeeded (rc={rc}): {out.strip()[-300:]}")
    t.wait_multi_user()
    t.assert_unlocked_and_running(["nest/a"])
