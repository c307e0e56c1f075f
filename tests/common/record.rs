//! Records of real commands taken in the VM tier (`### NN $ CMD`, then
//! `--- rc=N` and the stdout and stderr blocks with their byte counts;
//! `######## BOOT` between boots), and the comparison of a simulator's
//! answer with one of them.

use std::process::Output;

/// One recorded command and what the real program answered.
pub struct Record {
    /// Which boot of the record it ran in (0 before the first `BOOT` line).
    pub boot: usize,
    pub number: String,
    pub command: String,
    pub rc: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Every record in `data`, in order.
pub fn parse(data: &[u8]) -> Vec<Record> {
    let mut records = Vec::new();
    let mut boot = 0;
    let mut pos = 0;
    let line_at = |pos: usize| -> (&[u8], usize) {
        let end = data[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(data.len(), |i| pos + i);
        (&data[pos..end], (end + 1).min(data.len()))
    };
    while pos < data.len() {
        let (line, next) = line_at(pos);
        pos = next;
        if line.starts_with(b"######## BOOT ") {
            boot += 1;
            continue;
        }
        let Some(head) = line.strip_prefix(b"### ") else {
            continue;
        };
        let head = String::from_utf8(head.to_vec()).expect("record header is UTF-8");
        let (number, command) = head.split_once(" $ ").expect("### NN $ CMD");
        let (rc_line, next) = line_at(pos);
        pos = next;
        let rc: i32 = std::str::from_utf8(rc_line)
            .ok()
            .and_then(|l| l.strip_prefix("--- rc="))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("record {number}: no rc line"));
        let mut block = |name: &str| -> Vec<u8> {
            let (l, next) = line_at(pos);
            let l = std::str::from_utf8(l).expect("block header is UTF-8");
            let n: usize = l
                .strip_prefix(&format!("--- {name} ("))
                .and_then(|r| r.strip_suffix(" bytes):"))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("record {number}: bad {name} header '{l}'"));
            let body = data[next..next + n].to_vec();
            // The probe adds a newline after a body that lacks one.
            pos = next + n;
            if n > 0 && data[next + n - 1] != b'\n' {
                pos += 1;
            }
            body
        };
        let stdout = block("stdout");
        let stderr = block("stderr");
        records.push(Record {
            boot,
            number: number.to_owned(),
            command: command.to_owned(),
            rc,
            stdout,
            stderr,
        });
    }
    records
}

fn show(b: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(b))
}

/// How the simulator's `out` differs from `real` (whose output, moved to
/// this host's paths, is `want_out` and `want_err`): `label`, then one
/// indented line or block per differing exit code, stdout and stderr;
/// None when they are the same.
pub fn difference(
    label: &str,
    real: &Record,
    out: &Output,
    want_out: &[u8],
    want_err: &[u8],
) -> Option<String> {
    let rc = out.status.code().unwrap_or(-1);
    let mut diffs = Vec::new();
    if rc != real.rc {
        diffs.push(format!("  rc: real {} sim {rc}", real.rc));
    }
    if out.stdout != want_out {
        diffs.push(format!(
            "  stdout:\n    real {}\n    sim  {}",
            show(want_out),
            show(&out.stdout)
        ));
    }
    if out.stderr != want_err {
        diffs.push(format!(
            "  stderr:\n    real {}\n    sim  {}",
            show(want_err),
            show(&out.stderr)
        ));
    }
    (!diffs.is_empty()).then(|| format!("{label}\n{}", diffs.join("\n")))
}
