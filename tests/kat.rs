//! keylink's own known-answer vectors (`test-vectors/keylink/`, format in
//! `test-vectors/README.md`): PQXDH setup with and without a one-time prekey, and a
//! 14-message conversation with ratchet steps both ways and out-of-order delivery, every header
//! encrypted (the Double Ratchet with header encryption).
//!
//! The checks (not ignored):
//! - every intermediate value is recomputed from the file's fixed inputs, once through keylink's
//!   own code (`keylink::hazmat::kat`) and once from the documented formulas with the bare
//!   primitives (`keylink::hazmat::primitives`), and compared with the recorded value;
//! - the conversation is replayed through the public API (`keylink::start_session`, `encrypt`,
//!   `decrypt` over `MemoryStore`) with an RNG that returns the recorded input bytes in order:
//!   the bundle and every message must be byte-identical to the recorded wire bytes, and every
//!   message must decrypt, in the recorded delivery order, to the recorded plaintext;
//! - the labels are keylink's: recomputing with another label gives different values.
//!
//! The generator (`#[ignore]`d) writes the files:
//! `cargo test --release --all-features --test kat -- --ignored`. Everything is deterministic,
//! so regenerating gives identical files.
//!
//! The vectors themselves are checked in `kat_pqxdh.rs` and `kat_conversation.rs`; this file
//! holds the generator, the regeneration check and the tampering check. Shared code:
//! `tests/common/kat/`.
#![cfg(test)]
#![cfg(feature = "hazmat")]

mod common;
#[path = "common/kat/mod.rs"]
mod kat;

use kat::*;
use serde_json::Value;

#[test]
#[ignore = "writes test-vectors/keylink/*.json; run with --ignored to regenerate"]
fn generate_vectors() {
    std::fs::create_dir_all(path()).unwrap();
    for vector in vectors() {
        let value = generate(&vector);
        let text = serde_json::to_string_pretty(&value).unwrap() + "\n";
        let file = format!("{}/{}", path(), vector.file);
        std::fs::write(&file, &text).unwrap();
        println!("wrote {file} ({} bytes)", text.len());
    }
}

/// The files in the directory are exactly the generated ones, and regenerating in memory
/// gives them byte for byte (everything is deterministic).
#[test]
fn regenerating_gives_identical_files() {
    for vector in vectors() {
        let text = serde_json::to_string_pretty(&generate(&vector)).unwrap() + "\n";
        let stored = std::fs::read_to_string(format!("{}/{}", path(), vector.file)).unwrap();
        assert!(
            text == stored,
            "{} differs from a regeneration",
            vector.file
        );
    }
}

/// The checker catches a change anywhere: a flipped bit in an input, an intermediate or an
/// output, or a reordered delivery, each makes the check fail.
#[test]
fn tampered_vectors_are_rejected() {
    let file = load("conversation.json");
    fn flip(v: &Value) -> Value {
        // Not byte 0: X25519 clamps its low bits, so flipping them changes no key.
        let mut b = bytes(v);
        b[1] ^= 1;
        hx(&b)
    }
    type Edit = Box<dyn Fn(&mut Value)>;
    let edits: Vec<(&str, Edit)> = vec![
        (
            "input",
            Box::new(|f| {
                f["inputs"]["kem_encapsulation_m"] = flip(&f["inputs"]["kem_encapsulation_m"])
            }),
        ),
        (
            "ratchet secret",
            Box::new(|f| {
                f["inputs"]["ratchet_key_secrets"]["B2"] =
                    flip(&f["inputs"]["ratchet_key_secrets"]["B2"])
            }),
        ),
        (
            "SK",
            Box::new(|f| f["setup"]["sk"] = flip(&f["setup"]["sk"])),
        ),
        (
            "root key",
            Box::new(|f| {
                f["ratchet_keys"][4]["next_root_key"] = flip(&f["ratchet_keys"][4]["next_root_key"])
            }),
        ),
        (
            "HKA",
            Box::new(|f| f["setup"]["hka"] = flip(&f["setup"]["hka"])),
        ),
        (
            "next header key",
            Box::new(|f| {
                f["ratchet_keys"][3]["next_header_key"] =
                    flip(&f["ratchet_keys"][3]["next_header_key"])
            }),
        ),
        (
            "header key",
            Box::new(|f| f["messages"][7]["header_key"] = flip(&f["messages"][7]["header_key"])),
        ),
        (
            "hk_nonce",
            Box::new(|f| f["messages"][8]["hk_nonce"] = flip(&f["messages"][8]["hk_nonce"])),
        ),
        (
            "h_nonce",
            Box::new(|f| f["messages"][1]["h_nonce"] = flip(&f["messages"][1]["h_nonce"])),
        ),
        (
            "encrypted header",
            Box::new(|f| f["messages"][10]["enc_header"] = flip(&f["messages"][10]["enc_header"])),
        ),
        (
            "message key",
            Box::new(|f| f["messages"][9]["message_key"] = flip(&f["messages"][9]["message_key"])),
        ),
        (
            "nonce",
            Box::new(|f| f["messages"][6]["nonce"] = flip(&f["messages"][6]["nonce"])),
        ),
        (
            "ciphertext",
            Box::new(|f| f["messages"][12]["ciphertext"] = flip(&f["messages"][12]["ciphertext"])),
        ),
        (
            "wire",
            Box::new(|f| f["messages"][2]["wire"] = flip(&f["messages"][2]["wire"])),
        ),
        (
            "plaintext",
            Box::new(|f| f["messages"][5]["plaintext"] = hx(b"m5!")),
        ),
        (
            "delivery order",
            Box::new(|f| {
                let events = f["events"].as_array_mut().unwrap();
                events.swap(3, 4);
            }),
        ),
    ];
    for (what, edit) in edits {
        let mut tampered = file.clone();
        edit(&mut tampered);
        let outcome = std::panic::catch_unwind(|| check_value("tampered", &tampered));
        assert!(outcome.is_err(), "a changed {what} went unnoticed");
    }
}
