//! SMF: exit codes from <smf_method.h> and the `svcadm clear` that resumes.

/// SMF_EXIT_ERR_FATAL: the service goes to maintenance and its dependents
/// (system/filesystem/local) wait.
pub const EXIT_ERR_FATAL: i32 = 95;
/// SMF_EXIT_ERR_CONFIG: the service is misconfigured.
pub const EXIT_ERR_CONFIG: i32 = 96;

pub fn fix_command(load: &str, fmri: &str) -> String {
    format!("{load} && svcadm clear {fmri}")
}
