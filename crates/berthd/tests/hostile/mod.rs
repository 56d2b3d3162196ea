//! Building blocks of the hostile-input tests (cp_hostile.rs): raw tar
//! streams, decompression bombs, and the host-side canaries and scans.
#![allow(dead_code)]

pub mod bomb;
pub mod host;
pub mod tarb;

/// A short name unique to this run, for files the tests plant or aim at.
pub fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let n = N.fetch_add(1, Ordering::Relaxed);
    let x = t ^ ((std::process::id() as u64) << 32) ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    format!("{:06x}", (x ^ (x >> 24) ^ (x >> 48)) & 0xff_ffff)
}
