//! Real key-provider components for tests/providers.rs: a Tang server
//! (Debian's tangd behind socat on 127.0.0.1, its keys made by
//! tangd-keygen in a temporary directory), a software TPM (swtpm with its
//! TCP command and control ports), and `clevis encrypt` against them. Every
//! process runs under a [`ChildGuard`] and everything lives in temporary
//! directories.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{ChildGuard, SpawnGuarded, TIMEOUT, run_with_input, skip};
use crate::kit::eventually;

pub const TANGD: &str = "/usr/libexec/tangd";
pub const TANGD_KEYGEN: &str = "/usr/libexec/tangd-keygen";

/// Whether every program is there; if not the test is skipped (it fails
/// under CI=true). The caller returns at once on `false`.
#[must_use]
pub fn have(programs: &[&str]) -> bool {
    for p in programs {
        let found = if p.starts_with('/') {
            Path::new(p).is_file()
        } else {
            std::env::var_os("PATH")
                .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(p).is_file()))
        };
        if !found {
            skip(&format!("{p} is not installed"));
            return false;
        }
    }
    true
}

/// The programs the Tang cases need.
pub const TANG_TOOLS: &[&str] = &[
    "socat",
    TANGD,
    TANGD_KEYGEN,
    "clevis",
    "clevis-encrypt-tang",
    "curl",
];
/// The programs the TPM cases need.
pub const TPM_TOOLS: &[&str] = &[
    "swtpm",
    "clevis",
    "clevis-encrypt-tpm2",
    "tpm2_createprimary",
];

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Two consecutive free ports (swtpm's command port and its control port,
/// which the `swtpm:` TCTI expects at the command port + 1).
pub fn free_port_pair() -> u16 {
    loop {
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = a.local_addr().unwrap().port();
        if p < u16::MAX && TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
}

fn wait_for_port(port: u16, what: &str) {
    assert!(
        eventually(Duration::from_secs(20), || TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "{what} never listened on 127.0.0.1:{port}"
    );
}

/// A real Tang server on 127.0.0.1.
pub struct Tang {
    dir: tempfile::TempDir,
    pub port: u16,
    server: Option<ChildGuard>,
}

impl Tang {
    pub fn start() -> Tang {
        let dir = tempfile::Builder::new().prefix("tang-").tempdir().unwrap();
        let db = dir.path().join("db");
        std::fs::create_dir(&db).unwrap();
        let out = crate::common::run_with_timeout(
            {
                let mut c = Command::new(TANGD_KEYGEN);
                c.arg(&db);
                c
            },
            TIMEOUT,
        );
        assert!(
            out.status.success(),
            "tangd-keygen: {}",
            crate::common::show(&out)
        );
        let mut tang = Tang {
            dir,
            port: 0,
            server: None,
        };
        tang.serve();
        tang
    }

    /// (Re)start serving on a fresh port.
    fn serve(&mut self) {
        let port = free_port();
        let server = Command::new("socat")
            .arg(format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"))
            .arg(format!("EXEC:{TANGD} {}", self.db().display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn_guarded();
        wait_for_port(port, "socat/tangd");
        self.port = port;
        self.server = Some(server);
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("db")
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The thumbprint of the signing key: the name of the key file that
    /// verifies.
    pub fn thp(&self) -> String {
        for e in std::fs::read_dir(self.db()).unwrap().flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap();
            if text.contains("\"verify\"") {
                return e.path().file_stem().unwrap().to_string_lossy().into_owned();
            }
        }
        panic!("no signing key in {}", self.db().display());
    }

    /// The clevis tang pin configuration for this server.
    pub fn config(&self) -> String {
        format!("{{\"url\":\"{}\",\"thp\":\"{}\"}}", self.url(), self.thp())
    }

    /// Stop serving (the server is down; its port refuses connections).
    pub fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            drop(s);
        }
        assert!(
            eventually(Duration::from_secs(10), || TcpStream::connect((
                "127.0.0.1",
                self.port
            ))
            .is_err()),
            "the Tang server still answers"
        );
    }
}

/// A real software TPM 2.0, reached through the `swtpm:` TCTI.
pub struct Swtpm {
    _dir: tempfile::TempDir,
    pub port: u16,
    _server: ChildGuard,
}

impl Swtpm {
    pub fn start() -> Swtpm {
        let dir = tempfile::Builder::new().prefix("swtpm-").tempdir().unwrap();
        let port = free_port_pair();
        let server = Command::new("swtpm")
            .args(["socket", "--tpm2"])
            .arg(format!("--server=type=tcp,port={port},bindaddr=127.0.0.1"))
            .arg(format!(
                "--ctrl=type=tcp,port={},bindaddr=127.0.0.1",
                port + 1
            ))
            .arg(format!("--tpmstate=dir={}", dir.path().display()))
            .args(["--flags", "startup-clear"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn_guarded();
        wait_for_port(port, "swtpm");
        Swtpm {
            _dir: dir,
            port,
            _server: server,
        }
    }

    /// What tpm2-tools (and so clevis-tpm2) are told in `TPM2TOOLS_TCTI`.
    pub fn tcti(&self) -> String {
        format!("swtpm:host=127.0.0.1,port={}", self.port)
    }
}

/// `clevis encrypt PIN CONFIG` of `secret` (on stdin), with `envs`; the JWE.
pub fn encrypt(pin: &str, config: &str, secret: &[u8], envs: &[(&str, String)]) -> Vec<u8> {
    let mut c = Command::new("clevis");
    c.args(["encrypt", pin, config]);
    for (k, v) in envs {
        c.env(k, v);
    }
    let out = run_with_input(c, secret, TIMEOUT);
    assert!(
        out.status.success(),
        "clevis encrypt: {}",
        crate::common::show(&out)
    );
    out.stdout
}

/// `clevis decrypt` of `jwe`, with `envs`: the plaintext, or None.
pub fn decrypt(jwe: &[u8], envs: &[(&str, String)]) -> Option<Vec<u8>> {
    let mut c = Command::new("clevis");
    c.arg("decrypt");
    for (k, v) in envs {
        c.env(k, v);
    }
    let out = run_with_input(c, jwe, TIMEOUT);
    out.status.success().then_some(out.stdout)
}
