"""x. Root on encrypted ZFS, a wrong passphrase first, in the initramfs
(initramfs-tools): keygate reports it on the line it was typed on, naming
the root, and asks again; nothing is loaded by it; the right one then boots
the machine as in u."""

DESCRIPTION = "root on encrypted ZFS: a wrong passphrase in the initramfs is reported, the right one boots"
ROOT = "zfs"
SETUP = ""


def run(t):
    vm = t.boot_root("initramfs-tools", "zfs:rpool/ROOT/debian")
    lom = vm.lines["ttyS1"]
    t.wait_question(lom)
    mark = lom.mark()
    lom.type("wrongpass1\r")
    # Up to the full stop: the line arrives a few bytes at a time.
    m = lom.expect(r"keygate: wrong passphrase for [^\n]*?\.\r?\n", 120, since=mark,
                   what="the wrong passphrase being reported")
    t.note(f"reported on ttyS1: {m.group(0).strip()!r}")
    t.check("rpool/ROOT" in m.group(0), "the report names rpool/ROOT")
    again = t.wait_question(lom, since=mark, timeout=60)
    t.note(f"asked again on ttyS1: {again!r}")
    lom.type(t.PASS + "\r")
    # ttyS0 keeps its first question open while ttyS1 is asked again.
    t.assert_booted(vm, "initramfs-tools", {"ttyS0": 1, "ttyS1": 2})
