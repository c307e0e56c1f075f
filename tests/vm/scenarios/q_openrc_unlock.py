"""q. OpenRC (Debian's layout), remote unlock: the shipped conf.d unchanged
(mode auto: prompt on the console, listen on the socket); nobody answers the
console; `keygate unlock` in the root shell takes the passphrase while the
gate holds sysinit, and the boot goes on with everything mounted."""

DESCRIPTION = "OpenRC: `keygate unlock` from the shell while sysinit is held (shipped conf.d)"

INIT = "openrc"

SETUP = r"""
scenario_setup() {
    mk_root nest/a hunter2hunter2 100000
}
"""


def run(t):
    t.boot()
    t.wait_openrc_holding()
    t.assert_openrc_held(["nest/a"])
    rc, out = t.sh("keygate unlock", timeout=120, answers=[(r"(?i)passphrase[^\n]*:?", t.PASS + "\n")])
    t.check(rc == 0, f"keygate unlock succeeded (rc={rc}): {out.strip()[-300:]}")
    t.timing("unlock_to_default", t.wait_openrc_default())
    t.assert_openrc_unlocked(["nest/a"])
