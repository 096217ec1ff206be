//! Helpers shared by the integration tests: devices backed by a `MemoryStore` ([`device`]),
//! the one deterministic test RNG ([`rng`]), a store whose commit can be made to fail
//! ([`failing_store`]), crafted bundles ([`bundles`]), the two-party simulator ([`sim`]) and
//! mirrors of the private protobuf records ([`proto`]).
//!
//! Each test binary compiles this module and uses a different part of it.
#![allow(dead_code, unused_imports)]

pub mod bundles;
pub mod device;
pub mod failing_store;
pub mod lists;
pub mod proto;
pub mod rng;
pub mod server;
pub mod sim;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use bundles::*;
pub use device::*;
pub use failing_store::*;
pub use rng::TestRng;

/// The system RNG, as the crate's docs use it.
pub type SysRng = rand_core::UnwrapErr<getrandom::SysRng>;

/// A fresh handle to the system RNG (stateless, so a new one per call is fine).
pub fn rng() -> SysRng {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Position of `needle` in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Replace the single occurrence of `old` in `bytes` with `new` (same length).
pub fn replace(bytes: &mut [u8], old: &[u8], new: &[u8]) {
    assert_eq!(old.len(), new.len());
    let at = find(bytes, old).expect("pattern not found");
    assert!(
        find(&bytes[at + 1..], old).is_none(),
        "pattern occurs more than once"
    );
    bytes[at..at + old.len()].copy_from_slice(new);
}
