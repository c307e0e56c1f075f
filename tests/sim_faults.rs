//! The simulator's configurable faults.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use common::{Fault, Sim, TIMEOUT};

fn sim() -> Sim {
    let sim = Sim::new();
    sim.pool("nest");
    sim.encrypted_root("nest/a", b"hunter2hunter2");
    sim
}

const GET: &[&str] = &[
    "get",
    "-H",
    "-p",
    "-o",
    "name,property,value,source",
    "keystatus",
    "-r",
    "nest",
];

#[test]
fn hang_sleeps_until_killed() {
    let sim = sim();
    sim.fault("get", Fault::Hang);
    let t = common::run_timed(sim.command(GET), None, Duration::from_millis(700));
    assert!(t.timed_out);
    assert_eq!(t.output.status.signal(), Some(9));
    // Other subcommands are unaffected.
    let out = common::run_with_timeout(sim.command(&["list", "-H", "-o", "name"]), TIMEOUT);
    assert_eq!(out.stdout, b"nest\nnest/a\n");
}

#[test]
fn delay_then_normal_output() {
    let sim = sim();
    sim.fault("get", Fault::Delay(Duration::from_millis(400)));
    let start = Instant::now();
    let out = common::run_with_timeout(sim.command(GET), TIMEOUT);
    assert!(start.elapsed() >= Duration::from_millis(400));
    assert!(out.status.success());
    assert_eq!(
        out.stdout,
        b"nest\tkeystatus\t-\t-\nnest/a\tkeystatus\tunavailable\t-\n"
    );
}

#[test]
fn garbage_with_chosen_exit_code() {
    for rc in [0, 1] {
        let sim = sim();
        sim.fault("get", Fault::Garbage { rc });
        let out = common::run_with_timeout(sim.command(GET), TIMEOUT);
        assert_eq!(out.status.code(), Some(rc));
        assert!(!out.stdout.is_empty());
        assert!(!out.stdout.starts_with(b"nest\t"));
    }
}

#[test]
fn crash_by_signal() {
    for (name, num) in [("SEGV", 11), ("KILL", 9), ("ABRT", 6)] {
        let sim = sim();
        sim.fault("load-key", Fault::Crash(name));
        let out = common::run_with_input(
            sim.command(&["load-key", "nest/a"]),
            b"hunter2hunter2\n",
            TIMEOUT,
        );
        assert_eq!(out.status.signal(), Some(num), "{name}");
        assert_eq!(
            sim.keystatus("nest/a"),
            "unavailable",
            "crashed before loading"
        );
    }
}

#[test]
fn partial_output_keeps_state_changes() {
    let sim = sim();
    sim.fault(
        "get",
        Fault::Partial {
            bytes: None,
            rc: None,
        },
    );
    let out = common::run_with_timeout(sim.command(GET), TIMEOUT);
    let full = b"nest\tkeystatus\t-\t-\nnest/a\tkeystatus\tunavailable\t-\n";
    assert!(out.status.success());
    assert_eq!(out.stdout, full[..full.len() / 2]);

    sim.clear_faults();
    sim.fault(
        "load-key",
        Fault::Partial {
            bytes: Some(4),
            rc: Some(0),
        },
    );
    let out = common::run_with_input(
        sim.command(&["load-key", "-r", "nest"]),
        b"hunter2hunter2\n",
        TIMEOUT,
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, b"1 / ");
    assert_eq!(sim.keystatus("nest/a"), "available");
}

#[test]
fn fail_prints_and_exits() {
    let sim = sim();
    sim.fault(
        "*",
        Fault::Fail {
            rc: 3,
            stderr: "internal error: boom\n".to_owned(),
        },
    );
    let out = common::run_with_timeout(sim.command(&["list"]), TIMEOUT);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(out.stderr, b"internal error: boom\n");
    assert!(out.stdout.is_empty());
}

#[test]
fn times_limits_a_fault_to_the_first_calls() {
    let sim = sim();
    sim.fault_times("get", Fault::Garbage { rc: 1 }, 2);
    let codes: Vec<_> = (0..4)
        .map(|_| {
            common::run_with_timeout(sim.command(GET), TIMEOUT)
                .status
                .code()
        })
        .collect();
    assert_eq!(codes, [Some(1), Some(1), Some(0), Some(0)]);
}

#[test]
fn umount_matches_unmount_faults() {
    let sim = sim();
    sim.fault(
        "unmount",
        Fault::Fail {
            rc: 7,
            stderr: String::new(),
        },
    );
    let out = common::run_with_timeout(sim.command(&["umount", "-a"]), TIMEOUT);
    assert_eq!(out.status.code(), Some(7));
}
