//! keylink's own known-answer vectors for PQXDH setup (`test-vectors/keylink/`, format in
//! `test-vectors/README.md`), with and without a one-time prekey. What the checker does is
//! described in `tests/kat.rs`.
#![cfg(test)]
#![cfg(feature = "hazmat")]

mod common;
#[path = "common/kat/mod.rs"]
mod kat;

use kat::*;

#[test]
fn pqxdh_with_one_time_prekey() {
    let file = load("pqxdh_with_one_time_prekey.json");
    assert!(!file["setup"]["dh4"].is_null());
    check_file("pqxdh_with_one_time_prekey.json");
}

#[test]
fn pqxdh_without_one_time_prekey() {
    let file = load("pqxdh_without_one_time_prekey.json");
    assert!(file["setup"]["dh4"].is_null());
    assert!(file["inputs"]["bob_one_time_prekey_secret"].is_null());
    check_file("pqxdh_without_one_time_prekey.json");
}
