//! `encrypt_in_place` and `decrypt_in_place`: the same messages as the copying API, the
//! buffer left as it was on any failure (a failed commit included), and the sans-IO forms.
#![cfg(test)]

mod common;

use common::*;
use keylink::Error;
use keylink::session::{Message, SessionRecord};

const SIZES: [usize; 7] = [0, 1, 100, 127, 128, 16_384, (1 << 20) + 1];

fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

#[test]
fn in_place_and_copying_messages_are_interchangeable() {
    let (mut alice, mut bob) = established();
    for len in SIZES {
        let pt = plaintext(len);
        // In place out, copying in.
        let mut buffer = pt.clone();
        keylink::encrypt_in_place(&mut alice.store, &bob.addr, &mut buffer).unwrap();
        assert!(matches!(
            Message::try_from(buffer.as_slice()).unwrap(),
            Message::Ratchet(_)
        ));
        assert_eq!(bob.recv(&alice.addr, &buffer).unwrap(), pt, "{len}");
        // Copying out, in place in.
        let mut bytes = bob.send_bytes(&alice.addr, &pt);
        let n = bytes.len();
        let out = keylink::decrypt_in_place(&mut alice.store, &bob.addr, &mut bytes, &mut rng());
        assert_eq!(out.unwrap(), pt.as_slice(), "{len}");
        assert_eq!(bytes.len(), n);
    }
}

#[test]
fn an_in_place_message_has_the_length_of_a_copying_one() {
    let (mut alice, bob) = established();
    for len in SIZES {
        let mut buffer = plaintext(len);
        keylink::encrypt_in_place(&mut alice.store, &bob.addr, &mut buffer).unwrap();
        let copied = alice.send_bytes(&bob.addr, &plaintext(len));
        assert_eq!(buffer.len(), copied.len(), "{len}");
        // The same framing: everything but the header and body bytes agrees.
        let varint = (1..).find(|n| (len + 16) >> (7 * n) == 0).unwrap();
        assert_eq!(buffer[..3], copied[..3]);
        assert_eq!(buffer[72..73 + varint], copied[72..73 + varint], "{len}");
    }
}

#[test]
fn prekey_messages_go_through_in_place_too() {
    let mut alice = Device::new("alice", 1);
    let mut bob = Device::new("bob", 1);
    alice.start(&bob, Some(FIRST_OTPK));
    let mut first = b"first".to_vec();
    keylink::encrypt_in_place(&mut alice.store, &bob.addr, &mut first).unwrap();
    assert!(matches!(
        Message::try_from(first.as_slice()).unwrap(),
        Message::PreKey(_)
    ));
    let out = keylink::decrypt_in_place(&mut bob.store, &alice.addr, &mut first, &mut rng());
    assert_eq!(out.unwrap(), b"first");
    let mut reply = b"reply".to_vec();
    keylink::encrypt_in_place(&mut bob.store, &alice.addr, &mut reply).unwrap();
    alice.recv_ok(&bob.addr, &reply, b"reply");
}

#[test]
fn a_rejected_message_leaves_the_buffer_and_the_store_as_they_were() {
    let (mut alice, mut bob) = established();
    let genuine = alice.send_bytes(&bob.addr, &plaintext(300));
    let before = bob.snapshot();
    for i in [3, 80, genuine.len() - 20, genuine.len() - 1] {
        let mut tampered = genuine.clone();
        tampered[i] ^= 0x01;
        let copy = tampered.clone();
        let e = keylink::decrypt_in_place(&mut bob.store, &alice.addr, &mut tampered, &mut rng())
            .unwrap_err();
        assert!(
            matches!(e, Error::DecryptionFailed | Error::Malformed(_)),
            "{e:?}"
        );
        assert_eq!(tampered, copy, "byte {i}");
        assert_eq!(bob.snapshot(), before);
    }
    let mut ok = genuine.clone();
    let out = keylink::decrypt_in_place(&mut bob.store, &alice.addr, &mut ok, &mut rng());
    assert_eq!(out.unwrap(), plaintext(300).as_slice());
    // Again: a duplicate, and the buffer untouched.
    let mut again = genuine.clone();
    let e = keylink::decrypt_in_place(&mut bob.store, &alice.addr, &mut again, &mut rng());
    assert!(matches!(e.unwrap_err(), Error::DuplicateMessage));
    assert_eq!(again, genuine);
}

#[test]
fn a_failed_commit_restores_the_ciphertext_byte_for_byte() {
    let (mut alice, mut bob) = established();
    let late = alice.send_bytes(&bob.addr, b"skipped");
    for (len, message) in [
        (7, late),
        (5_000, alice.send_bytes(&bob.addr, &plaintext(5_000))),
    ] {
        let mut store = failing(&mut bob);
        let mut buffer = message.clone();
        store.fail_next = true;
        let e = keylink::decrypt_in_place(&mut store, &alice.addr, &mut buffer, &mut rng())
            .unwrap_err();
        assert!(matches!(e, Error::Store(_)), "{e:?}");
        assert_eq!(buffer, message, "restored");
        let out = keylink::decrypt_in_place(&mut store, &alice.addr, &mut buffer, &mut rng());
        assert_eq!(out.unwrap().len(), len);
        bob.store = store.inner;
    }
}

#[test]
fn a_failed_commit_gives_the_plaintext_back_to_the_encrypting_buffer() {
    // A PreKey message (no reply yet) and ratchet messages, short and long.
    let mut alice = Device::new("alice", 1);
    let mut bob = Device::new("bob", 1);
    alice.start(&bob, Some(FIRST_OTPK));
    for (round, len) in [0, 100, 70_000].into_iter().enumerate() {
        let pt = plaintext(len);
        let mut store = failing(&mut alice);
        let mut buffer = pt.clone();
        store.fail_next = true;
        let e = keylink::encrypt_in_place(&mut store, &bob.addr, &mut buffer).unwrap_err();
        assert!(matches!(e, Error::Store(_)), "{e:?}");
        assert_eq!(buffer, pt, "the plaintext is back ({len} bytes)");
        keylink::encrypt_in_place(&mut store, &bob.addr, &mut buffer).unwrap();
        let prekey = matches!(
            Message::try_from(buffer.as_slice()).unwrap(),
            Message::PreKey(_)
        );
        assert_eq!(prekey, round == 0);
        alice.store = store.inner;
        assert_eq!(bob.recv(&alice.addr, &buffer).unwrap(), pt);
        if round == 0 {
            let reply = bob.send_bytes(&alice.addr, b"ok");
            alice.recv_ok(&bob.addr, &reply, b"ok");
        }
    }
}

#[test]
fn the_sans_io_record_encrypts_and_decrypts_in_place() {
    let (alice, bob) = established();
    let mut a = alice.record(&bob.addr);
    let mut b = bob.record(&alice.addr);
    for len in [0, 100, 70_000] {
        let mut buffer = plaintext(len);
        a.encrypt_in_place(0, &mut buffer).unwrap();
        let before = b.to_bytes();
        let mut tampered = buffer.clone();
        *tampered.last_mut().unwrap() ^= 1;
        let e = b
            .decrypt_in_place(&mut tampered, None, &mut rng())
            .unwrap_err();
        assert!(matches!(e, Error::DecryptionFailed));
        assert_eq!(b.to_bytes(), before);
        let (out, sender, _) = b.decrypt_in_place(&mut buffer, None, &mut rng()).unwrap();
        assert_eq!(out, plaintext(len).as_slice());
        assert_eq!(sender, alice.identity_key());
    }
    let round_trip = SessionRecord::from_bytes(&b.to_bytes()).unwrap();
    assert_eq!(round_trip.to_bytes(), b.to_bytes());
}
