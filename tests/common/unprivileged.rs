//! Running a client as an unprivileged user (uid 65534) without touching
//! any directory the test did not create: the test's own tree is opened up,
//! every existing parent is only checked, and the client runs a copy of the
//! keygate binary kept inside that tree, so a checkout under a directory
//! only root may enter (such as /root) does not matter.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::common::{Sim, keygate_bin};

/// The uid (and gid) of the unprivileged client: `nobody` on Debian.
pub const NOBODY: u32 = 65534;

/// Fails, naming it, at the first parent of `dir` that uid [`NOBODY`]
/// cannot enter. Nothing is changed.
#[track_caller]
pub fn assert_others_can_reach(dir: &Path) {
    for parent in dir.ancestors().skip(1) {
        let meta = fs::metadata(parent)
            .unwrap_or_else(|e| panic!("cannot look at {}: {e}", parent.display()));
        let mode = meta.mode();
        let enterable = if meta.uid() == NOBODY {
            mode & 0o100 != 0
        } else if meta.gid() == NOBODY {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        assert!(
            enterable,
            "uid {NOBODY} cannot enter {} (mode {:04o}, owner {}:{}), so this test has no \
             place that user can reach; it makes its files under the temporary directory \
             {} (TMPDIR): point TMPDIR at a directory others may enter, such as /tmp",
            parent.display(),
            mode & 0o7777,
            meta.uid(),
            meta.gid(),
            std::env::temp_dir().display()
        );
    }
}

/// Opens `path` and each of its parents up to and including `top`, which
/// must be a directory the test created, to mode 0755.
pub fn open_up_to(path: &Path, top: &Path) {
    assert!(
        path.starts_with(top),
        "{} is not inside {}",
        path.display(),
        top.display()
    );
    let mut p = path.to_path_buf();
    loop {
        if p.is_dir() {
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755))
                .unwrap_or_else(|e| panic!("opening {}: {e}", p.display()));
        }
        if p == top || !p.pop() {
            break;
        }
    }
}

/// A copy of the keygate binary under test that uid [`NOBODY`] can run,
/// inside `sim`'s own directory (opened to 0755; its parents are checked,
/// never changed).
#[track_caller]
pub fn keygate_for_nobody(sim: &Sim) -> PathBuf {
    assert_others_can_reach(sim.root());
    let dir = sim.root().join("nobody-bin");
    fs::create_dir_all(&dir).expect("creating the directory for the copy");
    let copy = dir.join("keygate");
    fs::copy(keygate_bin(), &copy).expect("copying the keygate binary");
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755))
        .expect("making the copy executable");
    open_up_to(&dir, sim.root());
    copy
}
