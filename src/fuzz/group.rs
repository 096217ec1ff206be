//! Entry point of the `sender_key` fuzz target: the parsers of PROTOCOL.md §13 fed arbitrary
//! bytes, and a receiver's state (§13.3) fed arbitrary group messages, honest ones mutated,
//! and honest ones in any order.
//!
//! The sender, its identity and its first honest messages are built once per process from
//! fixed seeds, so every input sees the same keys.
//!
//! Oracles: no panic; a parsed structure re-encodes to the bytes it came from; a failed
//! decryption leaves the receiver's stored bytes unchanged; only the honest messages
//! decrypt, each to its own plaintext, once (then `DuplicateMessage`).

use std::sync::OnceLock;

use zeroize::Zeroizing;

use super::FuzzRng;
use crate::error::Error;
use crate::group::{GroupId, InboundGroupSession, SenderKey, SenderKeyDistribution};
use crate::keys::IdentityKeyPair;

/// Honest messages the fixture holds.
const HONEST: usize = 8;

/// Most deliveries one input runs.
const MAX_STEPS: usize = 64;

struct GroupFixture {
    receiver: Zeroizing<Vec<u8>>,
    messages: Vec<Vec<u8>>,
}

fn plaintext(i: usize) -> Vec<u8> {
    format!("group message {i}").into_bytes()
}

fn group_fixture() -> Option<&'static GroupFixture> {
    static FIXTURE: OnceLock<Option<GroupFixture>> = OnceLock::new();
    FIXTURE.get_or_init(build_group_fixture).as_ref()
}

fn build_group_fixture() -> Option<GroupFixture> {
    let rng = &mut FuzzRng::new(0x0047_524f_5550);
    let identity = IdentityKeyPair::from_seed(&[0x47; 32]);
    let group = GroupId::new(b"fuzz group".to_vec()).ok()?;
    let mut sender = SenderKey::new(group, 1, rng);
    let distribution = SenderKeyDistribution::from_bytes(&sender.distribution().to_bytes()).ok()?;
    let receiver = InboundGroupSession::new(distribution, *identity.public()).to_bytes();
    let messages = (0..HONEST)
        .map(|i| sender.encrypt(identity.public(), &plaintext(i)))
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    Some(GroupFixture { receiver, messages })
}

/// `data[0] % 4` picks the test: parse `data[1..]` as each structure; decrypt it; decrypt an
/// honest message mutated as `data[1..]` says; or deliver honest messages in the order
/// `data[1..]` gives.
pub fn fuzz_sender_key(data: &[u8]) {
    let (Some(f), Some((&selector, rest))) = (group_fixture(), data.split_first()) else {
        return;
    };
    match selector % 4 {
        0 => parse_all(rest),
        1 => decrypt_once(f, rest),
        2 => decrypt_mutated(f, rest),
        _ => deliver(f, rest),
    }
}

fn parse_all(data: &[u8]) {
    if let Ok(d) = SenderKeyDistribution::from_bytes(data) {
        assert_eq!(d.to_bytes().as_slice(), data, "distribution not canonical");
    }
    if let Ok(s) = SenderKey::from_bytes(data) {
        assert_eq!(s.to_bytes().as_slice(), data, "sending state not canonical");
    }
    if let Ok(r) = InboundGroupSession::from_bytes(data) {
        assert_eq!(
            r.to_bytes().as_slice(),
            data,
            "receiving state not canonical"
        );
    }
}

/// Decrypt `message` into `receiver`; a failure must change nothing, a success must be an
/// honest message's plaintext.
fn decrypt(f: &GroupFixture, receiver: &mut InboundGroupSession, message: &[u8]) -> bool {
    let before = receiver.to_bytes();
    match receiver.decrypt(message) {
        Ok(opened) => {
            let i = f.messages.iter().position(|m| m.as_slice() == message);
            assert!(i.is_some(), "a message that is not an honest one decrypted");
            let expected = i.map(plaintext);
            assert_eq!(Some(opened.to_vec()), expected, "wrong plaintext");
            true
        }
        Err(e) => {
            assert_eq!(
                before,
                receiver.to_bytes(),
                "a failed decryption changed the state"
            );
            assert!(matches!(
                e,
                Error::Malformed(_)
                    | Error::UnknownVersion { .. }
                    | Error::DecryptionFailed
                    | Error::DuplicateMessage
            ));
            false
        }
    }
}

fn receiver(f: &GroupFixture) -> Option<InboundGroupSession> {
    InboundGroupSession::from_bytes(&f.receiver).ok()
}

fn decrypt_once(f: &GroupFixture, data: &[u8]) {
    if let Some(mut r) = receiver(f) {
        decrypt(f, &mut r, data);
    }
}

/// `data[0]` picks the honest message; then pairs `(position, xor)` flip its bytes.
fn decrypt_mutated(f: &GroupFixture, data: &[u8]) {
    let Some((&pick, flips)) = data.split_first() else {
        return;
    };
    let Some(honest) = f.messages.get(usize::from(pick) % HONEST) else {
        return;
    };
    let mut message = honest.clone();
    for pair in flips.chunks_exact(2) {
        if let (Some(&at), Some(&xor)) = (pair.first(), pair.get(1)) {
            let len = message.len();
            if let Some(byte) = message.get_mut(usize::from(at) % len) {
                *byte ^= xor;
            }
        }
    }
    let Some(mut r) = receiver(f) else {
        return;
    };
    let ok = decrypt(f, &mut r, &message);
    assert_eq!(ok, message == *honest, "a mutated message decrypted");
}

/// Each byte delivers honest message `byte % 8`; the high bit flips its last byte first.
fn deliver(f: &GroupFixture, data: &[u8]) {
    let Some(mut r) = receiver(f) else {
        return;
    };
    let mut delivered = [false; HONEST];
    for &byte in data.iter().take(MAX_STEPS) {
        let i = usize::from(byte) % HONEST;
        let Some(mut message) = f.messages.get(i).cloned() else {
            return;
        };
        if byte & 0x80 != 0
            && let Some(last) = message.last_mut()
        {
            *last ^= 1;
        }
        let ok = decrypt(f, &mut r, &message);
        let Some(seen) = delivered.get_mut(i) else {
            return;
        };
        let fresh = byte & 0x80 == 0 && !*seen;
        assert_eq!(ok, fresh, "message {i}: decrypted {ok}, expected {fresh}");
        *seen |= ok;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn corpus() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/sender_key")
    }

    #[test]
    fn sender_key_seed_corpus_replays() {
        assert!(
            group_fixture().is_some(),
            "the group fixture could not be built"
        );
        let mut count = 0;
        for file in std::fs::read_dir(corpus()).unwrap() {
            fuzz_sender_key(&std::fs::read(file.unwrap().path()).unwrap());
            count += 1;
        }
        assert!(count > 0, "no seeds for sender_key");
    }

    #[test]
    #[ignore = "writes fuzz/corpus/sender_key"]
    fn write_seed_corpus() {
        let f = group_fixture().unwrap();
        let sender = SenderKey::new(
            GroupId::new(b"g".to_vec()).unwrap(),
            1,
            &mut FuzzRng::new(1),
        );
        let seeds: Vec<(&str, Vec<u8>)> = vec![
            (
                "distribution",
                [&[0][..], &sender.distribution().to_bytes()].concat(),
            ),
            ("sending-state", [&[0][..], &sender.to_bytes()].concat()),
            ("receiving-state", [&[0][..], &f.receiver].concat()),
            ("message", [&[1][..], &f.messages[0]].concat()),
            ("mutated", vec![2, 3, 40, 1]),
            ("deliver", vec![3, 2, 0, 1, 0x81, 7, 2, 5]),
            ("empty", Vec::new()),
        ];
        std::fs::create_dir_all(corpus()).unwrap();
        for (name, bytes) in seeds {
            std::fs::write(corpus().join(name), bytes).unwrap();
        }
    }
}
