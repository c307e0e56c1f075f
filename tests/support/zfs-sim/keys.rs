//! What `load-key` and `unload-key` share: option parsing (one getopt
//! string, as in `load_unload_keys`) and the summary line.

use crate::opts::{Item, getopt};
use crate::out::Out;
use crate::usage;

pub struct KeyOpts {
    pub all: bool,
    /// `-r` or `-a`: visit only encryption roots not yet in the end state.
    pub recursive: bool,
    /// `-r`: descend from the targets.
    pub recurse: bool,
    pub noop: bool,
    pub keylocation: Option<String>,
    pub targets: Vec<String>,
}

/// Parses the options; `Err(rc)` after printing a usage error.
pub fn parse(args: &[String], load: bool, out: &mut Out) -> Result<KeyOpts, i32> {
    let command = if load { "load-key" } else { "unload-key" };
    let (items, targets) = getopt(args, "anrL:");
    let mut o = KeyOpts {
        all: false,
        recursive: false,
        recurse: false,
        noop: false,
        keylocation: None,
        targets,
    };
    for item in items {
        match (load, item) {
            (true, Item::Flag('n')) => o.noop = true,
            (true, Item::Arg('L', v)) => o.keylocation = Some(v),
            (_, Item::Flag('a')) => {
                o.all = true;
                o.recursive = true;
            }
            (_, Item::Flag('r')) => {
                o.recurse = true;
                o.recursive = true;
            }
            // getopt's optopt: the letter for unknown options and missing
            // arguments, NUL for letters it accepted but zfs then refuses.
            (_, Item::Unknown(c) | Item::Missing(c)) => {
                return Err(usage::error(out, command, &format!("invalid option '{c}'")));
            }
            (_, Item::Flag(_) | Item::Arg(..)) => {
                return Err(usage::error(out, command, "invalid option '\0'"));
            }
        }
    }
    if !o.all && o.targets.is_empty() {
        return Err(usage::error(
            out,
            command,
            "Missing dataset argument or -a option",
        ));
    }
    if o.all && !o.targets.is_empty() {
        return Err(usage::error(
            out,
            command,
            "Cannot specify dataset with -a option",
        ));
    }
    if o.recursive && o.keylocation.as_deref().is_some_and(|l| l != "prompt") {
        return Err(usage::error(
            out,
            command,
            "alternate keylocation may only be 'prompt' with -r or -a",
        ));
    }
    Ok(o)
}

/// Prints `N / M key(s) successfully WHAT` when zfs does.
pub fn summary(out: &mut Out, o: &KeyOpts, attempted: usize, failed: usize, what: &str) {
    if o.noop || (o.recursive && attempted != 0) {
        out.out(&format!(
            "{} / {} key(s) successfully {what}\n",
            attempted - failed,
            attempted
        ));
    }
}

/// The exit code: 255 (-1) after any key failure, else 1 after open failures.
pub fn exit_code(failed: usize, open_failed: bool) -> i32 {
    if failed != 0 {
        255
    } else {
        i32::from(open_failed)
    }
}
