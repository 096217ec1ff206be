//! A peer whose identity key changed is untrusted until the change is accepted.
#![cfg(test)]

mod common;

use common::*;
use keylink::Error;
use keylink::store::ProtocolStore;

#[test]
fn changed_identity_is_untrusted_until_accepted() {
    let (mut alice, mut old_bob) = established();
    let old_late = old_bob.send_bytes(&alice.addr, b"from the old install");
    // Bob re-installs: new identity, same address.
    let mut bob = Device::new("bob", 1);
    assert_eq!(bob.addr, old_bob.addr);

    let before = alice.snapshot();
    let bundle = bob.bundle(Some(FIRST_OTPK));
    let e = keylink::start_session(&mut alice.store, &bob.addr, &bundle, &mut rng()).unwrap_err();
    assert!(matches!(e, Error::UntrustedIdentity), "{e:?}");
    assert_eq!(alice.snapshot(), before);

    bob.start(&alice, Some(FIRST_OTPK + 1));
    let p = bob.send_bytes(&alice.addr, b"new bob");
    let e = rejected(&mut alice, &bob.addr, &p);
    assert!(matches!(e, Error::UntrustedIdentity), "{e:?}");
    assert!(alice.otpk_ids().contains(&(FIRST_OTPK + 1)));
    let (_, kem) = prekey_ids(&p);
    assert!(alice.kem_ids().contains(&kem));

    keylink::accept_identity(&mut alice.store, &bob.addr, &bob.identity_key()).unwrap();
    assert_eq!(
        alice.store.peer_identity(&bob.addr).unwrap(),
        Some(bob.identity_key())
    );
    alice.recv_ok(&bob.addr, &p, b"new bob");
    assert!(!alice.has_kem(kem));
    let r = alice.send_bytes(&bob.addr, b"hello new bob");
    bob.recv_ok(&alice.addr, &r, b"hello new bob");
    keylink::start_session(&mut alice.store, &bob.addr, &bundle, &mut rng()).unwrap();
    let m = alice.send_bytes(&bob.addr, b"fresh session");
    bob.recv_ok(&alice.addr, &m, b"fresh session");

    // The replaced identity's messages are no longer accepted: a session of another
    // identity than the remembered one is never tried, so the message does not decrypt
    // (nothing is decrypted before the identity check).
    let e = rejected(&mut alice, &old_bob.addr, &old_late);
    assert!(matches!(e, Error::DecryptionFailed), "{e:?}");
    let old_sessions = alice.record(&bob.addr);
    let old = old_sessions
        .archived()
        .filter(|s| s.remote_identity() != &bob.identity_key());
    assert_eq!(
        old.count(),
        1,
        "the old identity's session is kept, archived, untried"
    );
}
