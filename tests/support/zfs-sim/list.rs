//! `zfs list [-Hp] [-r|-d max] [-o property[,...]] [-s property]...
//! [-S property]... [-t type[,...]] [dataset]...`

use crate::get::parse_types;
use crate::opts::{Item, getopt};
use crate::out::Out;
use crate::props::{self, Prop, Std};
use crate::select;
use crate::state::State;
use crate::usage;

pub fn run(state: &State, args: &[String], out: &mut Out) -> i32 {
    let (items, targets) = getopt(args, ":d:o:s:S:jrt:Hp");
    let mut literal = false;
    let mut scripted = false;
    let mut recurse = false;
    let mut depth = None;
    let mut fields = "name,used,available,referenced,mountpoint".to_owned();
    let mut filesystems = true;
    let mut reverse = false;
    for item in &items {
        match item {
            Item::Flag('p') => literal = true,
            Item::Flag('H') => scripted = true,
            Item::Flag('r') => recurse = true,
            Item::Flag('j') => {
                out.err("zfs-sim: -j (JSON output) is not simulated\n");
                return 2;
            }
            Item::Arg('d', v) => match select::parse_depth(v) {
                Ok(d) => {
                    depth = Some(d);
                    recurse = true;
                }
                Err(msg) => return usage::error(out, "list", &msg),
            },
            Item::Arg('o', v) => fields = v.clone(),
            Item::Arg(c @ ('s' | 'S'), v) => {
                if Prop::parse(v) != Some(Prop::Std(Std::Name)) {
                    out.err(&format!(
                        "zfs-sim: sorting by '{v}' is not simulated (only name)\n"
                    ));
                    return 2;
                }
                reverse = *c == 'S';
            }
            Item::Arg('t', v) => match parse_types(v) {
                Ok(fs) => filesystems = fs,
                Err(t) => return usage::error(out, "list", &format!("invalid type '{t}'")),
            },
            Item::Missing(c) => {
                return usage::error(out, "list", &format!("missing argument for '{c}' option"));
            }
            Item::Unknown(c) | Item::Flag(c) | Item::Arg(c, _) => {
                return usage::error(out, "list", &format!("invalid option '{c}'"));
            }
        }
    }
    let props = match props::parse_list(&fields) {
        Ok(p) => p,
        Err(bad) => {
            return usage::error(
                out,
                "list",
                &format!("bad property list: invalid property '{bad}'"),
            );
        }
    };

    let walk = select::walk(state, &targets, recurse, depth, out);
    let mut rc = i32::from(walk.open_failed);
    let mut names = walk.names;
    if !filesystems {
        if !recurse && !targets.is_empty() {
            for n in &names {
                out.err(&format!(
                    "cannot open '{n}': operation not applicable to datasets of this type\n"
                ));
            }
            rc = 1;
        }
        names.clear();
    }
    if reverse {
        names.reverse();
    }

    let rows: Vec<Vec<String>> = names
        .iter()
        .map(|n| {
            props
                .iter()
                .map(|p| props::value(state, n, p, literal).map_or_else(|| "-".to_owned(), |v| v.0))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = props
        .iter()
        .enumerate()
        .map(|(i, p)| {
            rows.iter()
                .map(|r| r[i].len())
                .fold(p.initial_width(), usize::max)
        })
        .collect();
    if !rows.is_empty() && !scripted {
        let headers: Vec<String> = props.iter().map(|p| p.header()).collect();
        print_row(out, &props, &headers, &widths, false);
    }
    for r in &rows {
        print_row(out, &props, r, &widths, scripted);
    }
    if rows.is_empty() && rc == 0 && !scripted {
        out.err("no datasets available\n");
    }
    rc
}

fn print_row(out: &mut Out, props: &[Prop], cells: &[String], widths: &[usize], scripted: bool) {
    let mut line = String::new();
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            line.push_str(if scripted { "\t" } else { "  " });
        }
        let right = props[i].right_aligned();
        if scripted || (i + 1 == cells.len() && !right) {
            line.push_str(cell);
        } else if right {
            line.push_str(&format!("{cell:>w$}", w = widths[i]));
        } else {
            line.push_str(&format!("{cell:<w$}", w = widths[i]));
        }
    }
    line.push('\n');
    out.out(&line);
}
