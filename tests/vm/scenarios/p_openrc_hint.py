"""p. OpenRC (Debian's layout), hint mode. keygate prints the command that
continues the boot and fails; OpenRC then refuses to start mountall.sh and
zfs-mount (they need keygate), the rest of sysinit runs and init goes on to
runlevel 2 without the mounts. The hinted command, run in the root shell
with the passphrase typed at zfs's prompt, mounts everything."""

import re

DESCRIPTION = "OpenRC: hint mode holds mountall.sh and zfs-mount; the hinted command mounts everything"

INIT = "openrc"

SETUP = r"""
scenario_setup() {
    mk_root nest/a hunter2hunter2 100000
    openrc_conf KEYGATE_MODE=hint
}
"""


def hinted_command(line: str) -> str:
    """The shell command in a hint line: what is quoted after `Run`."""
    m = re.search(r"Run '(zfs load-key[^']*)'", line)
    if m is None:
        raise AssertionError(f"no quoted command in the hint line {line!r}")
    return m.group(1)


def run(t):
    vm = t.boot()
    console = vm.lines["ttyS0"]
    m = console.expect(r"[^\n]*zfs load-key[^\n]*\n", 180, since=0, what="the hint on the console")
    hint = m.group(0).strip()
    t.note(f"hint on ttyS0: {hint!r}")
    t.timing("boot_to_hint", vm.since_start())
    t.check(hint.startswith("* WARNING: keygate: Run '"), f"the hint is an OpenRC warning line ({hint!r})")
    t.wait_openrc_default()
    text = console.text()
    # OpenRC tries keygate again for each service that needs it in a later
    # runlevel: one hint per start, never two copies of one.
    starts = text.count("/etc/init.d/keygate start")
    hints = text.count("keygate: Run 'zfs load-key")
    t.check(starts >= 1 and hints == starts, f"one hint per start of keygate ({hints} hints, {starts} starts)")
    for svc in ("mountall.sh", "zfs-mount"):
        t.check(f"cannot start {svc} as keygate would not start" in text,
                f"OpenRC said it cannot start {svc} as keygate would not start")
        t.check(t.rc_state(svc) == "stopped", f"{svc} stopped after the boot")
    t.check(t.rc_state("keygate") == "stopped", "keygate stopped after the boot")
    t.check(not t.canary_mounted(), "the canary fstab mount /mnt/gated is absent")
    t.check(t.out("zfs get -H -o value mounted nest/a") == "no", "nest/a not mounted")
    rc, out = t.sh("rc-service keygate status")
    t.check(rc == 3 and "stopped" in out, f"rc-service keygate status: stopped, rc 3 ({rc}, {out.strip()})")
    cmd = hinted_command(hint)
    t.note(f"typing the hinted command in the root shell: {cmd}")
    rc, out = t.sh(cmd, timeout=180, answers=[(r"(?i)passphrase[^\n]*:", t.PASS + "\n")] * 4)
    t.check(rc == 0, f"the hinted command succeeded (rc={rc}): {out.strip()[-600:]}")
    for svc in ("keygate", "mountall.sh", "zfs-mount"):
        t.check(t.rc_state(svc) == "started", f"{svc} started after the hinted command")
    t.check(t.out("zfs get -H -o value mounted nest/a") == "yes", "nest/a mounted")
    t.check(t.canary_mounted(), "the canary fstab mount /mnt/gated exists")
    rc, out = t.sh("rc-service keygate status")
    t.check(rc == 0 and "started" in out, f"rc-service keygate status: started ({out.strip()})")
    # What the default runlevel could not start without the mounts (zfs-share
    # needs zfs-mount): `openrc` starts it now, as README.md says.
    before = t.rc_state("zfs-share")
    rc, out = t.sh("openrc", timeout=120)
    t.check(rc == 0 and t.rc_state("zfs-share") == "started",
            f"`openrc` started zfs-share (was {before}; rc={rc}): {out.strip()[-300:]}")
