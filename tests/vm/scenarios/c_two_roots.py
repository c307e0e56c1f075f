"""c. Two encryption roots with the same passphrase: one prompt on ttyS1,
one answer, both unlocked and mounted."""

DESCRIPTION = "prompt mode: two roots, same passphrase: one prompt, both mounted"

SETUP = r"""
scenario_setup() {
    mk_root nest/a hunter2hunter2 100000
    mk_root nest/b hunter2hunter2 100000
    mk_dependent_unit kgvm-needs-data nest/a
    mk_dependent_unit kgvm-needs-b nest/b
    gate_dropin --mode prompt --console /dev/ttyS1
}
"""


def run(t):
    _, line = t.boot_to_prompt("ttyS1")
    t.assert_held(["nest/a", "nest/b"])
    line.type(t.PASS + "\r")
    took = t.wait_multi_user()
    t.timing("prompt_to_multi_user_two_roots", took)
    t.assert_unlocked_and_running(["nest/a", "nest/b"])
    t.check(t.unit_state("kgvm-needs-b.service") == "active", "kgvm-needs-b.service succeeded")
    asked = t.questions(line)
    t.check(len(asked) == 1, f"exactly one prompt on ttyS1 (saw {asked!r})")
