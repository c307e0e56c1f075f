//! cryptsetup-sim: the `cryptsetup` subcommands keygate uses, with the
//! texts and exit codes of cryptsetup 2.6.1 (see lib.rs for the state).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::exit;

use cryptsetup_sim::{Mapping, State, config, die, lock, log_call, maybe_hang, state_dir};

#[derive(Default)]
struct Opts {
    kind: Option<String>,
    key_file: Option<String>,
    discards: bool,
    readonly: bool,
    header: Option<String>,
    words: Vec<String>,
}

fn parse(args: &[String]) -> Opts {
    let mut o = Opts::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        let mut value = |name: &str| -> Option<String> {
            if let Some(v) = a.strip_prefix(&format!("{name}=")) {
                return Some(v.to_string());
            }
            if a == name {
                i += 1;
                return Some(args.get(i).cloned().unwrap_or_default());
            }
            None
        };
        if let Some(v) = value("--type") {
            o.kind = Some(v);
        } else if let Some(v) = value("--key-file") {
            o.key_file = Some(v);
        } else if let Some(v) = value("--header") {
            o.header = Some(v);
        } else if a == "--allow-discards" {
            o.discards = true;
        } else if a == "--readonly" || a == "-r" {
            o.readonly = true;
        } else if a == "-q" || a == "--batch-mode" {
        } else if a.starts_with('-') && a != "-" {
            die(&format!("unsupported option {a}"));
        } else {
            o.words.push(a.clone());
        }
        i += 1;
    }
    o
}

fn fail(code: i32, msg: &str) -> ! {
    eprintln!("{msg}");
    exit(code);
}

/// The device as cryptsetup resolves it (symlinks followed).
fn resolve(p: &str) -> PathBuf {
    Path::new(p)
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from(p))
}

fn known<'a>(state: &'a State, dev: &str) -> Option<&'a cryptsetup_sim::Device> {
    let want = resolve(dev);
    state
        .devices
        .iter()
        .find(|d| resolve(&d.path.to_string_lossy()) == want)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = state_dir();
    log_call(&dir, "cryptsetup", &args);
    let o = parse(&args);
    let Some(action) = o.words.first().cloned() else {
        die("no action")
    };
    maybe_hang(&dir, &action);
    let rest = &o.words[1..];
    match action.as_str() {
        "isLuks" => is_luks(&dir, &o, rest),
        "status" => status(&dir, rest),
        "open" => open(&dir, &o, rest),
        "close" => close(&dir, rest),
        other => die(&format!("unsupported action {other}")),
    }
}

fn is_luks(dir: &Path, o: &Opts, rest: &[String]) {
    let [dev] = rest else {
        die("isLuks needs one device")
    };
    let header = o.header.as_deref().unwrap_or(dev);
    if !Path::new(dev).exists() || !Path::new(header).exists() {
        fail(
            4,
            &format!(
                "Device {} does not exist or access denied.",
                o.header
                    .as_deref()
                    .filter(|h| !Path::new(h).exists())
                    .unwrap_or(dev)
            ),
        );
    }
    let state = State::read(dir);
    if known(&state, header).is_none() {
        exit(1);
    }
    exit(0);
}

fn status(dir: &Path, rest: &[String]) {
    let [name] = rest else {
        die("status needs one name")
    };
    let state = State::read(dir);
    let Some(m) = state.mapping(name) else {
        println!("/dev/mapper/{name} is inactive.");
        exit(4);
    };
    let in_use = state
        .pools
        .iter()
        .any(|p| p.imported && p.mappers.iter().any(|n| n == name));
    let size = std::fs::metadata(&m.device)
        .map(|md| md.len() / 512)
        .unwrap_or(0);
    println!(
        "/dev/mapper/{name} is active{}.",
        if in_use { " and is in use" } else { "" }
    );
    println!("  type:    LUKS2");
    println!("  cipher:  aes-xts-plain64");
    println!("  keysize: 512 bits");
    println!("  key location: keyring");
    println!("  device:  {}", m.device.display());
    println!("  sector size:  512");
    println!("  offset:  32768 sectors");
    println!("  size:    {} sectors", size.saturating_sub(32768));
    println!(
        "  mode:    {}",
        if m.readonly { "readonly" } else { "read/write" }
    );
    if m.discards {
        // Real cryptsetup ends the flags line with a space.
        println!("  flags:   discards ");
    }
    exit(0);
}

fn open(dir: &Path, o: &Opts, rest: &[String]) {
    let [dev, name] = rest else {
        die("open needs a device and a name")
    };
    if let Some(k) = &o.kind
        && k != "luks"
        && k != "luks2"
    {
        die(&format!("unsupported --type {k}"));
    }
    if name.contains('/') {
        fail(1, &format!("Name \"{name}\" invalid. It contains \"/\"."));
    }
    let header = o.header.as_deref().unwrap_or(dev);
    for p in [header, dev.as_str()] {
        if !Path::new(p).exists() {
            fail(4, &format!("Device {p} does not exist or access denied."));
        }
    }
    let _guard = lock(dir);
    let mut state = State::read(dir);
    let Some(device) = known(&state, header).cloned() else {
        fail(1, &format!("Device {header} is not a valid LUKS device."));
    };
    if state.mapping(name).is_some() {
        fail(5, &format!("Device {name} already exists."));
    }
    let real = resolve(dev);
    if state
        .active
        .iter()
        .any(|m| resolve(&m.device.to_string_lossy()) == real)
    {
        fail(
            5,
            &format!("Cannot use device {dev} which is in use (already mapped or mounted)."),
        );
    }
    // The key is read once the device and the name have passed.
    let key: Vec<u8> = match o.key_file.as_deref() {
        Some("-") | None => {
            let mut buf = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut buf);
            if buf.is_empty() {
                fail(1, "Nothing to read on input.");
            }
            buf
        }
        Some(path) => std::fs::read(path).unwrap_or_else(|_| fail(1, "Failed to open key file.")),
    };
    let cost = config(dir)
        .iter()
        .find_map(|l| l.strip_prefix("open-cost-ms ")?.trim().parse::<u64>().ok())
        .unwrap_or(0);
    std::thread::sleep(std::time::Duration::from_millis(
        cost * device.keys.len().max(1) as u64,
    ));
    if !device.keys.contains(&key) {
        fail(2, "No key available with this passphrase.");
    }
    state.active.push(Mapping {
        name: name.clone(),
        device: real,
        readonly: o.readonly,
        discards: o.discards,
    });
    state
        .write(dir)
        .unwrap_or_else(|e| die(&format!("cannot write the state: {e}")));
    std::fs::write(dir.join("mapper").join(name), &device.data)
        .unwrap_or_else(|e| die(&format!("cannot write the mapping: {e}")));
    exit(0);
}

fn close(dir: &Path, rest: &[String]) {
    let [name] = rest else {
        die("close needs one name")
    };
    let _guard = lock(dir);
    let mut state = State::read(dir);
    if state.mapping(name).is_none() {
        fail(4, &format!("Device {name} is not active."));
    }
    // `busy NAME` in config: something holds the device open.
    let busy = config(dir)
        .iter()
        .any(|l| l.trim() == format!("busy {name}"));
    if busy
        || state
            .pools
            .iter()
            .any(|p| p.imported && p.mappers.iter().any(|n| n == name))
    {
        fail(5, &format!("Device {name} is still in use."));
    }
    state.active.retain(|m| m.name != *name);
    state
        .write(dir)
        .unwrap_or_else(|e| die(&format!("cannot write the state: {e}")));
    let _ = std::fs::remove_file(dir.join("mapper").join(name));
    exit(0);
}
