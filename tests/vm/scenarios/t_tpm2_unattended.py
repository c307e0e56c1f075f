"""t. Unattended unlock with the TPM, a person as the fallback. The guest
has a software TPM 2.0 (swtpm on the host, qemu's tpm-crb: /dev/tpmrm0).
Boot 1: nothing is bound yet, so the prompt is on ttyS1; from the root
shell `keygate bind nest/a tpm2 '{"pcr_ids":"7"}'` takes the passphrase
(checked with `zfs load-key -n`) and writes the JWE root-only; the
passphrase typed on ttyS1 finishes the boot. Boot 2: the same TPM, nobody
types: the provider unlocks and the boot reaches multi-user. Boot 3: the
TPM's state is thrown away (another machine's TPM, as far as the JWE can
tell): the provider's failure is logged, the prompt is on ttyS1 and the
typed passphrase boots."""

DESCRIPTION = ("tpm2 provider: keygate bind; the next boot unlocks with nobody typing; "
               "with the TPM reset the prompt on ttyS1 takes the passphrase")

TPM = True
NEEDS = [["bind", "--help"]]

SETUP = r"""
scenario_setup() {
    mk_root nest/a hunter2hunter2 100000
    mk_dependent_unit kgvm-needs-data nest/a
    gate_dropin --mode prompt --console /dev/ttyS1 --no-ask-password
}
"""

PROVIDER = "provider tpm2:nest/a"


def journal(t) -> str:
    return t.out("journalctl -b -u keygate.service --no-pager -o cat")


def wait_journal(t, needle: str, timeout: int = 120) -> None:
    # No `exit` here: the command runs in the harness's own shell.
    rc, _ = t.sh(f"end=$((SECONDS + {timeout})); seen=no; while [ $SECONDS -lt $end ]; do "
                 f"if journalctl -b -u keygate.service --no-pager -o cat | grep -qF -- '{needle}'; "
                 f"then seen=yes; break; fi; sleep 0.5; done; [ $seen = yes ]", timeout=timeout + 30)
    t.check(rc == 0, f"keygate logged {needle!r}")


def run(t):
    vm, line = t.boot_to_prompt("ttyS1", label="boot-bind")
    t.check(t.sh("test -c /dev/tpmrm0")[0] == 0, "the guest has /dev/tpmrm0")
    rc, out = t.sh("keygate bind nest/a tpm2 '{\"pcr_ids\":\"7\"}'", timeout=300,
                   answers=[(r"Enter passphrase for nest/a: ", t.PASS + "\n")])
    t.check(rc == 0, f"keygate bind exits 0 ({out.strip()[-300:]!r})")
    t.check(t.PASS not in out, "the passphrase was not echoed by keygate bind")
    modes = t.out("stat -c '%a %n' /etc/keygate/providers /etc/keygate/providers/nest+a.jwe")
    t.check(modes.split() == ["700", "/etc/keygate/providers", "600", "/etc/keygate/providers/nest+a.jwe"],
            f"the JWE is root-only ({modes!r})")
    t.check(t.sh("grep -q 'wait_for = \"/dev/tpmrm0\"' /etc/keygate/keygate.d/provider-nest+a.toml")[0] == 0,
            "the provider waits for /dev/tpmrm0")
    t.check(t.out("zfs get -H -o value keystatus nest/a") == "unavailable", "bind loaded no key")
    line.type(t.PASS + "\r")
    t.wait_multi_user()
    t.assert_unlocked_and_running(["nest/a"])
    vm.poweroff()
    t.vm = None

    vm = t.boot(label="boot-unattended")
    took = t.wait_multi_user(300)
    t.timing("unattended_boot_to_multi_user", vm.since_start())
    t.assert_unlocked_and_running(["nest/a"])
    log = journal(t)
    t.check(f"unlocked nest/a with the passphrase from {PROVIDER}" in log,
            f"the TPM provider unlocked nest/a ({took:.0f}s after the shell came up)")
    screen = vm.lines["ttyS1"].text()
    t.check("Enter passphrase" not in screen or f"keys loaded from {PROVIDER}" in screen,
            "a prompt shown on ttyS1 was closed with a notice naming the provider")
    vm.poweroff()
    t.vm = None

    t.reset_tpm()
    vm, line = t.boot_to_prompt("ttyS1", label="boot-tpm-reset")
    t.assert_held(["nest/a"])
    wait_journal(t, f"{PROVIDER} gave no key: ")
    line.type(t.PASS + "\r")
    t.wait_multi_user()
    t.assert_unlocked_and_running(["nest/a"])
    t.check(t.PASS not in line.text(), "the passphrase was not echoed on ttyS1")
