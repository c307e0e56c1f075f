//! Buffered output of one invocation, written when the command is done.

use std::io::Write;

#[derive(Default)]
pub struct Out {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Out {
    pub fn out(&mut self, s: &str) {
        self.stdout.extend_from_slice(s.as_bytes());
    }

    pub fn err(&mut self, s: &str) {
        self.stderr.extend_from_slice(s.as_bytes());
    }

    /// `cannot open 'X': dataset does not exist`
    pub fn cannot_open(&mut self, name: &str) {
        self.err(&format!("cannot open '{name}': dataset does not exist\n"));
    }

    /// Writes stderr, then stdout (as zfs does on pipes: stdout is buffered
    /// until exit, stderr is not).
    pub fn flush(&self) {
        let _ = std::io::stderr().write_all(&self.stderr);
        let mut so = std::io::stdout().lock();
        let _ = so.write_all(&self.stdout);
        let _ = so.flush();
    }
}
