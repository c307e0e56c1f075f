"""k. Type-ahead at keygate's own prompt on the LOM line (--console
/dev/ttyS1), at ZFS's default 350000 PBKDF2 iterations, so a check takes
seconds: a person types a wrong passphrase and, at once, the next attempt.
Nothing typed ever appears on ttyS1: not while the wrong one is checked,
not during the pause after it, not at the next prompt. The console says it
is checking, reports the wrong passphrase, and the typed-ahead attempt is
handled as documented (README, "Type-ahead")."""

import time

DESCRIPTION = "type-ahead during a slow check on ttyS1: never echoed, handled as documented"

SETUP = r"""
scenario_setup() {
    mk_root nest/a hunter2hunter2                 # default pbkdf2iters
    mk_dependent_unit kgvm-needs-data nest/a
    gate_dropin --mode prompt --console /dev/ttyS1
}
"""

CHECKING = r"keygate: checking the passphrase\.\.\."
REJECTED = r"keygate: wrong passphrase for nest/a\."
UNLOCKED = r"keygate: unlocked nest/a\."


def run(t):
    _, line = t.boot_to_prompt("ttyS1")
    t.assert_held(["nest/a"])
    mark = line.mark()
    line.type("wrongpass1\r")
    line.expect(CHECKING, 60, since=mark, what="the console saying it is checking")
    time.sleep(0.2)
    line.type(t.PASS + "\r")            # typed ahead, while the wrong one is checked
    line.expect(REJECTED, 120, since=mark, what="the wrong passphrase being reported")
    # The rule (README, "Typing ahead"): what was typed before the next
    # prompt is that prompt's entry. Nobody types again.
    line.expect(t.QUESTION, 60, what="the next prompt")
    line.expect(CHECKING, 60, what="the typed-ahead entry being checked without a keystroke more")
    line.expect(UNLOCKED, 120, what="the typed-ahead passphrase unlocking nest/a")
    took = t.wait_multi_user(timeout=240)
    t.timing("typeahead_to_multi_user", took)
    t.assert_unlocked_and_running(["nest/a"])
    seen = line.text(mark)
    t.check("wrongpass1" not in seen, "the wrong passphrase was never echoed on ttyS1")
    t.check(t.PASS not in seen, "the typed-ahead passphrase was never echoed on ttyS1")
    asked = t.questions(line)
    t.check(len(asked) == 2, f"two prompts in all: the first and the one the typed-ahead entry answered ({asked!r})")
    t.check("discarded" not in seen, "nothing was discarded")
