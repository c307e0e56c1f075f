//! Starting the sources that ask: a prompt on each console, and a request
//! for systemd's password agents.

use std::sync::mpsc::Sender;

use crate::cli::Mode;
use crate::keystore::Chains;
use crate::plan::Plan;
use crate::service::Manager;
use crate::settings::GateSettings;
use crate::sources::{Event, ask_password, board, console as console_source};
use crate::terminal::Console;

use super::session::Session;
use super::{ASK_PASSWORD_DIR, consoles};

impl Session<'_> {
    /// Open the consoles and start one prompting thread per console. Consoles
    /// that cannot be opened are reported and left out; with none left the
    /// gate waits.
    pub fn start_prompts(&mut self, plan: &Plan, events_tx: Sender<Event>) {
        let roots = self.typed_roots(plan);
        if roots.is_empty() {
            self.reporter
                .info("no locked root takes a typed passphrase; waiting for the keys instead");
            return;
        }
        let under_systemd = self.ctx.manager == Manager::Systemd;
        let ask = self.args.ask_password.unwrap_or(under_systemd);
        // systemd's console agent already asks on every active console: keygate
        // prompts there itself only on consoles named explicitly.
        let agent_consoles = ask && under_systemd;
        // In wait mode only the agents are asked (see `gate::run`).
        let mut paths =
            if self.args.mode == Mode::Wait || (agent_consoles && self.args.consoles.is_empty()) {
                Vec::new()
            } else if self.args.initramfs {
                consoles::kernel_and(&self.ctx.host, &self.args.consoles)
            } else {
                consoles::prompt_consoles(&self.ctx.host, &self.args.consoles)
            };
        if agent_consoles {
            paths.retain(|p| {
                let taken = consoles::is_active_console(&self.ctx.host, p);
                if taken {
                    self.reporter.info(&format!(
                        "not prompting on {} myself: systemd's console agent asks there",
                        p.display()
                    ));
                }
                !taken
            });
        }
        let mut opened = Vec::new();
        for path in &paths {
            match Console::open(path) {
                Ok(c) => opened.push(c),
                Err(e) if self.args.mode == Mode::Prompt => {
                    self.reporter.warn(&format!("{e}; not prompting there"))
                }
                Err(e) => self.reporter.info(&format!("{e}; not prompting there")),
            }
        }
        if opened.is_empty() && !ask {
            self.reporter
                .warn("no console could be opened to prompt on; waiting for the keys instead");
            return;
        }
        let board = match board::Board::new(roots) {
            Ok(b) => b,
            Err(e) => {
                self.reporter.warn(&format!(
                    "cannot start prompting: {e}; waiting for the keys instead"
                ));
                return;
            }
        };
        for console in opened {
            let name = console.name().to_string();
            match console_source::spawn(console, board.clone(), events_tx.clone(), self.args.tries)
            {
                Ok(source) => {
                    self.add_source(source);
                    self.prompted = true;
                }
                Err(e) => self.reporter.warn(&format!("cannot prompt on {name}: {e}")),
            }
        }
        if ask {
            let dir = self.ctx.host.path(ASK_PASSWORD_DIR);
            match ask_password::spawn(&dir, board.clone(), events_tx, not_after_usec(self.args)) {
                Ok(source) => self.add_source(source),
                Err(e) => self.reporter.warn(&format!(
                    "cannot ask through systemd's password agents ({}): {e}",
                    dir.display()
                )),
            }
        }
        if self.sources.is_empty() {
            return;
        }
        let names: Vec<String> = self.sources.iter().map(|c| c.id.to_string()).collect();
        self.reporter.info(&format!(
            "asking for the passphrase of {} on {}",
            asked_for(&board.roots(), &self.chains),
            names.join(", ")
        ));
        self.board = Some(board);
    }
}

/// What the prompts really ask for, in words: each root asked about, and for
/// a keystore the roots whose keys it holds (directly or through keystores
/// inside it), e.g. `nest/keys (keystore of nest/a, nest/b)`.
fn asked_for(roots: &[String], chains: &Chains) -> String {
    let words: Vec<String> = roots
        .iter()
        .map(|root| {
            let opens: Vec<&str> = chains
                .keystores()
                .iter()
                .filter(|k| k.chain.contains(root))
                .flat_map(|k| k.dependants.iter().map(|d| d.root.as_str()))
                .collect();
            if opens.is_empty() {
                root.clone()
            } else {
                format!("{root} (keystore of {})", opens.join(", "))
            }
        })
        .collect();
    words.join(", ")
}

/// CLOCK_MONOTONIC µs after which agents should stop asking (0: never).
fn not_after_usec(args: &GateSettings) -> u64 {
    let Some(timeout) = args.timeout else {
        return 0;
    };
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
        Ok(now) => {
            let now_us = (now.tv_sec() as u64) * 1_000_000 + (now.tv_nsec() as u64) / 1_000;
            now_us + timeout.as_micros() as u64
        }
        Err(_) => 0,
    }
}
