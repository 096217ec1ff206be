#![cfg(test)]
//! Signed device lists (PROTOCOL.md §11.6): issuing, verifying, the rollback and fork rules,
//! what a new list adds and removes, and the adversarial cases: a ghost device added by the
//! server, a list for another number, an entry signed by another account, six devices.

mod common;

use ed25519_dalek::{Signer, SigningKey};
use keylink::Error;
use keylink::Timestamp;
use keylink::account::{
    AccountKeyPair, DeviceEntry, PhoneNumber, SignedDeviceList, VerifiedDeviceList,
};
use keylink::keys::IdentityKeyPair;
use proptest::prelude::*;

const T0: Timestamp = Timestamp::from_unix_millis(1_800_000_000_000);

fn phone(text: &str) -> PhoneNumber {
    PhoneNumber::parse(text).unwrap()
}

fn account(seed: u8) -> AccountKeyPair {
    AccountKeyPair::from_bytes(&[&[0x14, 0x0A, 0x20][..], &[seed; 32]].concat()).unwrap()
}

fn identity(seed: u8) -> IdentityKeyPair {
    IdentityKeyPair::from_bytes(&[&[0x18, 0x0A, 0x20][..], &[seed; 32]].concat()).unwrap()
}

/// Bob's account: key `0xB0`, primary identity `0x01`, number +447700900123.
struct Bob {
    account: AccountKeyPair,
    phone: PhoneNumber,
    primary: IdentityKeyPair,
}

fn bob() -> Bob {
    Bob {
        account: account(0xB0),
        phone: phone("+447700900123"),
        primary: identity(0x01),
    }
}

impl Bob {
    fn first_list(&self) -> VerifiedDeviceList {
        let primary = DeviceEntry::primary(&self.account, &self.primary, T0);
        let list = SignedDeviceList::issue(&self.account, &self.phone, 1, T0, vec![primary]);
        list.unwrap().verify(&self.phone).unwrap()
    }

    /// Device `id` with identity `seed`, linked by the primary and countersigned by itself.
    fn companion(&self, id: u32, seed: u8) -> DeviceEntry {
        let device = identity(seed);
        let authorization = self.account.authorize_device(id, device.public(), T0);
        let device_sig = authorization.countersign(&device).unwrap();
        authorization.complete(device_sig).unwrap()
    }

    fn received(&self, list: &SignedDeviceList) -> Result<VerifiedDeviceList, Error> {
        SignedDeviceList::try_from(list.to_bytes().as_slice())?.verify(&self.phone)
    }
}

#[test]
fn a_first_list_is_trusted_on_first_use_and_round_trips() {
    let bob = bob();
    let list = bob.first_list();
    let bytes = list.signed().to_bytes();
    assert_eq!(bytes.first(), Some(&0x16));
    let parsed = SignedDeviceList::try_from(bytes.as_slice()).unwrap();
    assert_eq!(parsed.to_bytes(), bytes);
    let changes = list.changes_since(None).unwrap();
    assert!(changes.is_first());
    assert_eq!(changes.added.len(), 1);
    assert_eq!(list.devices()[0].device_id().get(), 1);
    assert!(list.lists(1, bob.primary.public()));
}

#[test]
fn linking_and_removing_a_companion_are_new_versions() {
    let bob = bob();
    let v1 = bob.first_list();
    let laptop = bob.companion(2, 0x02);
    let v2 = v1.with_device(&bob.account, laptop.clone(), T0).unwrap();
    let v2 = bob.received(&v2).unwrap();
    assert_eq!(v2.version(), 2);
    let changes = v2.changes_since(Some(&v1)).unwrap();
    assert_eq!(
        (changes.previous, changes.added, changes.removed.len()),
        (Some(1), vec![laptop.clone()], 0)
    );
    let v3 = bob
        .received(&v2.without_device(&bob.account, 2, T0).unwrap())
        .unwrap();
    let changes = v3.changes_since(Some(&v2)).unwrap();
    assert_eq!(changes.removed, vec![laptop]);
    assert!(changes.added.is_empty());
    // The same list again changes nothing.
    assert!(v3.changes_since(Some(&v3)).unwrap().is_same_list());
}

#[test]
fn an_older_list_is_a_rollback() {
    let bob = bob();
    let v1 = bob.first_list();
    let v2 = bob
        .received(
            &v1.with_device(&bob.account, bob.companion(2, 0x02), T0)
                .unwrap(),
        )
        .unwrap();
    let v3 = bob
        .received(&v2.without_device(&bob.account, 2, T0).unwrap())
        .unwrap();
    // A server withholding v3 (which dropped a stolen laptop) and replaying v2.
    let err = v2.changes_since(Some(&v3)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::DeviceListRollback {
                accepted: 3,
                offered: 2
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("keep the accepted one"));
}

#[test]
fn two_lists_of_one_version_are_a_fork() {
    let bob = bob();
    let v1 = bob.first_list();
    let a = bob
        .received(
            &v1.with_device(&bob.account, bob.companion(2, 0x02), T0)
                .unwrap(),
        )
        .unwrap();
    let b = bob
        .received(
            &v1.with_device(&bob.account, bob.companion(3, 0x03), T0)
                .unwrap(),
        )
        .unwrap();
    let err = b.changes_since(Some(&a)).unwrap_err();
    assert!(matches!(err, Error::DeviceListFork { version: 2 }), "{err}");
}

#[test]
fn a_list_for_another_number_is_refused() {
    let bob = bob();
    let list = bob.first_list().signed().clone();
    let err = list.verify(&phone("+14155550100")).unwrap_err();
    assert!(matches!(err, Error::DeviceListForAnotherNumber), "{err}");
}

#[test]
fn a_ghost_device_added_by_the_server_is_refused() {
    let bob = bob();
    let mallory = Bob {
        account: account(0x66),
        phone: bob.phone.clone(),
        primary: identity(0x08),
    };
    // The server's device, vouched for by another account key: Bob's key does not verify it.
    let ghost = mallory.companion(2, 0x09);
    let devices = vec![
        DeviceEntry::primary(&bob.account, &bob.primary, T0),
        ghost.clone(),
    ];
    let err = SignedDeviceList::issue(&bob.account, &bob.phone, 2, T0, devices).unwrap_err();
    assert!(matches!(err, Error::InvalidSignature(_)), "{err}");
    // Nor can the server slip it, with its signatures, into Bob's signed list.
    let theirs = mallory
        .first_list()
        .with_device(&mallory.account, ghost, T0)
        .unwrap();
    let theirs: ListProto = common::proto::decode(&theirs.to_bytes());
    let mut wire: ListProto = common::proto::decode(&bob.first_list().signed().to_bytes());
    wire.devices.push(theirs.devices[1].clone());
    let forged = common::proto::encode(0x16, &wire);
    let forged = SignedDeviceList::try_from(forged.as_slice()).unwrap();
    let err = forged.verify(&bob.phone).unwrap_err();
    assert!(
        matches!(err, Error::InvalidSignature("device list")),
        "{err}"
    );
    // And re-signing needs Bob's account key: a list signed by another key is another
    // account (the account-trust check refuses it for Bob's number).
}

#[test]
fn a_companion_signature_by_another_key_is_refused() {
    let bob = bob();
    let laptop = identity(0x02);
    let authorization = bob.account.authorize_device(2, laptop.public(), T0);
    // Another device countersigns: refused before signing.
    let err = authorization.countersign(&identity(0x03)).unwrap_err();
    assert!(matches!(err, Error::InvalidKey(_)), "{err}");
    // A signature that is not the laptop's: refused when completing.
    let wrong = authorization.countersign(&laptop).map(|mut s| {
        s[0] ^= 1;
        s
    });
    let err = authorization.complete(wrong.unwrap()).unwrap_err();
    assert!(matches!(err, Error::InvalidSignature(_)), "{err}");
}

#[test]
fn structural_problems_are_named() {
    let bob = bob();
    let primary = DeviceEntry::primary(&bob.account, &bob.primary, T0);
    let mut six = vec![primary.clone()];
    six.extend((2..=6).map(|id| bob.companion(id, 0x10 + id as u8)));
    let cases: Vec<(Vec<DeviceEntry>, &str)> = vec![
        (six, "1 to 5 devices"),
        (vec![], "1 to 5 devices"),
        (vec![bob.companion(2, 0x02)], "no primary device"),
        (
            vec![primary.clone(), primary.clone()],
            "repeated or out of order",
        ),
        (
            vec![primary.clone(), bob.companion(2, 0x01)],
            "an identity key on two devices",
        ),
    ];
    for (devices, words) in cases {
        let err = SignedDeviceList::issue(&bob.account, &bob.phone, 1, T0, devices).unwrap_err();
        assert!(matches!(err, Error::Malformed(_)), "{err}");
        assert!(err.to_string().contains(words), "{err}");
    }
    // A device whose identity key is the account key.
    let same = identity(0xB0);
    let entry = {
        let a = bob.account.authorize_device(2, same.public(), T0);
        let device_sig = a.countersign(&same).unwrap();
        a.complete(device_sig).unwrap()
    };
    let err =
        SignedDeviceList::issue(&bob.account, &bob.phone, 1, T0, vec![primary, entry]).unwrap_err();
    assert!(
        err.to_string().contains("equal to the account key"),
        "{err}"
    );
}

#[test]
fn a_new_account_key_starts_afresh() {
    let bob = bob();
    let v5 = {
        let mut list = bob.first_list();
        for _ in 0..4 {
            list = bob
                .received(&list.without_device(&bob.account, 9, T0).unwrap())
                .unwrap();
        }
        list
    };
    assert_eq!(v5.version(), 5);
    // Bob reinstalls: a new account key, version 1 again. (Whether to trust the new key is
    // the account-trust check; the list itself starts a new baseline.)
    let again = Bob {
        account: account(0xB1),
        ..bob
    };
    let fresh = again.first_list();
    assert!(fresh.changes_since(Some(&v5)).unwrap().is_first());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any change to a list's bytes is refused (as malformed, with a bad key, or by a
    /// signature), and never panics.
    #[test]
    fn tampered_lists_never_verify(at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let bob = bob();
        let v2 = bob.first_list().with_device(&bob.account, bob.companion(2, 0x02), T0).unwrap();
        let mut bytes = v2.to_bytes();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let verified = SignedDeviceList::try_from(bytes.as_slice()).and_then(|l| l.verify(&bob.phone));
        prop_assert!(verified.is_err());
    }
}

/// Mirrors of the wire records, for the forgery test.
#[derive(Clone, PartialEq, prost::Message)]
struct ListProto {
    #[prost(bytes = "vec", tag = "1")]
    account_key: Vec<u8>,
    #[prost(string, tag = "2")]
    phone: String,
    #[prost(uint64, tag = "3")]
    version: u64,
    #[prost(uint64, tag = "4")]
    issued_at: u64,
    #[prost(message, repeated, tag = "5")]
    devices: Vec<EntryProto>,
    #[prost(bytes = "vec", tag = "6")]
    signature: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct EntryProto {
    #[prost(uint32, tag = "1")]
    device_id: u32,
    #[prost(bytes = "vec", tag = "2")]
    identity_key: Vec<u8>,
    #[prost(uint64, tag = "3")]
    linked_at: u64,
    #[prost(bytes = "vec", tag = "4")]
    account_signature: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    device_signature: Vec<u8>,
}

/// The signatures recomputed with ed25519-dalek directly (PROTOCOL.md §11.6), for the vector
/// check below.
fn sign(seed: u8, context: &[u8], parts: &[&[u8]]) -> [u8; 64] {
    let key = SigningKey::from_bytes(&[seed; 32]);
    key.sign(&[context, &parts.concat()].concat()).to_bytes()
}

#[test]
fn the_signatures_are_the_documented_ones() {
    let bob = bob();
    let list = bob.first_list();
    let aik = bob.account.public().to_bytes();
    let ik = bob.primary.public().to_bytes();
    let link_body = [
        &aik[..],
        &1u32.to_be_bytes(),
        &ik,
        &T0.as_unix_millis().to_be_bytes(),
    ]
    .concat();
    let account_sig = sign(0xB0, b"keylink v1 account signature", &[&link_body]);
    let device_sig = sign(
        0x01,
        b"keylink v1 device signature",
        &[&link_body, &account_sig],
    );
    let number = b"+447700900123";
    let list_body = [
        &aik[..],
        &[number.len() as u8],
        number,
        &1u64.to_be_bytes(),
        &T0.as_unix_millis().to_be_bytes(),
        &[1],
        &1u32.to_be_bytes(),
        &ik,
        &T0.as_unix_millis().to_be_bytes(),
    ]
    .concat();
    let list_sig = sign(0xB0, b"keylink v1 device list", &[&list_body]);
    let wire: ListProto = common::proto::decode(&list.signed().to_bytes());
    assert_eq!(wire.signature, list_sig.to_vec());
    assert_eq!(wire.devices[0].account_signature, account_sig.to_vec());
    assert_eq!(wire.devices[0].device_signature, device_sig.to_vec());
}

mod vectors {
    //! `test-vectors/keylink/device_list.json`: a two-device list from fixed seeds, with every
    //! signed body and signature, recomputed here with ed25519-dalek directly.

    use super::*;
    use serde_json::{Value, json};

    const VECTORS: &str = "test-vectors/keylink/device_list.json";

    fn hex(bytes: &[u8]) -> String {
        common::hex(bytes)
    }

    /// What the file holds, computed from the seeds with the bare primitives.
    fn computed() -> Value {
        let aik = SigningKey::from_bytes(&[0xB0; 32])
            .verifying_key()
            .to_bytes();
        let number = "+447700900123";
        let (issued_at, version) = (T0.as_unix_millis() + 86_400_000, 2u64);
        let devices: Vec<(u32, u8, u64)> =
            vec![(1, 0x01, T0.as_unix_millis()), (2, 0x02, issued_at)];
        let mut entries = Vec::new();
        let mut list_body = [&aik[..], &[number.len() as u8], number.as_bytes()].concat();
        list_body.extend_from_slice(&version.to_be_bytes());
        list_body.extend_from_slice(&issued_at.to_be_bytes());
        list_body.push(devices.len() as u8);
        for (id, seed, linked_at) in &devices {
            let ik = SigningKey::from_bytes(&[*seed; 32])
                .verifying_key()
                .to_bytes();
            let body = [&aik[..], &id.to_be_bytes(), &ik, &linked_at.to_be_bytes()].concat();
            let account_sig = sign(0xB0, b"keylink v1 account signature", &[&body]);
            let device_sig = sign(
                *seed,
                b"keylink v1 device signature",
                &[&body, &account_sig],
            );
            list_body.extend_from_slice(
                &[&id.to_be_bytes()[..], &ik, &linked_at.to_be_bytes()].concat(),
            );
            entries.push(json!({
                "device_id": id,
                "identity_seed": hex(&[*seed; 32]),
                "identity_key": hex(&ik),
                "linked_at_ms": linked_at,
                "link_body": hex(&body),
                "account_signature": hex(&account_sig),
                "device_signature": hex(&device_sig),
            }));
        }
        let list_sig = sign(0xB0, b"keylink v1 device list", &[&list_body]);
        json!({
            "description": "keylink signed device list (PROTOCOL.md 11.6): account key and device identity keys from fixed Ed25519 seeds, each device's link body and both signatures, the list body and its signature, and the wire bytes (0x16 || DeviceList) keylink produces for them",
            "source": "generated by keylink: cargo test --release --test device_lists generate_vectors -- --ignored; checked by tests/device_lists.rs, which recomputes every signature with ed25519-dalek",
            "format": "test-vectors/README.md",
            "account_seed": hex(&[0xB0; 32]),
            "account_key": hex(&aik),
            "phone": number,
            "version": version,
            "issued_at_ms": issued_at,
            "devices": entries,
            "list_body": hex(&list_body),
            "list_signature": hex(&list_sig),
            "wire": hex(&keylink_list().to_bytes()),
        })
    }

    /// The same list, issued through keylink.
    fn keylink_list() -> SignedDeviceList {
        let bob = bob();
        let day = T0.saturating_add(core::time::Duration::from_secs(86_400));
        let laptop = identity(0x02);
        let authorization = bob.account.authorize_device(2, laptop.public(), day);
        let device_sig = authorization.countersign(&laptop).unwrap();
        let devices = vec![
            DeviceEntry::primary(&bob.account, &bob.primary, T0),
            authorization.complete(device_sig).unwrap(),
        ];
        SignedDeviceList::issue(&bob.account, &bob.phone, 2, day, devices).unwrap()
    }

    fn path() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(VECTORS)
    }

    #[test]
    fn the_vector_file_is_what_the_primitives_and_keylink_compute() {
        let text = std::fs::read_to_string(path()).unwrap();
        let file: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(file, computed());
        // The wire bytes carry exactly the recomputed signatures.
        let wire: ListProto = common::proto::decode(&keylink_list().to_bytes());
        assert_eq!(
            hex(&wire.signature),
            file["list_signature"].as_str().unwrap()
        );
        for (entry, expected) in wire.devices.iter().zip(file["devices"].as_array().unwrap()) {
            assert_eq!(
                hex(&entry.account_signature),
                expected["account_signature"].as_str().unwrap()
            );
            assert_eq!(
                hex(&entry.device_signature),
                expected["device_signature"].as_str().unwrap()
            );
        }
        let list = SignedDeviceList::try_from(keylink_list().to_bytes().as_slice()).unwrap();
        assert!(list.verify(&bob().phone).is_ok());
    }

    #[test]
    #[ignore = "writes test-vectors/keylink/device_list.json"]
    fn generate_vectors() {
        let text = serde_json::to_string_pretty(&computed()).unwrap() + "\n";
        std::fs::write(path(), text).unwrap();
    }
}

/// The list signature does not cover the entries' signatures: each entry is checked on its
/// own. A companion that never countersigned (or an account signature that is not the
/// account's) is refused inside a list whose own signature is valid.
#[test]
fn each_entry_signature_is_checked_inside_a_valid_list() {
    let bob = bob();
    let v2 = bob
        .first_list()
        .with_device(&bob.account, bob.companion(2, 0x02), T0)
        .unwrap();
    for (field, expected) in [
        (0, "device list entry (account signature)"),
        (1, "device list entry (device signature)"),
    ] {
        let mut wire: ListProto = common::proto::decode(&v2.to_bytes());
        let entry = &mut wire.devices[1];
        let signature = match field {
            0 => &mut entry.account_signature,
            _ => &mut entry.device_signature,
        };
        signature[5] ^= 0x40;
        let forged = common::proto::encode(0x16, &wire);
        let list = SignedDeviceList::try_from(forged.as_slice()).unwrap();
        let err = list.verify(&bob.phone).unwrap_err();
        assert!(
            matches!(err, Error::InvalidSignature(what) if what == expected),
            "{err}"
        );
    }
}

/// A list of many entries is refused by its count, before any of its keys is decoded (so an
/// entry with a bad key past the fifth is not what is reported).
#[test]
fn too_many_entries_are_refused_before_their_keys_are_read() {
    let bob = bob();
    let mut wire: ListProto = common::proto::decode(&bob.first_list().signed().to_bytes());
    let mut bad = wire.devices[0].clone();
    bad.identity_key = vec![0xFF; 32];
    wire.devices.extend(std::iter::repeat_n(bad, 1000));
    let err =
        SignedDeviceList::try_from(common::proto::encode(0x16, &wire).as_slice()).unwrap_err();
    assert!(
        matches!(err, Error::Malformed("device list (1 to 5 devices)")),
        "{err}"
    );
}
