//! A `getopt(3)` work-alike (glibc flavour: options may follow operands,
//! `--` ends options), so errors come out in the same order as in zfs.

/// One item from the option scan, in argument order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Flag(char),
    Arg(char, String),
    /// Not in the option string (`optopt`).
    Unknown(char),
    /// An option that needs an argument came last.
    Missing(char),
}

/// Scans `args` against `spec` (`"d:o:rH"`: a `:` after a letter means it
/// takes an argument). Returns the option items and the operands.
pub fn getopt(args: &[String], spec: &str) -> (Vec<Item>, Vec<String>) {
    let takes_arg = |c: char| -> Option<bool> {
        let mut chars = spec.chars().peekable();
        while let Some(s) = chars.next() {
            let has = chars.peek() == Some(&':');
            if has {
                chars.next();
            }
            if s == c && s != ':' {
                return Some(has);
            }
        }
        None
    };
    let mut items = Vec::new();
    let mut operands = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            operands.extend(args[i..].iter().cloned());
            break;
        }
        if !a.starts_with('-') || a == "-" {
            operands.push(a.clone());
            continue;
        }
        let body: Vec<char> = a[1..].chars().collect();
        let mut j = 0;
        while j < body.len() {
            let c = body[j];
            j += 1;
            match takes_arg(c) {
                None => items.push(Item::Unknown(c)),
                Some(false) => items.push(Item::Flag(c)),
                Some(true) => {
                    if j < body.len() {
                        items.push(Item::Arg(c, body[j..].iter().collect()));
                    } else if i < args.len() {
                        items.push(Item::Arg(c, args[i].clone()));
                        i += 1;
                    } else {
                        items.push(Item::Missing(c));
                    }
                    break;
                }
            }
        }
    }
    (items, operands)
}
