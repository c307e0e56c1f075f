//! `zfs mount [-a | dataset]` and `zfs unmount|umount [-a | dataset]`.
//!
//! Mounting flips `mounted` in the state. When `ZFS_SIM_MOUNT_ROOT` is set,
//! it also makes the dataset's files (`$ZFS_SIM_DIR/data/<name>`) visible at
//! `$ZFS_SIM_MOUNT_ROOT/<mountpoint>` through a symlink, removed again (and
//! replaced by an empty directory, as a real mountpoint stays) on unmount.
//! A mountpoint directory holding only empty directories is mounted over
//! (like `overlay=on`); one with files or active mounts below is refused
//! with `directory is not empty`, which real zfs on Linux would not do.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::opts::{Item, getopt};
use crate::out::Out;
use crate::state::State;
use crate::store::Store;
use crate::usage;

pub fn mount(store: &Store, args: &[String], out: &mut Out) -> Result<i32> {
    let (items, targets) = getopt(args, ":ajRlvo:Of");
    let mut all = false;
    for item in items {
        match item {
            Item::Flag('a') => all = true,
            Item::Flag('v' | 'O' | 'f') | Item::Arg('o', _) => {}
            Item::Flag(c @ ('j' | 'R' | 'l')) => {
                out.err(&format!("zfs-sim: mount -{c} is not simulated\n"));
                return Ok(2);
            }
            Item::Missing(c) => {
                return Ok(usage::error(
                    out,
                    "mount",
                    &format!("missing argument for '{c}' option"),
                ));
            }
            Item::Unknown(c) | Item::Flag(c) | Item::Arg(c, _) => {
                return Ok(usage::error(out, "mount", &format!("invalid option '{c}'")));
            }
        }
    }
    let mut locked = store.lock()?;
    if all {
        if !targets.is_empty() {
            return Ok(usage::error(out, "mount", "too many arguments"));
        }
        let mut order: Vec<(String, String)> = locked
            .state
            .datasets
            .keys()
            .map(|n| (locked.state.mountpoint(n).0, n.clone()))
            .collect();
        order.sort();
        let mut rc = 0;
        for (_, ds) in order {
            if mount_one(store, &mut locked.state, &ds, false, out)? != 0 {
                rc = 1;
            }
        }
        locked.save()?;
        return Ok(rc);
    }
    match targets.as_slice() {
        [] => {
            for (name, ds) in &locked.state.datasets {
                if ds.mounted {
                    out.out(&format!(
                        "{name:<30}  {}\n",
                        locked.state.mountpoint(name).0
                    ));
                }
            }
            Ok(0)
        }
        [ds] => {
            if !locked.state.exists(ds) {
                out.cannot_open(ds);
                return Ok(1);
            }
            let rc = mount_one(store, &mut locked.state, ds, true, out)?;
            locked.save()?;
            Ok(rc)
        }
        _ => Ok(usage::error(out, "mount", "too many arguments")),
    }
}

/// `share_mount_one` for OP_MOUNT; returns 1 after printing an error.
fn mount_one(
    store: &Store,
    state: &mut State,
    ds: &str,
    explicit: bool,
    out: &mut Out,
) -> Result<i32> {
    let (mountpoint, _) = state.mountpoint(ds);
    let (canmount, _) = state.canmount(ds);
    let fail = |out: &mut Out, why: &str| {
        if explicit {
            out.err(&format!("cannot mount '{ds}': {why}\n"));
            1
        } else {
            0
        }
    };
    if mountpoint == "legacy" {
        return Ok(fail(
            out,
            "legacy mountpoint\nuse mount(8) to mount this filesystem",
        ));
    }
    if mountpoint == "none" {
        return Ok(fail(out, "no mountpoint set"));
    }
    if canmount == "off" {
        return Ok(fail(out, "'canmount' property is set to 'off'"));
    }
    if canmount == "noauto" && !explicit {
        return Ok(0);
    }
    if state.key_loaded(ds) == Some(false) {
        return Ok(fail(out, "encryption key not loaded"));
    }
    if state.is_mounted(ds) {
        return Ok(fail(out, "filesystem already mounted"));
    }
    if let Some(target) = mount_path(&mountpoint) {
        let data = store.data_dir(ds);
        fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        match fs::symlink_metadata(&target) {
            Ok(m) if m.file_type().is_symlink() => fs::remove_file(&target)?,
            Ok(m) if m.is_dir() => {
                // Like overlay=on, a directory holding only (empty) mountpoint
                // directories is mounted over; anything else cannot be
                // hidden behind a symlink.
                if !only_empty_dirs(&target) {
                    out.err(&format!(
                        "cannot mount '{mountpoint}': directory is not empty\n"
                    ));
                    return Ok(1);
                }
                fs::remove_dir_all(&target)
                    .with_context(|| format!("clearing {}", target.display()))?;
            }
            Ok(_) => {
                out.err(&format!("cannot mount '{mountpoint}': not a directory\n"));
                return Ok(1);
            }
            Err(_) => {}
        }
        std::os::unix::fs::symlink(&data, &target)
            .with_context(|| format!("linking {} to {}", target.display(), data.display()))?;
    }
    if let Some(d) = state.datasets.get_mut(ds) {
        d.mounted = true;
    }
    Ok(0)
}

/// True if `dir` holds nothing but directories that hold nothing else.
fn only_empty_dirs(dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    entries.into_iter().all(|e| {
        e.is_ok_and(|e| {
            e.file_type().is_ok_and(|t| t.is_dir() && !t.is_symlink()) && only_empty_dirs(&e.path())
        })
    })
}

/// Where a mountpoint lives on the host, only under `ZFS_SIM_MOUNT_ROOT`.
fn mount_path(mountpoint: &str) -> Option<PathBuf> {
    let root = std::env::var_os("ZFS_SIM_MOUNT_ROOT")?;
    Some(PathBuf::from(root).join(mountpoint.trim_start_matches('/')))
}

pub fn unmount(store: &Store, args: &[String], out: &mut Out) -> Result<i32> {
    let (items, targets) = getopt(args, "afu");
    let mut all = false;
    for item in items {
        match item {
            Item::Flag('a') => all = true,
            Item::Flag('f' | 'u') => {}
            Item::Unknown(c) | Item::Missing(c) | Item::Flag(c) | Item::Arg(c, _) => {
                return Ok(usage::error(
                    out,
                    "unmount",
                    &format!("invalid option '{c}'"),
                ));
            }
        }
    }
    let mut locked = store.lock()?;
    let victims: Vec<String> = if all {
        if !targets.is_empty() {
            return Ok(usage::error(out, "unmount", "too many arguments"));
        }
        locked
            .state
            .datasets
            .iter()
            .filter(|(_, d)| d.mounted)
            .map(|(n, _)| n.clone())
            .collect()
    } else {
        let ds = match targets.as_slice() {
            [] => return Ok(usage::error(out, "unmount", "missing filesystem argument")),
            [t] => t.clone(),
            _ => return Ok(usage::error(out, "unmount", "too many arguments")),
        };
        let ds = if ds.starts_with('/') {
            let found = locked
                .state
                .datasets
                .keys()
                .find(|n| locked.state.is_mounted(n) && locked.state.mountpoint(n).0 == ds)
                .cloned();
            match found {
                Some(n) => n,
                None => {
                    out.err(&format!(
                        "cannot unmount '{ds}': not a mounted ZFS filesystem\n"
                    ));
                    return Ok(1);
                }
            }
        } else {
            ds
        };
        if !locked.state.exists(&ds) {
            out.cannot_open(&ds);
            return Ok(1);
        }
        if locked.state.mountpoint(&ds).0 == "legacy" {
            out.err(&format!(
                "cannot unmount '{ds}': legacy mountpoint\nuse umount(8) to unmount this filesystem\n"
            ));
            return Ok(1);
        }
        if !locked.state.is_mounted(&ds) {
            out.err(&format!("cannot unmount '{ds}': not currently mounted\n"));
            return Ok(1);
        }
        let prefix = format!("{ds}/");
        locked
            .state
            .datasets
            .iter()
            .filter(|(n, d)| d.mounted && (**n == ds || n.starts_with(&prefix)))
            .map(|(n, _)| n.clone())
            .collect()
    };
    // Deepest mountpoints first.
    let mut order: Vec<(String, String)> = victims
        .into_iter()
        .map(|n| (locked.state.mountpoint(&n).0, n))
        .collect();
    order.sort();
    order.reverse();
    for (mountpoint, ds) in order {
        if let Some(target) = mount_path(&mountpoint) {
            if fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()) {
                fs::remove_file(&target)
                    .with_context(|| format!("removing {}", target.display()))?;
                fs::create_dir_all(&target)
                    .with_context(|| format!("creating {}", target.display()))?;
            }
        }
        if let Some(d) = locked.state.datasets.get_mut(&ds) {
            d.mounted = false;
        }
    }
    locked.save()?;
    Ok(0)
}
