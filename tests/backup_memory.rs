//! Peak memory of streaming a backup does not depend on its size.
//!
//! Each size runs in a child process (this test binary, re-run on `memory_child`), which
//! streams the data through `BackupWriter` into a pipe and back out of `BackupReader` in
//! another thread, and reports its peak resident set (`VmHWM` in `/proc/self/status`). The
//! crate forbids `unsafe`, so a counting global allocator is not an option; the peak RSS of
//! a fresh process measures the same thing and more (heap, stacks, buffers).
//!
//! Runs in release builds on Linux (CI: `cargo test --release --all-features`); in a debug
//! build 1 GiB of AES-GCM is too slow and the test returns early. Run alone with
//! `cargo test --release --test backup_memory -- --nocapture` to see the figures.
#![cfg(feature = "backup")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{self, Read};
use std::process::Command;

use keylink::backup::{BackupReader, BackupWriter, RecoveryCode};

const CHILD_VAR: &str = "KEYLINK_MEMORY_CHILD_BYTES";
const MIB: u64 = 1 << 20;

#[test]
fn peak_memory_is_the_same_for_100_mib_and_1_gib() {
    if cfg!(debug_assertions) || !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("skipped: needs a release build on Linux");
        return;
    }
    let small = child_peak_kib(100 * MIB);
    let large = child_peak_kib(1024 * MIB);
    println!("peak RSS: 100 MiB backup {small} KiB, 1 GiB backup {large} KiB");
    // Ten times the data, and the peak stays within 1 MiB (page-level noise).
    assert!(
        large.abs_diff(small) <= 1024,
        "peak memory grew with the backup: {small} KiB -> {large} KiB"
    );
}

/// Runs `memory_child` in a fresh process for `bytes` of data; its peak RSS in KiB.
fn child_peak_kib(bytes: u64) -> u64 {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "memory_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, bytes.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {stdout}");
    stdout
        .lines()
        .find_map(|l| l.split("PEAK_KIB ").nth(1))
        .unwrap_or_else(|| panic!("no figure from the child: {stdout}"))
        .trim()
        .parse()
        .unwrap()
}

/// The child's work: only does something when started by the test above.
#[test]
fn memory_child() {
    let Ok(bytes) = std::env::var(CHILD_VAR) else {
        return;
    };
    let bytes: u64 = bytes.parse().unwrap();
    let key = RecoveryCode::generate().unwrap().backup_key();
    let (from_pipe, into_pipe) = io::pipe().unwrap();
    let restored = std::thread::scope(|s| {
        s.spawn(|| {
            let mut w = BackupWriter::new(into_pipe, &key, b"m").unwrap();
            io::copy(&mut io::repeat(0x5a).take(bytes), &mut w).unwrap();
            w.finish().unwrap();
        });
        drain(BackupReader::new(from_pipe, &key, b"m").unwrap())
    });
    assert_eq!(restored, bytes);
    println!("PEAK_KIB {}", peak_rss_kib());
}

/// Reads everything, checking the bytes; how many there were.
fn drain(mut r: impl Read) -> u64 {
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0u64;
    loop {
        match r.read(&mut buf).unwrap() {
            0 => return total,
            n => {
                assert!(buf[..n].iter().all(|&b| b == 0x5a));
                total += n as u64;
            }
        }
    }
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}
