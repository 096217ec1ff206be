#![cfg(test)]
//! Prekey upkeep (PROTOCOL.md §11.4): what each run publishes, keeps and deletes, that late
//! PreKey messages still decrypt within the grace period, that ids are never reused, and
//! that a failed run changes nothing.

mod common;

use core::time::Duration;
use std::collections::BTreeSet;

use common::server::BundleServer;
use common::{FailingStore, rng};
use keylink::account::{PreKeyPolicy, PreKeyUpkeep, PreKeyUpload};
use keylink::keys::{IdentityKeyPair, PreKeyBundle, PreKeyKind};
use keylink::store::{Address, MemoryStore};
use keylink::{Error, Timestamp};

const DAY: Duration = Duration::from_secs(86_400);
const T0: Timestamp = Timestamp::from_unix_secs(1_800_000_000);

fn at(days: u64) -> Timestamp {
    T0.saturating_add(DAY * u32::try_from(days).unwrap())
}

fn bob() -> MemoryStore {
    MemoryStore::new(IdentityKeyPair::generate(&mut rng()))
}

fn upload(
    upkeep: &PreKeyUpkeep,
    store: &mut MemoryStore,
    now: Timestamp,
    held: u32,
) -> PreKeyUpload {
    let upload = upkeep.run(store, now, held, &mut rng()).unwrap();
    upload.expect("an upload")
}

/// A new contact's PreKey message to the device behind `bundle`.
fn prekey_message(bundle: &[u8], n: usize) -> (Address, Vec<u8>) {
    let mut rng = rng();
    let mut alice = MemoryStore::new(IdentityKeyPair::generate(&mut rng));
    let bundle = PreKeyBundle::try_from(bundle).unwrap().verify().unwrap();
    let bob = Address::new("bob", 1);
    keylink::start_session(&mut alice, &bob, &bundle, &mut rng).unwrap();
    let message = keylink::encrypt(&mut alice, &bob, format!("hello {n}").as_bytes()).unwrap();
    (Address::new(format!("alice{n}"), 1), message.to_bytes())
}

#[test]
fn the_first_run_publishes_everything_the_default_policy_says() {
    let mut store = bob();
    let upkeep = PreKeyUpkeep::new(7);
    let first = upload(&upkeep, &mut store, T0, 0);
    let PreKeyUpload::Replace {
        last_resort,
        one_time,
    } = &first
    else {
        panic!("the first upload replaces");
    };
    assert_eq!(one_time.len(), 100);
    assert_eq!(last_resort.one_time_prekey_id(), None);
    for bundle in one_time.iter().chain([last_resort]) {
        assert_eq!(bundle.device_id().get(), 7);
        assert_eq!(bundle.identity_key(), store.identity().unwrap().public());
        assert_eq!(bundle.signed_prekey_id(), last_resort.signed_prekey_id());
        assert!(bundle.clone().verify().is_ok());
    }
    let one_time_ids: BTreeSet<_> = one_time.iter().map(|b| b.one_time_prekey_id()).collect();
    let kem_ids: BTreeSet<_> = first.one_time().iter().map(|b| b.kem_prekey_id()).collect();
    assert_eq!((one_time_ids.len(), kem_ids.len()), (100, 100));
    assert!(!kem_ids.contains(&last_resort.kem_prekey_id()));
    assert_eq!(store.one_time_prekey_ids().len(), 100);
    assert_eq!(store.one_time_kem_prekey_ids().len(), 100);
    assert_eq!(store.signed_prekey_ids().len(), 1);
    assert_eq!(store.last_resort_kem_prekey_ids().len(), 1);
    let state = keylink::store::ProtocolStore::prekey_state(&store)
        .unwrap()
        .unwrap();
    assert_eq!(state.published_at(), T0);
    assert_eq!(state.signed_prekey(), last_resort.signed_prekey_id());
}

#[test]
fn nothing_to_do_writes_nothing() {
    let mut store = bob();
    let upkeep = PreKeyUpkeep::new(1);
    upload(&upkeep, &mut store, T0, 0);
    let before = store.to_bytes();
    for (days, held) in [(0, 100), (3, 25), (6, 80)] {
        assert_eq!(
            upkeep.run(&mut store, at(days), held, &mut rng()).unwrap(),
            None
        );
    }
    assert_eq!(store.to_bytes(), before);
}

#[test]
fn a_refill_tops_up_to_the_target_with_new_ids() {
    let mut store = bob();
    let upkeep = PreKeyUpkeep::new(1);
    let first = upload(&upkeep, &mut store, T0, 0);
    let refill = upload(&upkeep, &mut store, at(1), 24);
    let PreKeyUpload::Add { one_time } = &refill else {
        panic!("a refill adds");
    };
    assert_eq!(one_time.len(), 76);
    let signed = first.last_resort().unwrap().signed_prekey_id();
    assert!(one_time.iter().all(|b| b.signed_prekey_id() == signed));
    let first_ids: BTreeSet<_> = first.one_time().iter().map(|b| b.kem_prekey_id()).collect();
    assert!(
        one_time
            .iter()
            .all(|b| !first_ids.contains(&b.kem_prekey_id()))
    );
    assert_eq!(store.one_time_prekey_ids().len(), 176);
}

#[test]
fn rotation_replaces_and_keeps_the_old_generation_for_the_grace_period() {
    let mut store = bob();
    let upkeep = PreKeyUpkeep::new(1);
    let first = upload(&upkeep, &mut store, T0, 0);
    let old_signed = first.last_resort().unwrap().signed_prekey_id();
    let rotated = upload(&upkeep, &mut store, at(7), 90);
    assert!(rotated.replaces());
    assert_eq!(rotated.one_time().len(), 100);
    assert!(rotated.last_resort().unwrap().signed_prekey_id() > old_signed);
    // Both generations are kept: 200 one-time prekeys, 2 signed, 2 last-resort.
    assert_eq!(store.signed_prekey_ids().len(), 2);
    assert_eq!(store.last_resort_kem_prekey_ids().len(), 2);
    assert_eq!(store.one_time_prekey_ids().len(), 200);
    // 30 days after the rotation (not before) the old generation goes.
    assert_eq!(
        upkeep
            .run(&mut store, at(36), 100, &mut rng())
            .unwrap()
            .map(|u| u.replaces()),
        Some(true)
    );
    // Day 36 is 29 days after the first rotation and the second generation is due: three
    // generations are kept.
    assert_eq!(store.signed_prekey_ids().len(), 3);
    assert_eq!(store.one_time_prekey_ids().len(), 300);
    upkeep.run(&mut store, at(37), 100, &mut rng()).unwrap();
    assert!(!store.signed_prekey_ids().contains(&old_signed));
    assert_eq!(store.signed_prekey_ids().len(), 2);
    assert_eq!(store.last_resort_kem_prekey_ids().len(), 2);
    assert_eq!(store.one_time_prekey_ids().len(), 200);
}

#[test]
fn a_late_prekey_message_decrypts_until_the_grace_period_ends() {
    let mut store = bob();
    let upkeep = PreKeyUpkeep::new(1);
    let mut server = BundleServer::default();
    server.upload(&upload(&upkeep, &mut store, T0, 0));
    let (early, late) = (
        prekey_message(&server.fetch().unwrap(), 1),
        prekey_message(&server.fetch().unwrap(), 2),
    );
    // Rotated on day 7; the messages sent on day 0 arrive on day 36 and day 38.
    server.upload(&upload(&upkeep, &mut store, at(7), server.held()));
    upkeep
        .run(&mut store, at(36), server.held(), &mut rng())
        .unwrap();
    let plaintext = keylink::decrypt(&mut store, &early.0, &early.1, &mut rng()).unwrap();
    assert_eq!(plaintext, b"hello 1");
    upkeep
        .run(&mut store, at(37), server.held(), &mut rng())
        .unwrap();
    let err = keylink::decrypt(&mut store, &late.0, &late.1, &mut rng()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnknownPreKey {
                kind: PreKeyKind::Signed,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn an_empty_server_hands_out_the_last_resort_bundle_which_still_works() {
    let mut store = bob();
    let policy = PreKeyPolicy::default().one_time_target(2).refill_below(1);
    let upkeep = PreKeyUpkeep::with_policy(1, policy).unwrap();
    let mut server = BundleServer::default();
    server.upload(&upload(&upkeep, &mut store, T0, 0));
    let messages: Vec<_> = (0..4)
        .map(|n| prekey_message(&server.fetch().unwrap(), n))
        .collect();
    for (n, (from, bytes)) in messages.iter().enumerate() {
        let plaintext = keylink::decrypt(&mut store, from, bytes, &mut rng()).unwrap();
        assert_eq!(plaintext, format!("hello {n}").as_bytes());
    }
    assert_eq!(store.one_time_prekey_ids().len(), 0);
    assert_eq!(store.last_resort_kem_prekey_ids().len(), 1);
    assert_eq!(
        upload(&upkeep, &mut store, at(1), server.held())
            .one_time()
            .len(),
        2
    );
}

#[test]
fn a_failed_commit_changes_nothing_and_the_next_run_publishes() {
    let mut store = FailingStore {
        inner: bob(),
        fail_next: true,
    };
    let upkeep = PreKeyUpkeep::new(1);
    let before = store.inner.to_bytes();
    let err = upkeep.run(&mut store, T0, 0, &mut rng()).unwrap_err();
    assert!(matches!(err, Error::Store(_)), "{err}");
    assert_eq!(store.inner.to_bytes(), before);
    let first = upkeep.run(&mut store, T0, 0, &mut rng()).unwrap().unwrap();
    assert!(first.replaces());
    assert_eq!(first.last_resort().unwrap().signed_prekey_id().get(), 1);
}

#[test]
fn a_device_without_identity_is_told_to_make_one() {
    let mut store = MemoryStore::default();
    let err = PreKeyUpkeep::new(1)
        .run(&mut store, T0, 0, &mut rng())
        .unwrap_err();
    assert!(matches!(err, Error::NoLocalIdentity), "{err}");
}

#[test]
fn a_bad_policy_is_refused_with_its_reason() {
    let policy = PreKeyPolicy::default().refill_below(200);
    let err = PreKeyUpkeep::with_policy(1, policy).unwrap_err();
    assert!(matches!(err, Error::InvalidPreKeyPolicy(_)), "{err}");
    assert!(err.to_string().contains("refill_below"), "{err}");
}

#[test]
fn the_state_survives_a_snapshot() {
    let mut store = bob();
    let upkeep = PreKeyUpkeep::new(1);
    upload(&upkeep, &mut store, T0, 0);
    upload(&upkeep, &mut store, at(8), 0);
    let mut restored = MemoryStore::from_bytes(&store.to_bytes()).unwrap();
    let next = upload(&upkeep, &mut restored, at(9), 0);
    let again = upload(&upkeep, &mut store, at(9), 0);
    // Same ids from both copies: the counters came back with the snapshot.
    let ids = |u: &PreKeyUpload| {
        u.one_time()
            .iter()
            .map(|b| b.kem_prekey_id())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&next), ids(&again));
}
