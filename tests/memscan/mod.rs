//! Test helper: search another process's memory for a byte string.
//!
//! Reads `/proc/PID/maps` and then every readable mapping through
//! `/proc/PID/mem` (Linux). Needs ptrace access to the target: the same user
//! and a dumpable target, or root (CAP_SYS_PTRACE). Mappings that cannot be
//! read (`[vvar]`, guard pages, I/O memory) are skipped, not errors.
//!
//! Use it from an integration test with `mod memscan;`.

#![allow(dead_code)]

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Bytes read from the target at a time.
const CHUNK: usize = 1 << 20;

/// Every address in process `pid` where `needle` starts, with the name of
/// the mapping it lies in (its path, `[heap]`, `[stack]`, or `""` for
/// anonymous memory).
pub fn find_in_process_memory(pid: i32, needle: &[u8]) -> io::Result<Vec<(u64, String)>> {
    if needle.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty needle"));
    }
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    let mem = File::open(format!("/proc/{pid}/mem"))?;
    let mut hits = Vec::new();
    for line in maps.lines() {
        let Some(region) = Region::parse(line) else {
            continue;
        };
        if !region.readable
            || matches!(
                region.name.as_str(),
                "[vvar]" | "[vvar_vclock]" | "[vsyscall]"
            )
        {
            continue;
        }
        scan_region(&mem, &region, needle, &mut hits);
    }
    Ok(hits)
}

struct Region {
    start: u64,
    end: u64,
    readable: bool,
    name: String,
}

impl Region {
    /// Parses "start-end perms offset dev inode [name]".
    fn parse(line: &str) -> Option<Region> {
        let mut rest = line;
        let mut fields = Vec::with_capacity(5);
        for _ in 0..5 {
            rest = rest.trim_start();
            let end = rest.find(' ').unwrap_or(rest.len());
            fields.push(&rest[..end]);
            rest = &rest[end..];
        }
        let (start, end) = fields[0].split_once('-')?;
        Some(Region {
            start: u64::from_str_radix(start, 16).ok()?,
            end: u64::from_str_radix(end, 16).ok()?,
            readable: fields[1].starts_with('r'),
            name: rest.trim().to_owned(),
        })
    }
}

fn scan_region(mem: &File, region: &Region, needle: &[u8], hits: &mut Vec<(u64, String)>) {
    let overlap = needle.len() - 1;
    let mut buf = vec![0u8; CHUNK + overlap];
    let mut addr = region.start;
    // Bytes carried over from the previous chunk, so matches across chunk
    // boundaries are found.
    let mut carried = 0usize;
    while addr < region.end {
        let want = usize::try_from(region.end - addr)
            .unwrap_or(CHUNK)
            .min(CHUNK);
        let got = match mem.read_at(&mut buf[carried..carried + want], addr) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let window = &buf[..carried + got];
        let window_start = addr - carried as u64;
        for (i, w) in window.windows(needle.len()).enumerate() {
            if w == needle {
                hits.push((window_start + i as u64, region.name.clone()));
            }
        }
        carried = overlap.min(window.len());
        let keep_from = window.len() - carried;
        buf.copy_within(keep_from..keep_from + carried, 0);
        addr += got as u64;
    }
}
