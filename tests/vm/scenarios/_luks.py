"""Shared parts of the LUKS scenarios (l_, m_, n_, o_ and luks_probe): guest
setup functions, the keygate configurations, and checks."""

import re

# LUKS2 with PBKDF2 at 1000 iterations, the least cryptsetup allows: under
# qemu TCG the default (argon2id, about a second of CPU and up to 1 GiB of
# memory per key slot) would make every open take many seconds and could
# not fit the guest's 2 GiB.
PBKDF = "--pbkdf pbkdf2 --pbkdf-force-iterations 1000"

SETUP_LIB = r"""
# luks_format DEV NAME [KEYFILE]: a LUKS2 device opened as NAME; its key is
# the passphrase, or the whole content of KEYFILE.
luks_format() {
    local dev=$1 name=$2 key=${3:--}
    if [[ $key == - ]]; then
        printf '%s' hunter2hunter2 | cryptsetup luksFormat -q --type luks2 PBKDF --key-file=- "$dev"
        printf '%s' hunter2hunter2 | cryptsetup open --key-file=- "$dev" "$name"
    else
        cryptsetup luksFormat -q --type luks2 PBKDF --key-file="$key" "$dev"
        cryptsetup open --key-file="$key" "$dev" "$name"
    fi
}

# luks_pool [KEYFILE]: pool nest again, now a mirror of the LUKS devices
# crypt0 and crypt1 on the two pool disks.
luks_pool() {
    zpool destroy nest
    luks_format /dev/disk/by-id/virtio-pool0 crypt0 "${1:--}"
    luks_format /dev/disk/by-id/virtio-pool1 crypt1 "${1:--}"
    zpool create -f -o cachefile=/etc/zfs/zpool.cache -O mountpoint=/nest nest \
        mirror /dev/mapper/crypt0 /dev/mapper/crypt1
}

# no_pool_cache: nothing imports nest at boot but keygate (the scan finds
# nothing while the LUKS devices are closed).
no_pool_cache() {
    zpool set cachefile=none nest
    rm -f /etc/zfs/zpool.cache
}

# keygate_config TEXT: /etc/keygate/keygate.toml
keygate_config() {
    mkdir -p /etc/keygate
    printf '%s\n' "$1" >/etc/keygate/keygate.toml
}
""".replace("PBKDF", PBKDF)

SHARED_CONFIG = """luks_pools = ["nest"]

[[luks]]
name = "crypt0"
device = "/dev/disk/by-id/virtio-pool0"

[[luks]]
name = "crypt1"
device = "/dev/disk/by-id/virtio-pool1"
"""

KEYFILE_CONFIG = """luks_pools = ["nest"]

[[luks]]
name = "keyfile"
device = "/dev/disk/by-id/virtio-keydev"

[[luks]]
name = "crypt0"
device = "/dev/disk/by-id/virtio-pool0"
key = "/dev/mapper/keyfile"

[[luks]]
name = "crypt1"
device = "/dev/disk/by-id/virtio-pool1"
key = "/dev/mapper/keyfile"
"""

# Any passphrase question on a serial line: keygate's, systemd's agents'
# (systemd-cryptsetup's "Please enter passphrase for disk ...").
ANY_QUESTION = r"(?:Enter|Wrong|Please enter) passphrase"


def all_questions(t) -> dict[str, int]:
    """How many passphrase questions each serial line showed this boot."""
    assert t.vm
    return {name: len(re.findall(ANY_QUESTION, line.text()))
            for name, line in t.vm.lines.items() if name != "ttyS2"}


def assert_open(t, names: list[str]) -> None:
    for n in names:
        rc, out = t.sh(f"cryptsetup status {n}")
        t.check(rc == 0 and "is active" in out, f"LUKS device {n} is open")


def assert_closed(t, names: list[str]) -> None:
    for n in names:
        rc, out = t.sh(f"cryptsetup status {n}")
        t.check(rc == 4 and "is inactive" in out, f"LUKS device {n} is closed ({out.strip()!r}, rc {rc})")


def assert_pool_online(t) -> None:
    t.check(t.out("zpool list -H -o health nest") == "ONLINE", "pool nest is imported and ONLINE")
    rc, out = t.sh("zpool status -P nest")
    t.check("mapper/crypt0" in out and "mapper/crypt1" in out, "nest is made of /dev/mapper/crypt0 and crypt1")

