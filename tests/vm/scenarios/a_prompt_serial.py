"""a. Prompt on the serial lines. keygate holds the boot before the encrypted
dataset is mounted and prompts on the consoles named in its unit (ttyS1, the
LOM/BMC line, and ttyS0, the console). Boot 1: the passphrase is typed on
ttyS1. Boot 2: on ttyS0. Each time the dataset gets mounted, the service that
needs it succeeds, keygate sent READY=1 and the boot reaches multi-user.
The root uses ZFS's default 350000 PBKDF2 iterations."""

DESCRIPTION = "prompt mode: passphrase typed on ttyS1 (BMC line), then on ttyS0 (console)"

SETUP = r"""
scenario_setup() {
    mk_root nest/a hunter2hunter2                 # default pbkdf2iters
    mk_dependent_unit kgvm-needs-data nest/a
    gate_dropin --mode prompt --console /dev/ttyS1 --console /dev/ttyS0
}
"""


def run(t):
    for name in ("ttyS1", "ttyS0"):
        vm, line = t.boot_to_prompt(name, label=f"boot-{name}")
        t.timing(f"boot_to_prompt_{name}", vm.since_start())
        t.assert_held(["nest/a"])
        mark = line.mark()
        line.type(t.PASS + "\r")
        try:
            took = t.wait_multi_user()
        except Exception:
            if "press TAB for no echo" in line.text():
                t.note(f"systemd's console password agent was asking on {name} too: two readers "
                       f"on one tty split the typed passphrase between them")
            raise
        t.timing(f"prompt_to_multi_user_{name}", took)
        t.assert_unlocked_and_running(["nest/a"])
        t.check(t.PASS not in line.text(mark), f"the passphrase was not echoed on {name}")
        vm.poweroff()
        t.vm = None
