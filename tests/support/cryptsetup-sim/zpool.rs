//! zpool-sim: `zpool list -H -o name`, `zpool import` (scan) and `zpool
//! import -N POOL` over the cryptsetup simulator's state: a pool imports
//! only while all of its mapper devices are open.

use std::process::exit;

use cryptsetup_sim::{State, die, lock, log_call, maybe_hang, state_dir};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = state_dir();
    log_call(&dir, "zpool", &args);
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let _guard = lock(&dir);
    let mut state = State::read(&dir);
    let present = |state: &State, p: &cryptsetup_sim::Pool| {
        p.mappers.iter().all(|m| state.mapping(m).is_some())
    };
    match words.as_slice() {
        ["list", "-H", "-o", "name"] => {
            maybe_hang(&dir, "list");
            for p in state.pools.iter().filter(|p| p.imported) {
                println!("{}", p.name);
            }
        }
        ["import"] => {
            maybe_hang(&dir, "import");
            let found: Vec<_> = state
                .pools
                .iter()
                .filter(|p| !p.imported && present(&state, p))
                .collect();
            if found.is_empty() {
                eprintln!("no pools available to import");
                exit(1);
            }
            for p in found {
                println!(
                    "   pool: {}\n     id: 1\n  state: ONLINE\n action: The pool can be imported using its name or numeric identifier.\n config:\n\n\t{}  ONLINE\n",
                    p.name, p.name
                );
            }
        }
        ["import", "-N", name] => {
            maybe_hang(&dir, "import");
            let Some(i) = state.pools.iter().position(|p| p.name == *name) else {
                eprintln!("cannot import '{name}': no such pool available");
                exit(1);
            };
            if state.pools[i].imported {
                eprintln!("cannot import '{name}': a pool with that name already exists");
                eprintln!(
                    "use the form 'zpool import <pool | id> <newpool>' to give it a new name"
                );
                exit(1);
            }
            if !present(&state, &state.pools[i]) {
                eprintln!("cannot import '{name}': no such pool available");
                exit(1);
            }
            state.pools[i].imported = true;
            state
                .write(&dir)
                .unwrap_or_else(|e| die(&format!("cannot write the state: {e}")));
        }
        _ => die(&format!("unsupported zpool call: {}", args.join(" "))),
    }
}
