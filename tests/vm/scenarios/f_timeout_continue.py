"""f. --timeout with --on-timeout continue: nobody loads the key; after the
timeout the boot continues without the dataset, and the service that needs
it (guarded the way an admin would: ConditionPathIsMountPoint) does not run
against the empty directory."""

DESCRIPTION = "timeout + --on-timeout continue: boot goes on, dataset locked, dependent service skipped"

TIMEOUT = 20

SETUP = rf"""
scenario_setup() {{
    mk_root nest/a hunter2hunter2 100000
    mk_dependent_unit kgvm-needs-data nest/a ConditionPathIsMountPoint=/nest/a
    gate_dropin --mode wait --poll-interval 1s --timeout {TIMEOUT}s --on-timeout continue
}}
"""


def run(t):
    t.boot()
    t.wait_keygate_holding()
    t.assert_held(["nest/a"])
    t.wait_multi_user(timeout=TIMEOUT + 180)
    t.check(t.out("systemctl show -p Result --value keygate.service") == "success",
            "keygate.service ended successfully (on-timeout continue)")
    held = t.out("s=$(systemctl show -p ExecMainStartTimestampMonotonic --value keygate.service); "
                 "r=$(systemctl show -p ActiveEnterTimestampMonotonic --value keygate.service); "
                 "echo $(( (r - s) / 1000000 ))")
    t.check(held.isdigit() and int(held) >= TIMEOUT - 1,
            f"keygate held the boot for the timeout ({held}s >= {TIMEOUT - 1}s)")
    t.check(t.out("zfs get -H -o value keystatus nest/a") == "unavailable", "nest/a still locked")
    t.check(t.out("zfs get -H -o value mounted nest/a") == "no", "nest/a not mounted")
    t.check(t.unit_state("zfs-mount.service") == "active", "zfs-mount.service ran (other datasets mounted)")
    t.check(t.out("test -e /run/kgvm-needs-data.ran && echo ran || echo not-run") == "not-run",
            "kgvm-needs-data.service did not run against the empty /nest/a")
    t.check(t.out("systemctl show -p ConditionResult --value kgvm-needs-data.service") == "no",
            "kgvm-needs-data.service skipped by its condition")
    said = t.out("journalctl -b _SYSTEMD_UNIT=keygate.service --no-pager -o cat | "
                 "grep -Ei 'timed out|timeout|time limit|gave up|giving up' || true")
    t.check(said != "", f"keygate said in its log that it timed out ({said.splitlines()[0] if said else ''})")
