"""h. systemd ask-password: keygate, as shipped, asks through systemd's
ask-password protocol; the passphrase is answered with
`systemd-tty-ask-password-agent --query` from a root shell (as over SSH)."""

DESCRIPTION = "ask-password: answered by systemd-tty-ask-password-agent from a shell (shipped unit)"

SETUP = r"""
scenario_setup() {
    mk_root nest/a hunter2hunter2 100000
    mk_dependent_unit kgvm-needs-data nest/a
}
"""


def run(t):
    t.boot()
    t.wait_keygate_holding()
    rc, out = t.sh("for i in $(seq 300); do ls /run/systemd/ask-password/ask.* 2>/dev/null && break; "
                   "sleep 0.2; done; grep -h '^Message=' /run/systemd/ask-password/ask.*", timeout=120)
    if rc != 0:
        t.check(False, "keygate posted no systemd ask-password question in 60s "
                       "(needs keygate's ask-password source)")
    t.note(f"ask-password question: {' '.join(out.split())}")
    t.assert_held(["nest/a"])
    rc, out = t.sh("systemd-tty-ask-password-agent --query", timeout=120,
                   answers=[(r"(?i)enter (passphrase|password)[^\n]*", t.PASS + "\n")])
    t.check(rc == 0, f"systemd-tty-ask-password-agent answered (rc={rc})")
    t.wait_multi_user()
    t.assert_unlocked_and_running(["nest/a"])
