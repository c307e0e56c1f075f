"""i. A keystore chain: nest/keys is a passphrase root holding the raw key
files of nest/a and nest/b. One passphrase on ttyS1 opens the keystore;
keygate mounts it, loads both roots from their files, and closes it again
(unmounted, key unloaded: close = "unload", the default)."""

DESCRIPTION = "keystore: one passphrase opens nest/keys, loads nest/a and nest/b from it, closes it"

SETUP = r"""
scenario_setup() {
    mk_root nest/keys hunter2hunter2 100000
    for r in a b; do
        head -c 32 /dev/urandom >"/nest/keys/$r.key"
        zfs create -o encryption=on -o keyformat=raw \
            -o keylocation="file:///nest/keys/$r.key" "nest/$r"
        echo "canary of nest/$r" >"/nest/$r/canary"
    done
    mk_dependent_unit kgvm-needs-data nest/a
    mk_dependent_unit kgvm-needs-b nest/b
    gate_dropin --mode prompt --console /dev/ttyS1
}
"""


def run(t):
    _, line = t.boot_to_prompt("ttyS1")
    asked = t.questions(line)
    t.check(len(asked) == 1 and "nest/keys" in asked[0] and "nest/a" not in asked[0]
            and "nest/b" not in asked[0], f"only the keystore is asked for ({asked!r})")
    t.assert_held(["nest/keys", "nest/a", "nest/b"])
    line.type(t.PASS + "\r")
    took = t.wait_multi_user()
    t.timing("prompt_to_multi_user_keystore", took)
    t.assert_unlocked_and_running(["nest/a", "nest/b"])
    t.check(t.unit_state("kgvm-needs-b.service") == "active", "kgvm-needs-b.service succeeded")
    t.check(t.out("zfs get -H -o value keystatus nest/keys") == "unavailable",
            "the keystore's key was unloaded again")
    t.check(t.out("zfs get -H -o value mounted nest/keys") == "no", "the keystore is unmounted")
    asked = t.questions(line)
    t.check(len(asked) == 1, f"exactly one prompt on ttyS1 (saw {asked!r})")
