//! `zfs get [-rHp] [-d max] [-o field[,...]] [-t type[,...]] [-s source[,...]]
//! <"all" | property[,...]> [dataset]...`

use crate::opts::{Item, getopt};
use crate::out::Out;
use crate::props::{self, ALL, Prop};
use crate::select;
use crate::state::{Source, State};
use crate::usage;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    Name,
    Property,
    Value,
    Received,
    Source,
}

/// Parses a `-t` list; `Err(bad)` names an invalid type. Returns whether
/// filesystems are included.
pub fn parse_types(s: &str) -> Result<bool, String> {
    let mut fs = false;
    for t in s.split(',') {
        match t {
            "filesystem" | "all" => fs = true,
            "volume" | "snapshot" | "snap" | "bookmark" => {}
            _ => return Err(t.to_owned()),
        }
    }
    Ok(fs)
}

pub fn run(state: &State, args: &[String], out: &mut Out) -> i32 {
    let (items, operands) = getopt(args, ":d:o:s:jrt:Hp");
    let mut literal = false;
    let mut scripted = false;
    let mut recurse = false;
    let mut depth = None;
    let mut cols = vec![Col::Name, Col::Property, Col::Value, Col::Source];
    let mut sources: Option<Vec<&str>> = None;
    let mut filesystems = true;
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
                Err(msg) => return usage::error(out, "get", &msg),
            },
            Item::Arg('o', v) => {
                cols.clear();
                for f in v.split(',') {
                    match f {
                        "name" => cols.push(Col::Name),
                        "property" => cols.push(Col::Property),
                        "value" => cols.push(Col::Value),
                        "received" => cols.push(Col::Received),
                        "source" => cols.push(Col::Source),
                        "all" => cols.extend([
                            Col::Name,
                            Col::Property,
                            Col::Value,
                            Col::Received,
                            Col::Source,
                        ]),
                        _ => {
                            return usage::error(out, "get", &format!("invalid column name '{f}'"));
                        }
                    }
                }
                if cols.len() > 5 {
                    return usage::error(out, "get", "too many fields given to -o option");
                }
            }
            Item::Arg('s', v) => {
                let mut list = Vec::new();
                for s in v.split(',') {
                    match s {
                        "local" | "default" | "inherited" | "received" | "temporary" | "none" => {
                            list.push(match s {
                                "none" => "-",
                                other => other,
                            })
                        }
                        _ => return usage::error(out, "get", &format!("invalid source '{s}'")),
                    }
                }
                sources = Some(list);
            }
            Item::Arg('t', v) => match parse_types(v) {
                Ok(fs) => filesystems = fs,
                Err(t) => return usage::error(out, "get", &format!("invalid type '{t}'")),
            },
            Item::Missing(c) => {
                return usage::error(out, "get", &format!("missing argument for '{c}' option"));
            }
            Item::Unknown(c) | Item::Flag(c) | Item::Arg(c, _) => {
                return usage::error(out, "get", &format!("invalid option '{c}'"));
            }
        }
    }
    let Some((fields, targets)) = operands.split_first() else {
        return usage::error(out, "get", "missing property argument");
    };
    let (props, all) = if fields == "all" {
        (ALL.iter().map(|p| Prop::Std(*p)).collect::<Vec<_>>(), true)
    } else {
        match props::parse_list(fields) {
            Ok(p) => (p, false),
            Err(bad) => {
                return usage::error(
                    out,
                    "get",
                    &format!("bad property list: invalid property '{bad}'"),
                );
            }
        }
    };

    let walk = select::walk(state, targets, recurse, depth, out);
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

    // One row per (dataset, property), with its value, before filtering.
    struct Row {
        name: String,
        prop: String,
        value: String,
        source: Source,
    }
    let mut rows = Vec::new();
    let mut value_width = "VALUE".len();
    let mut name_width = "NAME".len();
    let mut prop_width = "PROPERTY".len();
    let mut prop_widths: Vec<usize> = props.iter().map(|p| p.initial_width()).collect();
    for n in &names {
        name_width = name_width.max(n.len());
        for (i, p) in props.iter().enumerate() {
            let v = props::value(state, n, p, literal);
            if v.is_none() && all {
                continue;
            }
            let (value, source) = v.unwrap_or_else(|| ("-".to_owned(), Source::None));
            prop_widths[i] = prop_widths[i].max(value.len());
            rows.push(Row {
                name: n.clone(),
                prop: p.name().to_owned(),
                value,
                source,
            });
        }
    }
    for (i, p) in props.iter().enumerate() {
        prop_width = prop_width.max(p.name().len());
        value_width = value_width.max(prop_widths[i]);
    }
    let mut source_width = "SOURCE".len();
    if name_width > "NAME".len() {
        source_width = name_width + "inherited from".len();
    }
    let width = |c: Col| match c {
        Col::Name => name_width,
        Col::Property => prop_width,
        Col::Value => value_width,
        Col::Received => "RECEIVED".len(),
        Col::Source => source_width,
    };

    let mut first = true;
    for row in &rows {
        let src = row.source.display();
        if let Some(filter) = &sources {
            let kind = match &row.source {
                Source::None => "-",
                Source::Default => "default",
                Source::Local => "local",
                Source::Inherited(_) => "inherited",
            };
            if !filter.contains(&kind) {
                continue;
            }
        }
        if first && !scripted {
            let titles: Vec<&str> = cols
                .iter()
                .map(|c| match c {
                    Col::Name => "NAME",
                    Col::Property => "PROPERTY",
                    Col::Value => "VALUE",
                    Col::Received => "RECEIVED",
                    Col::Source => "SOURCE",
                })
                .collect();
            print_cells(out, &cols, &titles, false, &width);
        }
        first = false;
        let cells: Vec<&str> = cols
            .iter()
            .map(|c| match c {
                Col::Name => row.name.as_str(),
                Col::Property => row.prop.as_str(),
                Col::Value => row.value.as_str(),
                Col::Received => "-",
                Col::Source => src.as_str(),
            })
            .collect();
        print_cells(out, &cols, &cells, scripted, &width);
    }
    rc
}

fn print_cells(
    out: &mut Out,
    cols: &[Col],
    cells: &[&str],
    scripted: bool,
    width: &dyn Fn(Col) -> usize,
) {
    let mut line = String::new();
    for (i, (c, s)) in cols.iter().zip(cells).enumerate() {
        if i + 1 == cols.len() {
            line.push_str(s);
        } else if scripted {
            line.push_str(s);
            line.push('\t');
        } else {
            line.push_str(&format!("{s:<w$}  ", w = width(*c)));
        }
    }
    line.push('\n');
    out.out(&line);
}
