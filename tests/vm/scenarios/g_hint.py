"""g. Hint mode: keygate prints the command that fixes it on the console and
fails, so the boot is held; typing what the hint says (from a root shell)
unlocks the dataset and the boot reaches multi-user."""

import re
import time

DESCRIPTION = "hint mode: boot held with the hint on the console; the hinted command works"

SETUP = r"""
scenario_setup() {
    mk_root nest/a hunter2hunter2 100000
    mk_dependent_unit kgvm-needs-data nest/a
    gate_dropin --mode hint
}
"""


def hinted_command(line: str) -> str:
    """The shell command in a hint line: from `zfs load-key` to the end,
    without quotes or backticks around it and without a final full stop."""
    cmd = line[line.index("zfs load-key"):].strip()
    cmd = cmd.strip("`'\"")
    cmd = re.sub(r"[`'\"]*\.?$", "", cmd).strip()
    return cmd


def run(t):
    vm = t.boot()
    m = vm.lines["ttyS0"].expect(r"[^\n]*zfs load-key[^\n]*\n", 180, since=0, what="the hint on the console")
    hint = m.group(0).strip()  # the whole line: matched only once its newline came
    t.note(f"hint on ttyS0: {hint!r}")
    t.timing("boot_to_hint", vm.since_start())
    time.sleep(5)
    t.check(t.unit_state("multi-user.target") != "active", "boot held: multi-user.target not reached")
    t.check(t.out("zfs get -H -o value mounted nest/a") == "no", "nest/a not mounted while held")
    t.check(t.out("test -e /run/kgvm-needs-data.ran && echo ran || echo not-run") == "not-run",
            "kgvm-needs-data.service has not run while held")
    cmd = hinted_command(hint)
    t.note(f"typing the hinted command in the root shell: {cmd}")
    rc, out = t.sh(cmd, timeout=180, answers=[(r"(?i)passphrase[^\n]*:", t.PASS + "\n")] * 4)
    t.check(rc == 0, f"the hinted command succeeded (rc={rc}): {out.strip()[-300:]}")
    t.wait_multi_user(timeout=180)
    if t.out("zfs get -H -o value mounted nest/a") != "yes":
        runs = t.out("journalctl -b -o short-monotonic --no-pager -u zfs-mount.service -u keygate.service "
                     "| grep -E 'Starting|Started|Finished|Failed' || true")
        t.check(False, "nest/a mounted after the hinted command; it is not. Units as they ran:\n" + runs)
    t.note("ok: nest/a mounted")
    t.check(t.unit_state("kgvm-needs-data.service") == "active",
            "kgvm-needs-data.service succeeded (canary present)")
