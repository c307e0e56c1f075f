//! Usage texts, as `zfs` prints them after a usage error (exit 2).
//!
//! The `get`, `list`, `load-key` and `unload-key` blocks are the recorded
//! OpenZFS 2.3.2 texts; `usage-properties.txt` is the property table copied
//! byte for byte from `tests/fixtures/zfs-reference/`. The `mount` and
//! `unmount` blocks follow the 2.3 sources but were not recorded.

use crate::out::Out;

const PROPERTIES: &str = include_str!("usage-properties.txt");

const FOOTER: &str = "\nFor the property list, run: zfs set|get\n\n\
For the delegated permission list, run: zfs allow|unallow\n\n\
For further help on a command or topic, run: zfs help [<topic>]\n";

fn synopsis(command: &str) -> &'static str {
    match command {
        "get" => {
            "\tget [-rHp] [-j [--json-int]] [-d max] [-o \"all\" | field[,...]]\n\
             \t    [-t type[,...]] [-s source[,...]]\n\
             \t    <\"all\" | property[,...]> [filesystem|volume|snapshot|bookmark] ...\n"
        }
        "list" => {
            "\tlist [-Hp] [-j [--json-int]] [-r|-d max] [-o property[,...]] [-s property]...\n\
             \t    [-S property]... [-t type[,...]] [filesystem|volume|snapshot] ...\n"
        }
        "load-key" => "\tload-key [-rn] [-L <keylocation>] <-a | filesystem|volume>\n",
        "unload-key" => "\tunload-key [-r] <-a | filesystem|volume>\n",
        "mount" => "\tmount [-j]\n\tmount [-flvO] [-o opts] <-a|-R filesystem|filesystem>\n",
        "unmount" => "\tunmount [-fu] <-a | filesystem|mountpoint>\n",
        _ => "",
    }
}

/// Prints `first_line` and the usage block of `command`; returns 2.
pub fn error(out: &mut Out, command: &str, first_line: &str) -> i32 {
    out.err(first_line);
    out.err("\n");
    out.err("usage:\n");
    out.err(synopsis(command));
    if command == "get" || command == "list" {
        out.err(PROPERTIES);
    } else {
        out.err(FOOTER);
    }
    2
}
