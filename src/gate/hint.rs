//! The words of the hint: what is locked and the exact command that fixes it.

use crate::plan::Plan;
use crate::service::load_key_command;

fn roots_phrase(plan: &Plan) -> String {
    let locked = plan.locked_names();
    let datasets: usize = plan.locked().map(|r| r.datasets.len()).sum();
    let roots = if locked.len() == 1 {
        "encryption root".to_string()
    } else {
        format!("{} encryption roots", locked.len())
    };
    let sets = if datasets == 1 { "dataset" } else { "datasets" };
    format!("{roots} {} ({datasets} {sets})", locked.join(", "))
}

/// Hint mode: the boot is held until someone runs `fix`.
pub fn hold_lines(plan: &Plan, fix: &str) -> Vec<String> {
    vec![
        format!(
            "encryption keys not loaded for {}; holding the boot so nothing starts on empty mountpoints",
            roots_phrase(plan)
        ),
        format!("Run '{fix}'"),
    ]
}

/// Wait mode: someone loads the keys elsewhere and the boot goes on.
pub fn wait_lines(plan: &Plan) -> Vec<String> {
    vec![
        format!("waiting for the keys of {}", roots_phrase(plan)),
        format!(
            "Load them from another shell with '{}'; the boot continues by itself",
            load_key_command(&plan.locked_names())
        ),
    ]
}

pub fn all_loaded(plan: &Plan) -> String {
    match plan.roots.len() {
        0 => "no encryption roots to unlock".to_string(),
        1 => "the key of 1 encryption root is loaded".to_string(),
        n => format!("the keys of all {n} encryption roots are loaded"),
    }
}

/// systemd STATUS= while waiting.
pub fn waiting_status(plan: &Plan) -> String {
    format!(
        "Waiting for keys: {} (load with: {})",
        plan.locked_names().join(", "),
        load_key_command(&plan.locked_names())
    )
}
