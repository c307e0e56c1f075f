# keygate: build, check and install.
#
#   make                      build the release binary and the docs
#   make check                run the tests (the README's `cargo test --locked`)
#   make install              install everything under $(DESTDIR); what it
#                             installs must have been built by `make` first
#   make install INIT=openrc  only the OpenRC files besides the binary and docs
#                             (default: the running service manager's)
#   make install INITRAMFS=   without the initramfs files (default: those of
#                             both generators, initramfs-tools and dracut)
#   make uninstall            remove what `make install` put in place
#
# keygate runs before local file systems are mounted, so it lives on the
# root file system: PREFIX is /usr and the binary goes to /usr/sbin, which is
# also the path the shipped service files name. Installing elsewhere
# (PREFIX=/usr/local, SBINDIR=...) rewrites that one path in the installed
# copies; nothing else in the service files is templated here.

PREFIX ?= /usr
SBINDIR ?= $(PREFIX)/sbin
SYSCONFDIR ?= /etc
MANDIR ?= $(PREFIX)/share/man
# Debian keeps system units in /lib/systemd/system (its systemd.pc says so).
SYSTEMDUNITDIR ?= /lib/systemd/system
SMFMANIFESTDIR ?= /lib/svc/manifest/system/filesystem
INITDDIR ?= $(SYSCONFDIR)/init.d
CONFDDIR ?= $(SYSCONFDIR)/conf.d
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
# Debian's zsh also reads $(PREFIX)/share/zsh/vendor-completions.
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
# Root on encrypted ZFS (initramfs/): the generators look in these places
# only, whatever PREFIX is. The files are inert unless that generator is
# installed and the initramfs is regenerated (update-initramfs -u, dracut -f).
INITRAMFSTOOLSDIR ?= /usr/share/initramfs-tools
ZFSLOADKEYDIR ?= $(SYSCONFDIR)/zfs/initramfs-tools-load-key.d
DRACUTMODDIR ?= /usr/lib/dracut/modules.d
INITRAMFS ?= initramfs-tools dracut
# Which service manager files to install: any of systemd smf openrc. By
# default, those of the service manager running this machine (an init.d
# script without LSB headers next to a systemd unit of the same name would
# make `systemctl enable keygate` fail on Debian); all three when none is
# recognised, e.g. when staging a package.
INIT ?= $(shell if [ -d /run/systemd/system ]; then echo systemd; \
	elif [ -d /run/openrc ]; then echo openrc; \
	elif [ -d /lib/svc/manifest ]; then echo smf; \
	else echo systemd smf openrc; fi)

CARGO ?= cargo
CARGO_TARGET_DIR ?= target
RELEASE_BIN := $(CARGO_TARGET_DIR)/release/keygate
DOCDIR := $(CARGO_TARGET_DIR)/docs
INSTALL ?= install
# The shipped files name /usr/sbin/keygate; installed copies name $(SBINDIR).
SET_BINARY := sed -e 's|/usr/sbin/keygate|$(SBINDIR)/keygate|g'

export CARGO_TARGET_DIR

.PHONY: all build docs check test fmt lint bench install uninstall \
	install-bin install-docs install-systemd install-smf install-openrc \
	install-initramfs-tools install-dracut

all: build docs

# `-p keygate`: the product only, not the test-only zfs simulator that is
# the workspace's other member.
build:
	$(CARGO) build --release --locked -p keygate

# Man pages and completions come from the clap definitions
# (examples/gen-docs, a workspace member of its own); keeping them out of the
# binary keeps clap_mangen and clap_complete out too.
docs:
	$(CARGO) run --locked -p keygate-gen-docs -- $(DOCDIR)

check test:
	$(CARGO) test --locked

fmt:
	$(CARGO) fmt --all

# Benchmarks report ratios measured in one run (benches/README.md); they are
# reports, not pass/fail tests.
bench:
	benches/run

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

install: install-bin install-docs $(addprefix install-,$(INIT)) $(addprefix install-,$(INITRAMFS))

# `make install` builds nothing: it is usually run as `sudo make install`,
# and building as root in the user's tree would leave root-owned files in
# target/ (breaking the user's next build) and run the build, its build
# scripts and downloads, as root. When something it installs is missing it
# stops, before installing anything, with one line saying to run `make`.
BUILT := $(RELEASE_BIN) $(DOCDIR)/man/keygate.8 $(DOCDIR)/completions/keygate.bash
ifneq ($(filter install install-bin install-docs,$(MAKECMDGOALS)),)
ifeq ($(filter all build docs,$(MAKECMDGOALS)),)
MISSING := $(firstword $(foreach f,$(BUILT),$(if $(wildcard $(f)),,$(f))))
ifneq ($(MISSING),)
$(error $(MISSING) is missing: run `make` first (as yourself, not root), then `make install`)
endif
endif
endif

install-bin:
	$(INSTALL) -Dm755 $(RELEASE_BIN) $(DESTDIR)$(SBINDIR)/keygate

install-docs:
	$(INSTALL) -Dm644 -t $(DESTDIR)$(MANDIR)/man8 $(DOCDIR)/man/*.8
	$(INSTALL) -Dm644 $(DOCDIR)/completions/keygate.bash $(DESTDIR)$(BASHCOMPDIR)/keygate
	$(INSTALL) -Dm644 -t $(DESTDIR)$(ZSHCOMPDIR) $(DOCDIR)/completions/_keygate
	$(INSTALL) -Dm644 -t $(DESTDIR)$(FISHCOMPDIR) $(DOCDIR)/completions/keygate.fish

install-systemd:
	$(INSTALL) -d $(DESTDIR)$(SYSTEMDUNITDIR)
	$(SET_BINARY) units/keygate.service > $(DESTDIR)$(SYSTEMDUNITDIR)/keygate.service
	chmod 644 $(DESTDIR)$(SYSTEMDUNITDIR)/keygate.service

install-smf:
	$(INSTALL) -d $(DESTDIR)$(SMFMANIFESTDIR)
	$(SET_BINARY) smf/keygate.xml > $(DESTDIR)$(SMFMANIFESTDIR)/keygate.xml
	chmod 444 $(DESTDIR)$(SMFMANIFESTDIR)/keygate.xml

install-openrc:
	$(INSTALL) -d $(DESTDIR)$(INITDDIR) $(DESTDIR)$(CONFDDIR)
	$(SET_BINARY) openrc/keygate > $(DESTDIR)$(INITDDIR)/keygate
	chmod 755 $(DESTDIR)$(INITDDIR)/keygate
	$(INSTALL) -Dm644 openrc/keygate.confd $(DESTDIR)$(CONFDDIR)/keygate

# initramfs-tools: the hook copies keygate into the initramfs; zfs's own
# hook copies the drop-in, which zfs's initramfs script sources (it is read
# by the shell, not run: mode 644).
install-initramfs-tools:
	$(INSTALL) -d $(DESTDIR)$(INITRAMFSTOOLSDIR)/hooks $(DESTDIR)$(ZFSLOADKEYDIR)
	$(SET_BINARY) initramfs/initramfs-tools/hook > $(DESTDIR)$(INITRAMFSTOOLSDIR)/hooks/keygate
	chmod 755 $(DESTDIR)$(INITRAMFSTOOLSDIR)/hooks/keygate
	$(SET_BINARY) initramfs/initramfs-tools/load-key > $(DESTDIR)$(ZFSLOADKEYDIR)/keygate
	chmod 644 $(DESTDIR)$(ZFSLOADKEYDIR)/keygate

install-dracut:
	$(INSTALL) -d $(DESTDIR)$(DRACUTMODDIR)/91keygate
	for f in module-setup.sh keygate-pre-mount.sh keygate-initrd.service; do \
		$(SET_BINARY) initramfs/dracut/91keygate/$$f > $(DESTDIR)$(DRACUTMODDIR)/91keygate/$$f || exit 1; \
	done
	chmod 755 $(DESTDIR)$(DRACUTMODDIR)/91keygate/module-setup.sh \
		$(DESTDIR)$(DRACUTMODDIR)/91keygate/keygate-pre-mount.sh
	chmod 644 $(DESTDIR)$(DRACUTMODDIR)/91keygate/keygate-initrd.service

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/keygate
	rm -f $(DESTDIR)$(MANDIR)/man8/keygate.8 $(DESTDIR)$(MANDIR)/man8/keygate-*.8
	rm -f $(DESTDIR)$(BASHCOMPDIR)/keygate $(DESTDIR)$(ZSHCOMPDIR)/_keygate \
		$(DESTDIR)$(FISHCOMPDIR)/keygate.fish
	rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/keygate.service
	rm -f $(DESTDIR)$(SMFMANIFESTDIR)/keygate.xml
	rm -f $(DESTDIR)$(INITDDIR)/keygate $(DESTDIR)$(CONFDDIR)/keygate
	rm -f $(DESTDIR)$(INITRAMFSTOOLSDIR)/hooks/keygate $(DESTDIR)$(ZFSLOADKEYDIR)/keygate
	rm -rf $(DESTDIR)$(DRACUTMODDIR)/91keygate

# ---- Debian package (debian/; README, "Debian package")
#
#   make deb       $(DEB_DIR)/keygate_VERSION_ARCH.deb, a test build: debian/changelog
#                  says UNRELEASED and CHANGELOG.md is left alone
#   make release   the same for a release (also spelled `make deb RELEASE=1`):
#                  first CHANGELOG.md's "Unreleased" section becomes "VERSION - DATE"
#                  (refused when VERSION already has a section); review and commit it
#
# The version is Cargo.toml's: debian/gen-changelog writes debian/changelog from
# it, so the package, `keygate --version` and the man pages agree. Built with
# debhelper (dpkg-buildpackage) rather than cargo-deb: debhelper comes from
# apt on a fresh Debian machine while cargo-deb would be compiled on each one,
# and debhelper's deb-systemd-helper snippets are what Debian packages use.
DEB_DIR ?= $(CARGO_TARGET_DIR)/deb
DEB_SUITE ?= bookworm

.PHONY: deb release

deb:
	debian/gen-changelog $(if $(RELEASE),$(DEB_SUITE),UNRELEASED) > debian/changelog
	$(if $(RELEASE),debian/release-changelog "$$(dpkg-parsechangelog -S Version)" CHANGELOG.md)
	mkdir -p $(DEB_DIR)
	out=$(abspath $(DEB_DIR)); \
	name=keygate_$$(dpkg-parsechangelog -S Version)_$$(dpkg-architecture -qDEB_HOST_ARCH); \
	DEB_OUTDIR=$$out dpkg-buildpackage -b -us -uc \
		--buildinfo-option=-u$$out --changes-option=-u$$out \
		--buildinfo-file=$$out/$$name.buildinfo --changes-file=$$out/$$name.changes && \
	debian/rules clean && \
	echo "built $$out/$$name.deb"

release:
	$(MAKE) deb RELEASE=1

# ---- Demo: a real machine held by keygate, in this terminal (root; qemu)
#
#   make demo        boots the VM tier's guest with an encrypted dataset; this
#                    terminal is its LOM line: type the passphrase it prints
#   make demo-shell  in a second terminal: the guest's root shell
#
# Both leave with Ctrl-]; see tests/vm/README.md, "make demo".
.PHONY: demo demo-shell

demo:
	tests/vm/run demo

demo-shell:
	tests/vm/demo.py shell --rundir $${KEYGATE_VM_DEMO_DIR:-$(abspath $(CARGO_TARGET_DIR))/vm-demo}
