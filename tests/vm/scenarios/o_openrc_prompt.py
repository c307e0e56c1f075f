"""o. OpenRC (Debian's layout), prompt on the LOM line. The guest boots
sysvinit + OpenRC; keygate is in the sysinit runlevel as README.md says, and
mountall.sh and zfs-mount need it. keygate holds sysinit before both; the
passphrase is typed on ttyS1; the dataset and a canary fstab mount that
mountall.sh makes are there afterwards, and keygate finished before
mountall.sh and zfs-mount began (their start timestamps)."""

DESCRIPTION = "OpenRC: sysinit held before mountall.sh and zfs-mount; passphrase typed on ttyS1"

INIT = "openrc"

SETUP = r"""
scenario_setup() {
    mk_root nest/a hunter2hunter2 100000
    openrc_conf KEYGATE_MODE=prompt KEYGATE_CONSOLES=/dev/ttyS1
}
"""


def run(t):
    vm, line = t.boot_to_prompt("ttyS1")
    t.timing("boot_to_prompt_ttyS1", vm.since_start())
    asked = t.questions(line)
    t.check(len(asked) == 1 and "nest/a" in asked[0], f"one prompt for nest/a on ttyS1 ({asked!r})")
    t.wait_openrc_holding()
    t.assert_openrc_held(["nest/a"])
    mark = line.mark()
    line.type(t.PASS + "\r")
    took = t.wait_openrc_default()
    t.timing("prompt_to_default", took)
    t.assert_openrc_unlocked(["nest/a"])
    t.check(t.PASS not in line.text(mark), "the passphrase was not echoed on ttyS1")
    console = vm.lines["ttyS0"].text()
    t.check("ask-password" not in console and "press TAB" not in console,
            "no systemd password agent under OpenRC")
