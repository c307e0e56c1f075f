"""j. The shipped unit's path for a person at the console: ask-password on,
keygate leaves the console to systemd's console agent, and /dev/console is
ttyS1 here (console=ttyS1, the LOM line). A wrong passphrase typed at the
agent's question is reported on that same line: the agent's next question
says the passphrase was wrong, naming the root. The right one boots."""

DESCRIPTION = "shipped unit, console agent on ttyS1 as /dev/console: wrong passphrase reported there, right one boots"

# The kernel console, hence /dev/console and systemd's console agent.
CONSOLE = "ttyS1"

SETUP = r"""
scenario_setup() {
    mk_root nest/a hunter2hunter2 100000
    mk_dependent_unit kgvm-needs-data nest/a
}
"""

WRONG = r"Wrong passphrase for nest/a[^\n]*?(?:: |\(press TAB for no echo\))"


def run(t):
    _, line = t.boot_to_prompt("ttyS1")
    first = t.questions(line)
    t.note(f"first question on ttyS1: {first!r}")
    t.check(any("nest/a" in q for q in first), "systemd's console agent asks for nest/a on ttyS1")
    t.assert_held(["nest/a"])
    mark = line.mark()
    line.type("wrongpass1\r")
    line.expect(WRONG, 120, since=mark, what="the agent's next question saying the passphrase was wrong")
    t.note(f"after the wrong passphrase: {t.questions(line, mark)!r}")
    t.assert_held(["nest/a"])
    line.type(t.PASS + "\r")
    t.wait_multi_user()
    t.assert_unlocked_and_running(["nest/a"])
    seen = line.text(mark)
    t.check("wrongpass1" not in seen and t.PASS not in seen, "neither passphrase was echoed on ttyS1")
