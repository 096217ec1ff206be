#![cfg(test)]
//! The linking state machines (PROTOCOL.md §12.3): both flows end to end, wrong codes and
//! their counting on both sides, and every message out of order, replayed, from another run
//! or tampered with.

use keylink::account::{
    AccountKeyPair, DeviceEntry, PhoneNumber, SignedDeviceList, VerifiedDeviceList,
};
use keylink::keys::IdentityKeyPair;
use keylink::link::{Companion, CompanionStep, LinkGrant, LinkingCode, Primary, PrimaryStep};
use keylink::{Error, Timestamp};

struct Account {
    phone: PhoneNumber,
    account: AccountKeyPair,
    primary: IdentityKeyPair,
    list: VerifiedDeviceList,
}

fn account() -> Account {
    let mut rng = keylink::os_rng();
    let phone = PhoneNumber::parse("+15550002").unwrap();
    let account = AccountKeyPair::generate(&mut rng);
    let primary = IdentityKeyPair::generate(&mut rng);
    let now = Timestamp::from_unix_secs(1_800_000_000);
    let entry = DeviceEntry::primary(&account, &primary, now);
    let list = SignedDeviceList::issue(&account, &phone, 1, now, vec![entry]).unwrap();
    let list = list.verify(&phone).unwrap();
    Account {
        phone,
        account,
        primary,
        list,
    }
}

fn grant(a: &Account) -> LinkGrant {
    let account = AccountKeyPair::from_bytes(&a.account.to_bytes()).unwrap();
    LinkGrant::new(
        account,
        a.list.clone(),
        Timestamp::from_unix_secs(1_800_000_100),
    )
    .unwrap()
}

fn send(step: PrimaryStep) -> Vec<u8> {
    match step {
        PrimaryStep::Send(bytes) => bytes,
        other => panic!("expected a message, got {other:?}"),
    }
}

fn csend(step: CompanionStep) -> Vec<u8> {
    match step {
        CompanionStep::Send(bytes) => bytes,
        other => panic!("expected a message, got {other:?}"),
    }
}

#[test]
fn typed_code_links_a_companion() {
    let mut rng = keylink::os_rng();
    let a = account();
    let laptop = IdentityKeyPair::generate(&mut rng);
    let laptop_key = *laptop.public();
    let mut companion = Companion::with_code(laptop, &mut rng);
    let typed = LinkingCode::parse(&companion.code().unwrap().to_string()).unwrap();
    let mut primary = Primary::typed(&typed, grant(&a));

    let hello = companion.start(&mut rng).unwrap();
    let reply = send(primary.receive(&hello, &mut rng).unwrap());
    assert_eq!(
        primary.attempts_left(),
        2,
        "counted when the confirmation is sent"
    );
    let confirm = csend(companion.receive(&reply).unwrap());
    let account_msg = send(primary.receive(&confirm, &mut rng).unwrap());
    assert_eq!(
        primary.attempts_left(),
        3,
        "taken back on the companion's confirmation"
    );
    let (device_msg, linked) = match companion.receive(&account_msg).unwrap() {
        CompanionStep::Linked { reply, account } => (reply, account),
        other => panic!("{other:?}"),
    };
    let done = match primary.receive(&device_msg, &mut rng).unwrap() {
        PrimaryStep::Linked(done) => done,
        other => panic!("{other:?}"),
    };
    assert!(primary.is_linked() && companion.is_linked());
    assert_eq!(linked.phone(), &a.phone);
    assert_eq!(linked.account_key(), a.account.public());
    assert_eq!(u32::from(linked.device_id()), 2);
    assert_eq!(
        done.history_key().transcript(),
        linked.history_key().transcript()
    );
    let list = done.list().clone().verify(&a.phone).unwrap();
    assert_eq!(list.version(), 2);
    assert!(list.lists(2u32, &laptop_key));
    assert!(list.lists(1u32, a.primary.public()));
}

#[test]
fn a_wrong_code_costs_an_attempt_on_both_sides() {
    let mut rng = keylink::os_rng();
    let a = account();
    let mut companion = Companion::with_code(IdentityKeyPair::generate(&mut rng), &mut rng);
    for left in [2u8, 1] {
        let wrong = LinkingCode::generate(&mut rng);
        let mut primary = Primary::typed(&wrong, grant(&a));
        let hello = companion.start(&mut rng).unwrap();
        let reply = send(primary.receive(&hello, &mut rng).unwrap());
        match companion.receive(&reply) {
            Err(Error::InvalidLinkingCode { attempts_left }) => assert_eq!(attempts_left, left),
            other => panic!("{other:?}"),
        }
        assert_eq!(primary.attempts_left(), 2);
    }
    let wrong = LinkingCode::generate(&mut rng);
    let mut primary = Primary::typed(&wrong, grant(&a));
    let hello = companion.start(&mut rng).unwrap();
    let reply = send(primary.receive(&hello, &mut rng).unwrap());
    assert!(matches!(
        companion.receive(&reply),
        Err(Error::LinkingCodeExpired)
    ));
    assert!(matches!(
        companion.start(&mut rng),
        Err(Error::LinkingCodeExpired)
    ));
}
