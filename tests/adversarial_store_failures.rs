//! A store whose commit fails: every operation that commits leaves the state unchanged and can
//! be retried.
#![cfg(test)]

mod common;

use common::*;
use keylink::Error;
use keylink::keys::IdentityKeyPair;
use keylink::store::ProtocolStore;

/// The error is `Error::Store` holding our `TestStoreError::CommitFailed`.
fn assert_commit_failed(e: &Error) {
    let Error::Store(inner) = e else {
        panic!("expected Error::Store, got {e:?}")
    };
    assert!(matches!(
        inner.downcast_ref::<TestStoreError>(),
        Some(TestStoreError::CommitFailed)
    ));
    let source = std::error::Error::source(e).expect("store error has a source");
    assert!(source.downcast_ref::<TestStoreError>().is_some());
    assert!(e.to_string().contains("commit failed (armed)"), "{e}");
}

#[test]
fn failed_commit_in_start_session_changes_nothing() {
    let mut alice = Device::new("alice", 1);
    let mut bob = Device::new("bob", 1);
    let bundle = bob.bundle(Some(FIRST_OTPK));
    let mut store = failing(&mut alice);
    let before = store.inner.to_bytes();
    store.fail_next = true;
    let e = keylink::start_session(&mut store, &bob.addr, &bundle, &mut rng()).unwrap_err();
    assert_commit_failed(&e);
    assert_eq!(*store.inner.to_bytes(), *before);
    assert!(store.session_index(&bob.addr).unwrap().is_none());

    keylink::start_session(&mut store, &bob.addr, &bundle, &mut rng()).unwrap();
    let m = keylink::encrypt(&mut store, &bob.addr, b"after retry").unwrap();
    bob.recv_ok(&alice.addr, &m.to_bytes(), b"after retry");
}

#[test]
fn failed_commit_in_encrypt_changes_nothing() {
    let (mut alice, mut bob) = established();
    let mut store = failing(&mut alice);
    let m0 = keylink::encrypt(&mut store, &bob.addr, b"m0").unwrap();
    assert!(!m0.is_prekey());
    let before = store.inner.to_bytes();
    store.fail_next = true;
    let e = keylink::encrypt(&mut store, &bob.addr, b"m1").unwrap_err();
    assert_commit_failed(&e);
    assert_eq!(*store.inner.to_bytes(), *before);

    let m1 = keylink::encrypt(&mut store, &bob.addr, b"m1").unwrap();
    bob.recv_ok(&alice.addr, &m0.to_bytes(), b"m0");
    bob.recv_ok(&alice.addr, &m1.to_bytes(), b"m1");
    // m1 came right after m0 (headers are encrypted; a key the failed attempt had used
    // would have left a skipped key behind).
    assert_eq!(
        bob.skipped(&alice.addr),
        0,
        "the failed attempt used no key"
    );
}

#[test]
fn failed_commit_in_decrypt_of_ratchet_message_changes_nothing() {
    let (mut alice, mut bob) = established();
    let mut store = failing(&mut bob);
    for (n, text) in [&b"new chain"[..], b"same chain"].into_iter().enumerate() {
        let m = alice.send_bytes(&bob.addr, text);
        let before = store.inner.to_bytes();
        store.fail_next = true;
        let e = keylink::decrypt(&mut store, &alice.addr, &m, &mut rng()).unwrap_err();
        assert_commit_failed(&e);
        assert_eq!(*store.inner.to_bytes(), *before, "message {n}");
        let plaintext = keylink::decrypt(&mut store, &alice.addr, &m, &mut rng()).unwrap();
        assert_eq!(plaintext, text);
        let e = keylink::decrypt(&mut store, &alice.addr, &m, &mut rng()).unwrap_err();
        assert!(matches!(e, Error::DuplicateMessage), "{e:?}");
    }
}

#[test]
fn failed_commit_in_decrypt_of_prekey_message_changes_nothing() {
    let mut alice = Device::new("alice", 1);
    let mut bob = Device::new("bob", 1);
    alice.start(&bob, Some(FIRST_OTPK));
    let p = alice.send_bytes(&bob.addr, b"prekey");
    let mut store = failing(&mut bob);
    let before = store.inner.to_bytes();
    store.fail_next = true;
    let e = keylink::decrypt(&mut store, &alice.addr, &p, &mut rng()).unwrap_err();
    assert_commit_failed(&e);
    assert_eq!(*store.inner.to_bytes(), *before);
    assert!(
        store
            .inner
            .one_time_prekey_ids()
            .contains(&FIRST_OTPK.into())
    );
    assert_eq!(prekey_ids(&p), (Some(FIRST_OTPK), FIRST_KEM));
    assert!(
        store
            .inner
            .one_time_kem_prekey_ids()
            .contains(&FIRST_KEM.into())
    );
    assert!(store.kem_prekey(FIRST_KEM.into()).unwrap().is_some());
    assert!(store.session_index(&alice.addr).unwrap().is_none());
    assert!(store.peer_identity(&alice.addr).unwrap().is_none());

    let plaintext = keylink::decrypt(&mut store, &alice.addr, &p, &mut rng()).unwrap();
    assert_eq!(plaintext, b"prekey");
    assert!(
        !store
            .inner
            .one_time_prekey_ids()
            .contains(&FIRST_OTPK.into())
    );
    assert!(
        !store
            .inner
            .one_time_kem_prekey_ids()
            .contains(&FIRST_KEM.into())
    );
    assert!(store.kem_prekey(FIRST_KEM.into()).unwrap().is_none());
    let r = keylink::encrypt(&mut store, &alice.addr, b"reply").unwrap();
    alice.recv_ok(&bob.addr, &r.to_bytes(), b"reply");
}

#[test]
fn failed_commit_in_accept_identity_changes_nothing() {
    let (mut alice, bob) = established();
    let new_identity = IdentityKeyPair::generate(&mut rng());
    let mut store = failing(&mut alice);
    let before = store.inner.to_bytes();
    store.fail_next = true;
    let e = keylink::accept_identity(&mut store, &bob.addr, new_identity.public()).unwrap_err();
    assert_commit_failed(&e);
    assert_eq!(*store.inner.to_bytes(), *before);
}
