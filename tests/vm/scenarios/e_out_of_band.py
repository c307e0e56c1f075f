"""e. Out-of-band: nobody answers; `zfs load-key` by hand from a root shell
in the guest; keygate (wait mode) notices and the boot continues."""

DESCRIPTION = "out-of-band zfs load-key from a shell; keygate notices; boot continues"

# The one scenario that installs keygate with `make install` (the staging
# tree) rather than the Debian package, so that path stays tested.
INSTALL = "make"

SETUP = r"""
scenario_setup() {
    mk_root nest/a hunter2hunter2 100000
    mk_dependent_unit kgvm-needs-data nest/a
    gate_dropin --mode wait --poll-interval 1s
}
"""


def run(t):
    t.boot()
    t.wait_keygate_holding()
    t.assert_held(["nest/a"])
    rc, out = t.sh("printf '%s\\n' hunter2hunter2 | zfs load-key nest/a")
    t.check(rc == 0, f"zfs load-key by hand succeeded ({out.strip()})")
    took = t.wait_multi_user()
    t.timing("loadkey_to_multi_user", took)
    t.assert_unlocked_and_running(["nest/a"])
