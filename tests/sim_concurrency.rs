//! The simulator under parallel `zfs load-key`: no lost updates, and the
//! configured key cost is real CPU time spent outside the state lock.

mod common;

use std::time::{Duration, Instant};

use common::{Sim, TIMEOUT};

fn pass(i: usize) -> Vec<u8> {
    format!("passphrase-{i:02}").into_bytes()
}

#[test]
fn parallel_load_key_on_many_roots_loses_no_update() {
    let sim = Sim::new();
    sim.pool("nest");
    let n = 16;
    for i in 0..n {
        sim.encrypted_root(&format!("nest/r{i:02}"), &pass(i));
        sim.child(&format!("nest/r{i:02}/data"));
    }
    sim.load_key_cost(Duration::from_millis(20));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let cmd = sim.command(&["load-key", &format!("nest/r{i:02}")]);
            let mut input = pass(i);
            input.push(b'\n');
            std::thread::spawn(move || common::run_with_input(cmd, &input, TIMEOUT))
        })
        .collect();
    for h in handles {
        let out = h.join().expect("load-key thread");
        assert!(out.status.success(), "{}", common::show(&out));
        assert!(
            out.stdout.is_empty() && out.stderr.is_empty(),
            "{}",
            common::show(&out)
        );
    }
    for i in 0..n {
        assert_eq!(
            sim.keystatus(&format!("nest/r{i:02}")),
            "available",
            "root {i}"
        );
        assert_eq!(
            sim.keystatus(&format!("nest/r{i:02}/data")),
            "available",
            "child {i}"
        );
    }
    assert_eq!(sim.count_calls("load-key"), n);
}

#[test]
fn racing_loads_of_one_root_succeed_once() {
    let sim = Sim::new();
    sim.pool("nest");
    sim.encrypted_root("nest/a", b"hunter2hunter2");
    sim.load_key_cost(Duration::from_millis(50));
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let cmd = sim.command(&["load-key", "nest/a"]);
            std::thread::spawn(move || common::run_with_input(cmd, b"hunter2hunter2\n", TIMEOUT))
        })
        .collect();
    let outs: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    let ok = outs.iter().filter(|o| o.status.success()).count();
    assert!(ok >= 1, "at least one load wins");
    for o in outs.iter().filter(|o| !o.status.success()) {
        assert_eq!(o.status.code(), Some(255));
        assert_eq!(
            o.stderr,
            b"Key load error: Key already loaded for 'nest/a'.\n"
        );
    }
    assert_eq!(sim.keystatus("nest/a"), "available");
}

#[test]
fn load_key_cost_burns_cpu_time() {
    let sim = Sim::new();
    sim.pool("nest");
    sim.encrypted_root("nest/a", b"hunter2hunter2");
    sim.load_key_cost(Duration::from_millis(300));
    let before = children_cpu();
    let out = common::run_with_input(
        sim.command(&["load-key", "nest/a"]),
        b"wrongpass1\n",
        TIMEOUT,
    );
    assert_eq!(out.status.code(), Some(255), "{}", common::show(&out));
    let spent = children_cpu() - before;
    assert!(
        spent >= Duration::from_millis(290),
        "a wrong key costs CPU too; spent {spent:?}"
    );
    // Failures before key derivation cost nothing.
    sim.load_key_cost(Duration::from_secs(5));
    let start = Instant::now();
    let out = common::run_with_input(sim.command(&["load-key", "nest"]), b"x\n", TIMEOUT);
    assert_eq!(out.status.code(), Some(255));
    assert!(
        start.elapsed() < Duration::from_millis(2500),
        "not encrypted: no derivation"
    );
}

/// User + system CPU time of reaped children of this process.
fn children_cpu() -> Duration {
    let u = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage");
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    tv(u.user_time()) + tv(u.system_time())
}

#[test]
fn key_cost_is_spent_outside_the_lock() {
    let sim = Sim::new();
    sim.pool("nest");
    sim.encrypted_root("nest/a", b"hunter2hunter2");
    sim.encrypted_root("nest/b", b"hunter2hunter2");
    let cost = Duration::from_millis(1500);
    sim.load_key_cost(cost);
    let cmd = sim.command(&["load-key", "nest/a"]);
    let slow =
        std::thread::spawn(move || common::run_timed(cmd, Some(b"hunter2hunter2\n"), TIMEOUT));
    std::thread::sleep(Duration::from_millis(300));
    // While nest/a's key is being derived, other calls get the lock at once.
    let start = Instant::now();
    let out = common::run_with_timeout(
        sim.command(&["get", "-H", "-o", "value", "keystatus", "nest/a"]),
        TIMEOUT,
    );
    let get_took = start.elapsed();
    assert_eq!(out.stdout, b"unavailable\n", "{}", common::show(&out));
    assert!(
        get_took < Duration::from_millis(1000),
        "get waited {get_took:?} for the lock"
    );
    let timed = slow.join().expect("thread");
    assert!(
        timed.output.status.success(),
        "{}",
        common::show(&timed.output)
    );
    assert!(timed.elapsed >= cost, "load-key took {:?}", timed.elapsed);
    assert_eq!(sim.keystatus("nest/a"), "available");
}

#[test]
fn parallel_attempts_overlap() {
    use std::io::Write;
    use std::process::Stdio;

    let sim = Sim::new();
    sim.pool("nest");
    sim.encrypted_root("nest/a", b"hunter2hunter2");
    sim.encrypted_root("nest/b", b"hunter3hunter3");
    let cost = Duration::from_millis(800);
    sim.load_key_cost(cost);
    let mut kids: Vec<_> = [
        ("nest/a", "hunter2hunter2\n"),
        ("nest/b", "hunter3hunter3\n"),
    ]
    .into_iter()
    .map(|(ds, p)| {
        let mut cmd = sim.command(&["load-key", ds]);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("spawning zfs-sim");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(p.as_bytes())
            .expect("writing the passphrase");
        child
    })
    .collect();
    // When the first attempt ends, the other one must already have burnt a
    // good part of its cost: had it waited for a lock, it would have burnt
    // nothing yet. CPU time, unlike wall time, does not depend on load.
    let deadline = Instant::now() + TIMEOUT;
    let other_cpu = 'outer: loop {
        for i in 0..2 {
            if let Some(status) = kids[i].try_wait().expect("try_wait") {
                assert!(status.success());
                break 'outer cpu_of(kids[1 - i].id());
            }
        }
        assert!(Instant::now() < deadline, "load-key did not finish");
        std::thread::sleep(Duration::from_millis(2));
    };
    for k in &mut kids {
        assert!(k.wait().expect("wait").success());
    }
    assert!(
        other_cpu >= cost / 3,
        "the second attempt had spent only {other_cpu:?} of CPU when the first ended"
    );
    assert_eq!(sim.keystatus("nest/a"), "available");
    assert_eq!(sim.keystatus("nest/b"), "available");
}

/// User + system CPU time of a live (or not yet reaped) process.
fn cpu_of(pid: u32) -> Duration {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("reading /proc/PID/stat");
    let after = &stat[stat.rfind(')').expect("comm field") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `after` starts at field 3.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as u64;
    Duration::from_millis(ticks * 1000 / hz)
}
