//! `keygate check` with `[[luks]]` devices: their state (open, closed,
//! missing) next to the encryption roots, as a table and as JSON, and the
//! exit code.

mod common;
mod kit;
mod luks_kit;

use common::{Sim, TIMEOUT, run_with_timeout};
use kit::{keygate, stdout_of};
use luks_kit::Luks;

const PASS: &[u8] = b"hunter2hunter2";

fn layout() -> (Sim, Luks) {
    let (sim, luks) = luks_kit::nest(PASS);
    luks.device("/dev/md1", &[PASS], b"key");
    luks.device("/dev/vdb", &[b"key"], b"");
    luks.device("/dev/vdc", &[b"key"], b"");
    (sim, luks)
}

const CONFIG: &str = "[[luks]]\nname = \"keyfile\"\ndevice = \"/dev/md1\"\n\
    [[luks]]\nname = \"crypt0\"\ndevice = \"/dev/vdb\"\nkey = \"/dev/mapper/keyfile\"\n\
    [[luks]]\nname = \"crypt1\"\ndevice = \"/dev/vdc\"\nkey = \"/dev/mapper/keyfile\"\n";

fn check(sim: &Sim, luks: &Luks, config: &str, json: bool) -> std::process::Output {
    let mut args = vec!["check"];
    if json {
        args.push("--json");
    }
    let mut cmd = keygate(sim, &args);
    luks.apply(&mut cmd, &luks.config(config));
    run_with_timeout(cmd, TIMEOUT)
}

#[test]
fn closed_devices_are_shown_and_fail_the_check() {
    let (sim, luks) = layout();
    let out = check(&sim, &luks, CONFIG, false);
    assert_eq!(out.status.code(), Some(1), "{}", common::show(&out));
    assert_eq!(
        stdout_of(&out),
        "LUKS     DEVICE    KEY                  STATE\n\
         keyfile  /dev/md1  passphrase           closed\n\
         crypt0   /dev/vdb  /dev/mapper/keyfile  closed\n\
         crypt1   /dev/vdc  /dev/mapper/keyfile  closed\n\
         \n\
         ROOT    KEYSTATUS    KEYFORMAT   KEYLOCATION  DATASETS\n\
         nest/a  unavailable  passphrase  prompt       nest/a\n"
    );
}

#[test]
fn after_boot_a_closed_key_device_is_fine() {
    let (sim, luks) = layout();
    luks.open_before("/dev/vdb", "crypt0");
    luks.open_before("/dev/vdc", "crypt1");
    sim.load("nest/a");
    let out = check(&sim, &luks, CONFIG, true);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert_eq!(
        stdout_of(&out),
        "{\"luks\":[\
         {\"name\":\"keyfile\",\"device\":\"/dev/md1\",\"key\":\"passphrase\",\"state\":\"closed\",\"pending\":false},\
         {\"name\":\"crypt0\",\"device\":\"/dev/vdb\",\"key\":\"/dev/mapper/keyfile\",\"state\":\"open\",\"pending\":false},\
         {\"name\":\"crypt1\",\"device\":\"/dev/vdc\",\"key\":\"/dev/mapper/keyfile\",\"state\":\"open\",\"pending\":false}],\
         \"roots\":[{\"name\":\"nest/a\",\"keystatus\":\"available\",\"keyformat\":\"passphrase\",\"keylocation\":\"prompt\",\"datasets\":[\"nest/a\"]}],\"locked\":[]}\n"
    );
}

#[test]
fn a_missing_device_is_shown_and_is_a_configuration_error() {
    let (sim, luks) = layout();
    let config = CONFIG.replace("/dev/vdc", "/dev/vdx");
    let out = check(&sim, &luks, &config, false);
    assert_eq!(out.status.code(), Some(2), "{}", common::show(&out));
    assert!(
        stdout_of(&out).contains("crypt1   /dev/vdx  /dev/mapper/keyfile  missing\n"),
        "{}",
        stdout_of(&out)
    );
}

#[test]
fn without_luks_the_output_is_unchanged() {
    let (sim, luks) = layout();
    let out = check(&sim, &luks, "", false);
    assert_eq!(out.status.code(), Some(1), "{}", common::show(&out));
    assert!(stdout_of(&out).starts_with("ROOT "), "{}", stdout_of(&out));
}
