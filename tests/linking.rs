#![cfg(test)]
//! The linking state machines (PROTOCOL.md §12.3): both flows end to end, wrong codes and
//! their counting on both sides, and every message out of order, replayed, from another run
//! or tampered with.

mod common;

use keylink::account::{
    AccountKeyPair, DeviceEntry, PhoneNumber, SignedDeviceList, VerifiedDeviceList,
};
use keylink::keys::IdentityKeyPair;
use keylink::link::{
    Companion, CompanionStep, LinkGrant, LinkedDevice, LinkingCode, LinkingQr, Primary, PrimaryStep,
};
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

// ---------------------------------------------------------------------------------------
// Adversarial runs. `Pair` drives a companion and a primary through a clean run one message
// at a time: messages 0 (hello), 2 (confirmation) and 4 (device) go to the primary, 1
// (reply) and 3 (account) to the companion.

struct Pair {
    companion: Companion,
    primary: Primary,
    messages: Vec<Vec<u8>>,
}

/// The primary for what the user typed (or scanned) from `companion`'s screen.
fn primary_for(companion: &Companion, grant: LinkGrant) -> Primary {
    match (companion.code(), companion.qr()) {
        (Some(code), _) => Primary::typed(&LinkingCode::parse(&code.to_string()).unwrap(), grant),
        (_, Some(qr)) => Primary::scanned(LinkingQr::parse(&qr.to_bytes()[..]).unwrap(), grant),
        _ => unreachable!(),
    }
}

impl Pair {
    /// A companion showing a typed code, the primary that typed it, and the hello sent.
    fn code(a: &Account) -> Self {
        let mut rng = keylink::os_rng();
        let companion = Companion::with_code(IdentityKeyPair::generate(&mut rng), &mut rng);
        Pair::with(companion, a)
    }

    fn with(mut companion: Companion, a: &Account) -> Self {
        let primary = primary_for(&companion, grant(a));
        let hello = companion.start(&mut keylink::os_rng()).unwrap();
        Pair {
            companion,
            primary,
            messages: vec![hello],
        }
    }

    /// Delivers message `i` (of this run or any other bytes) to the side it is meant for;
    /// what that side answers, if anything.
    fn deliver(&mut self, i: usize, message: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        if i.is_multiple_of(2) {
            match self.primary.receive(message, &mut keylink::os_rng())? {
                PrimaryStep::Send(bytes) => Ok(Some(bytes)),
                _ => Ok(None),
            }
        } else {
            match self.companion.receive(message)? {
                CompanionStep::Send(bytes) | CompanionStep::Linked { reply: bytes, .. } => {
                    Ok(Some(bytes))
                }
                other => panic!("{other:?}"),
            }
        }
    }

    /// Delivers the run's messages in order until `n` were delivered.
    fn run_to(&mut self, n: usize) {
        for i in self.messages.len() - 1..n {
            let message = self.messages[i].clone();
            if let Some(next) = self.deliver(i, &message).unwrap() {
                self.messages.push(next);
            }
        }
    }

    /// Delivers the run's messages in order from message `from` to the end (or the first
    /// error).
    fn rest(&mut self, from: usize) -> Result<(), Error> {
        for i in from..5 {
            let message = self.messages[i].clone();
            if let Some(next) = self.deliver(i, &message)? {
                self.messages.push(next);
            }
        }
        Ok(())
    }

    /// The whole run; the primary's result.
    fn link(&mut self) -> Box<LinkedDevice> {
        self.run_to(4);
        match self
            .primary
            .receive(&self.messages[4], &mut keylink::os_rng())
        {
            Ok(PrimaryStep::Linked(done)) => done,
            other => panic!("{other:?}"),
        }
    }
}

/// The five messages of a complete run of another pair.
fn complete_run(a: &Account) -> Vec<Vec<u8>> {
    let mut other = Pair::code(a);
    other.link();
    other.messages
}

fn aborted(result: Result<impl core::fmt::Debug, Error>, why: &str) {
    match result {
        Err(Error::LinkAborted(reason)) => assert!(reason.contains(why), "{reason}"),
        other => panic!("expected LinkAborted ({why}), got {other:?}"),
    }
}

#[test]
fn qr_code_links_a_companion_once() {
    let mut rng = keylink::os_rng();
    let a = account();
    let laptop = IdentityKeyPair::generate(&mut rng);
    let laptop_key = *laptop.public();
    let mut pair = Pair::with(Companion::with_qr(laptop, &mut rng), &a);
    assert_eq!(pair.companion.attempts_left(), 0, "the QR code's run began");
    let done = pair.link();
    let list = done.list().clone().verify(&a.phone).unwrap();
    assert!(list.lists(2u32, &laptop_key) && list.version() == 2);
    assert!(pair.companion.is_linked() && pair.primary.is_linked());
    // The QR code served its run.
    aborted(pair.companion.start(&mut rng), "linked already");
    aborted(
        pair.primary.receive(&pair.messages[0], &mut rng),
        "linked already",
    );
}

#[test]
fn a_qr_code_serves_one_run() {
    let mut rng = keylink::os_rng();
    let a = account();
    let mut pair = Pair::with(
        Companion::with_qr(IdentityKeyPair::generate(&mut rng), &mut rng),
        &a,
    );
    pair.run_to(1);
    pair.primary.abandon();
    assert_eq!(pair.primary.attempts_left(), 0);
    let hello = pair.messages[0].clone();
    assert!(matches!(
        pair.deliver(0, &hello),
        Err(Error::LinkingCodeExpired)
    ));
    assert!(matches!(
        pair.companion.start(&mut rng),
        Err(Error::LinkingCodeExpired)
    ));
}

#[test]
fn a_guesser_that_never_confirms_is_counted() {
    let mut rng = keylink::os_rng();
    let a = account();
    let mut real = Pair::code(&a);
    for (n, left) in [2u8, 1, 0].into_iter().enumerate() {
        // A fake companion runs the code it guesses (its own) and tests the reply offline.
        let mut guesser = Companion::with_code(IdentityKeyPair::generate(&mut rng), &mut rng);
        let hello = guesser.start(&mut rng).unwrap();
        // It never confirms: the app gives up on the silent run, or the next hello ends it.
        match n {
            1 => real.primary.abandon(),
            2 => aborted(real.primary.receive(&hello, &mut rng), "out of order"),
            _ => {}
        }
        let reply = send(real.primary.receive(&hello, &mut rng).unwrap());
        assert_eq!(real.primary.attempts_left(), left);
        assert!(matches!(
            guesser.receive(&reply),
            Err(Error::InvalidLinkingCode { attempts_left: 2 })
        ));
    }
    // Even the real companion's hello now finds the code dead (after it ended the third run).
    let hello = real.messages[0].clone();
    aborted(real.deliver(0, &hello), "out of order");
    assert!(matches!(
        real.deliver(0, &hello),
        Err(Error::LinkingCodeExpired)
    ));
    assert!(matches!(
        real.deliver(0, &hello),
        Err(Error::LinkingCodeExpired)
    ));
    assert_eq!(real.primary.attempts_left(), 0);
}

#[test]
fn two_runs_of_one_code_at_once() {
    let a = account();
    // Two companions showing the same code (the same seed for the code's draw).
    let shown = |seed| {
        let identity = IdentityKeyPair::generate(&mut keylink::os_rng());
        Companion::with_code(identity, &mut common::TestRng::new(seed))
    };
    let (first, mut second) = (shown(7), shown(7));
    assert_eq!(first.code(), second.code());
    let mut pair = Pair::with(first, &a);
    pair.run_to(2);
    let confirmation = pair.messages[2].clone();
    // The second hello ends the first run and is not answered.
    let hello = second.start(&mut keylink::os_rng()).unwrap();
    aborted(pair.deliver(0, &hello), "out of order");
    assert_eq!(
        pair.primary.attempts_left(),
        2,
        "the first run stays counted"
    );
    // The first run's confirmation now comes out of order.
    aborted(pair.deliver(2, &confirmation), "out of order");
    // The second hello, sent again, starts a run of its own.
    let reply = send(
        pair.primary
            .receive(&hello, &mut keylink::os_rng())
            .unwrap(),
    );
    assert_eq!(pair.primary.attempts_left(), 1);
    assert!(matches!(second.receive(&reply), Ok(CompanionStep::Send(_))));
}

#[test]
fn every_message_replayed_ends_the_run() {
    let a = account();
    for i in 0..5 {
        let mut pair = Pair::code(&a);
        pair.run_to(i + 1);
        let replayed = pair.messages[i].clone();
        // Hello, reply, confirmation: the side expects the next step's kind. Account, device:
        // the side is linked already.
        let why = if i < 3 {
            "out of order"
        } else {
            "linked already"
        };
        aborted(pair.deliver(i, &replayed), why);
        let rest = pair.rest(i + 1);
        match i {
            // The primary ended the run (counted): the companion confirms, too late.
            0 => aborted(rest, "out of order"),
            // The companion ended the run: the primary's account message finds none.
            1 => aborted(rest, "no linking run"),
            // The primary ended the run after the confirmation: the companion finishes, its
            // device message is out of order. Only the primary's new list links a device,
            // so this companion is on no list (a lost last message does the same).
            2 => {
                aborted(rest, "out of order");
                assert!(pair.companion.is_linked());
            }
            // A replay to a linked side changes nothing: the link completes.
            _ => rest.unwrap(),
        }
        assert_eq!(pair.primary.is_linked(), i >= 3, "message {i}");
        // A replay costs the companion nothing; the primary counts a run until confirmed.
        assert_eq!(pair.companion.attempts_left(), 3, "message {i}");
        let expected = match i {
            0 => 2,
            _ if pair.primary.is_linked() => 0,
            _ => 3,
        };
        assert_eq!(pair.primary.attempts_left(), expected, "message {i}");
    }
}

#[test]
fn every_message_out_of_order_ends_the_run() {
    let a = account();
    let other = complete_run(&a);
    // In each state (awaiting message `i`), every link message of another kind is refused.
    for i in 0..5 {
        for j in (0..5).filter(|j| j % 2 == i % 2 && *j != i) {
            let mut pair = Pair::code(&a);
            pair.run_to(i);
            aborted(pair.deliver(i, &other[j]), "out of order");
            // The run is over: its own next message no longer fits.
            if i > 0 {
                let own = pair.messages[i].clone();
                assert!(pair.deliver(i, &own).is_err(), "state {i}, message {j}");
            }
            assert!(!pair.primary.is_linked());
        }
    }
    // With no run in progress, a message is refused and changes nothing.
    let mut pair = Pair::code(&a);
    let mut idle = Companion::with_code(
        IdentityKeyPair::generate(&mut keylink::os_rng()),
        &mut keylink::os_rng(),
    );
    aborted(idle.receive(&other[1]), "no linking run");
    assert_eq!(idle.attempts_left(), 3);
    aborted(pair.deliver(0, &other[2]), "out of order");
    assert_eq!(pair.primary.attempts_left(), 3);
    pair.link();
}

/// `message` with bit `bit` of byte `at` (counted from the end if negative) flipped.
fn flip(message: &[u8], at: isize, bit: u8) -> Vec<u8> {
    let mut m = message.to_vec();
    let at = if at < 0 {
        m.len() - at.unsigned_abs()
    } else {
        at.unsigned_abs()
    };
    m[at] ^= 1 << bit;
    m
}

#[test]
fn every_message_tampered_with_ends_the_run() {
    let a = account();
    let truncated = |m: &[u8]| m[..m.len() - 1].to_vec();
    for i in 0..5 {
        let mut pair = Pair::code(&a);
        pair.run_to(i);
        let m = pair.messages[i].clone();
        // Cut short: the strict decoder refuses it (a length that runs past the end).
        assert!(
            matches!(pair.deliver(i, &truncated(&m)), Err(Error::Malformed(_))),
            "{i}"
        );
        // Another version nibble.
        let mut pair = Pair::code(&a);
        pair.run_to(i);
        assert!(matches!(
            pair.deliver(i, &flip(&m, 0, 5)),
            Err(Error::UnknownVersion { .. })
        ));
    }

    // Hello: `Ya` (field 2, from byte 22) made odd is no ristretto255 encoding: `InvalidKey`,
    // nothing counted.
    let mut pair = Pair::code(&a);
    let hello = pair.messages[0].clone();
    assert_eq!(hello[20..22], [0x12, 0x20], "Ya's tag and length");
    assert!(matches!(
        pair.deliver(0, &flip(&hello, 22, 0)),
        Err(Error::InvalidKey(_))
    ));
    assert_eq!(pair.primary.attempts_left(), 3);
    // Hello: a bit of `sid` (bytes 4..20) flipped still parses and is answered, but the two
    // sides' CPace differ: the companion cannot verify the reply (`InvalidLinkingCode`,
    // counted on both sides).
    let reply = send(
        pair.primary
            .receive(&flip(&hello, 4, 3), &mut keylink::os_rng())
            .unwrap(),
    );
    assert!(matches!(
        pair.companion.receive(&reply),
        Err(Error::InvalidLinkingCode { attempts_left: 2 })
    ));
    assert_eq!(pair.primary.attempts_left(), 2);

    // Reply: its confirmation (the last 32 bytes) does not verify: `InvalidLinkingCode`, a
    // failed attempt on the companion (it cannot tell a tampered reply from a wrong code).
    let mut pair = Pair::code(&a);
    pair.run_to(1);
    let reply = pair.messages[1].clone();
    assert!(matches!(
        pair.deliver(1, &flip(&reply, -1, 0)),
        Err(Error::InvalidLinkingCode { attempts_left: 2 })
    ));
    // Reply: `Yb` (field 1, from byte 4) made odd: `InvalidKey`, not counted.
    let mut pair = Pair::code(&a);
    pair.run_to(1);
    let reply = pair.messages[1].clone();
    assert_eq!(reply[2..4], [0x0a, 0x20], "Yb's tag and length");
    assert!(matches!(
        pair.deliver(1, &flip(&reply, 4, 0)),
        Err(Error::InvalidKey(_))
    ));
    assert_eq!(pair.companion.attempts_left(), 3);

    // Confirmation: does not verify: `LinkAborted`, the run stays counted on the primary.
    let mut pair = Pair::code(&a);
    pair.run_to(2);
    let confirmation = pair.messages[2].clone();
    aborted(
        pair.deliver(2, &flip(&confirmation, -1, 7)),
        "does not verify",
    );
    assert_eq!(pair.primary.attempts_left(), 2);

    // Account message: the tag does not verify: `LinkAborted`, nothing counted.
    let mut pair = Pair::code(&a);
    pair.run_to(3);
    let account_msg = pair.messages[3].clone();
    aborted(
        pair.deliver(3, &flip(&account_msg, -1, 0)),
        "does not decrypt",
    );
    assert_eq!(pair.companion.attempts_left(), 3);
    assert!(!pair.companion.is_linked());

    // Device message: the tag does not verify: `LinkAborted`; the confirmed run cost nothing.
    let mut pair = Pair::code(&a);
    pair.run_to(4);
    let device = pair.messages[4].clone();
    aborted(pair.deliver(4, &flip(&device, -1, 0)), "does not decrypt");
    assert!(!pair.primary.is_linked());
    assert_eq!(pair.primary.attempts_left(), 3);
}

#[test]
fn a_message_from_another_run_ends_the_run() {
    let a = account();
    let other = complete_run(&a);
    // Reply: the other run's `Yb` and confirmation do not fit our CPace: counted as a failed
    // attempt on the companion.
    let mut pair = Pair::code(&a);
    assert!(matches!(
        pair.deliver(1, &other[1]),
        Err(Error::InvalidLinkingCode { attempts_left: 2 })
    ));
    // Confirmation: another transcript.
    let mut pair = Pair::code(&a);
    pair.run_to(2);
    aborted(pair.deliver(2, &other[2]), "does not verify");
    assert_eq!(pair.primary.attempts_left(), 2);
    // Account and device messages: sealed under another run's keys.
    for i in [3, 4] {
        let mut pair = Pair::code(&a);
        pair.run_to(i);
        aborted(pair.deliver(i, &other[i]), "does not decrypt");
        assert!(!pair.primary.is_linked());
        assert_eq!(
            pair.companion.is_linked(),
            i == 4,
            "it sent its device message"
        );
    }
}

#[test]
fn a_device_on_the_list_is_not_linked_again() {
    let mut rng = keylink::os_rng();
    let mut a = account();
    let laptop = IdentityKeyPair::generate(&mut rng);
    let mut pair = Pair::with(Companion::with_code(laptop.clone(), &mut rng), &a);
    a.list = pair.link().list().clone().verify(&a.phone).unwrap();
    // The same device shows a new code; the primary has the new list.
    let mut again = Pair::with(Companion::with_code(laptop, &mut rng), &a);
    let hello = again.messages[0].clone();
    aborted(again.deliver(0, &hello), "on the device list already");
    assert_eq!(again.primary.attempts_left(), 3, "refused before any run");
    // The primary's own identity key neither.
    let primary = a.primary.clone();
    let mut itself = Pair::with(Companion::with_code(primary, &mut rng), &a);
    let hello = itself.messages[0].clone();
    aborted(itself.deliver(0, &hello), "on the device list already");
}

#[test]
fn a_grant_needs_the_accounts_list_with_room_and_a_new_id() {
    let mut rng = keylink::os_rng();
    let mut a = account();
    // A list of another account.
    let stranger = AccountKeyPair::generate(&mut rng);
    let at = Timestamp::from_unix_secs(1_800_000_100);
    assert!(matches!(
        LinkGrant::new(stranger, a.list.clone(), at),
        Err(Error::CannotLink(_))
    ));
    // Ids: above every id on the list, below 2^32 - 1.
    for id in [0u32, 1, u32::MAX] {
        assert!(
            matches!(grant(&a).with_device_id(id), Err(Error::CannotLink(_))),
            "{id}"
        );
    }
    // Link four companions; the second one with the id 9 (an earlier 2..8 was removed).
    for n in 0..4u32 {
        let mut pair = Pair::code(&a);
        if n == 1 {
            pair.primary = primary_for(&pair.companion, grant(&a).with_device_id(9).unwrap());
        }
        let done = pair.link();
        let expected = [2, 9, 10, 11][n as usize];
        assert_eq!(u32::from(done.entry().device_id()), expected);
        a.list = done.list().clone().verify(&a.phone).unwrap();
        if n < 3 {
            let taken = grant(&a).with_device_id(expected);
            assert!(matches!(taken, Err(Error::CannotLink(_))));
        }
    }
    // The list is full: 5 devices.
    assert_eq!(a.list.devices().len(), 5);
    let account = AccountKeyPair::from_bytes(&a.account.to_bytes()).unwrap();
    assert!(matches!(
        LinkGrant::new(account, a.list.clone(), at),
        Err(Error::CannotLink(_))
    ));
}

#[test]
fn a_hello_of_the_other_flow_is_malformed() {
    let mut rng = keylink::os_rng();
    let a = account();
    let mut by_qr = Companion::with_qr(IdentityKeyPair::generate(&mut rng), &mut rng);
    let mut by_code = Pair::code(&a);
    // A QR-flow hello (no sid, `Ya`, `E_C`) to a primary that typed a code.
    let qr_hello = by_qr.start(&mut rng).unwrap();
    assert!(matches!(
        by_code.deliver(0, &qr_hello),
        Err(Error::Malformed(_))
    ));
    assert_eq!(by_code.primary.attempts_left(), 3);
    // A typed-code hello to a primary that scanned a QR code.
    let mut scanned = primary_for(&by_qr, grant(&a));
    let code_hello = by_code.messages[0].clone();
    assert!(matches!(
        scanned.receive(&code_hello, &mut rng),
        Err(Error::Malformed(_))
    ));
    assert_eq!(scanned.attempts_left(), 1);
    // And a reply of the other flow to a companion.
    let qr_reply = send(scanned.receive(&qr_hello, &mut rng).unwrap());
    assert!(matches!(
        by_code.deliver(1, &qr_reply),
        Err(Error::Malformed(_))
    ));
}

/// The 32-byte seed in a key pair's record (`kind || 0x0a 0x20 || seed`, PROTOCOL.md §7.2).
fn seed(record: &[u8]) -> Vec<u8> {
    assert_eq!((record.len(), &record[1..3]), (35, &[0x0a, 0x20][..]));
    record[3..].to_vec()
}

/// The ways a secret's bytes could show in a `Debug` string.
fn renderings(secret: &[u8]) -> Vec<String> {
    let decimal = secret[..4].iter().map(u8::to_string).collect::<Vec<_>>();
    vec![
        hex::encode(secret),
        hex::encode_upper(secret),
        decimal.join(", "),
        decimal.join(","),
    ]
}

fn assert_redacted(debug: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(!debug.contains(secret.as_str()), "{debug} shows {secret}");
    }
}

#[test]
fn debug_prints_no_secret() {
    let mut rng = keylink::os_rng();
    let a = account();
    // Typed code: the code in every form, and the device's identity key pair's record.
    let laptop = IdentityKeyPair::generate(&mut rng);
    let mut pair = Pair::with(Companion::with_code(laptop.clone(), &mut rng), &a);
    let code = pair.companion.code().unwrap().to_string();
    let symbols = code.replace('-', "");
    let mut secrets = vec![code.clone(), symbols.clone(), symbols[..7].to_string()];
    secrets.extend(renderings(&seed(&laptop.to_bytes())));
    secrets.extend(renderings(&pair.companion.code().unwrap().prs()[..]));
    secrets.extend(renderings(&seed(&a.account.to_bytes())));
    let mut debugs = Vec::new();
    for i in 0..5 {
        debugs.push(format!("{:?} {:?}", pair.companion, pair.primary));
        let message = pair.messages[i].clone();
        let step = if i == 4 {
            format!("{:?}", pair.primary.receive(&message, &mut rng).unwrap())
        } else if i % 2 == 1 {
            let step = pair.companion.receive(&message).unwrap();
            let debug = format!("{step:?}");
            if let CompanionStep::Linked { reply, .. } | CompanionStep::Send(reply) = step {
                pair.messages.push(reply);
            }
            debug
        } else {
            let next = send(pair.primary.receive(&message, &mut rng).unwrap());
            pair.messages.push(next);
            String::new()
        };
        debugs.push(step);
    }
    debugs.push(format!("{:?} {:?}", pair.companion, pair.primary));
    assert!(debugs[0].contains("Companion") && debugs[0].contains("Primary"));
    for debug in &debugs {
        assert_redacted(debug, &secrets);
    }

    // QR code: the link secret.
    let mut pair = Pair::with(
        Companion::with_qr(IdentityKeyPair::generate(&mut rng), &mut rng),
        &a,
    );
    let qr = pair.companion.qr().unwrap().clone();
    let mut secrets = renderings(qr.link_secret().as_bytes());
    secrets.extend(renderings(&qr.to_bytes()[..]));
    let before = format!("{:?} {:?} {qr:?}", pair.companion, pair.primary);
    pair.run_to(2);
    let during = format!("{:?} {:?}", pair.companion, pair.primary);
    assert_redacted(&before, &secrets);
    assert_redacted(&during, &secrets);
}

/// Regression: `LinkGrant::new` gave out the id one above the list's highest even when that
/// was 2^32 - 1 (which `with_device_id` refuses), or, saturating, an id already on the list:
/// the companion then linked with a taken id and the primary's last step failed.
#[test]
fn no_grant_when_no_device_id_is_left() {
    let mut rng = keylink::os_rng();
    let mut a = account();
    let mut pair = Pair::code(&a);
    pair.primary = primary_for(
        &pair.companion,
        grant(&a).with_device_id(u32::MAX - 1).unwrap(),
    );
    a.list = pair.link().list().clone().verify(&a.phone).unwrap();
    let at = Timestamp::from_unix_secs(1_800_000_100);
    let account = || AccountKeyPair::from_bytes(&a.account.to_bytes()).unwrap();
    assert!(matches!(
        LinkGrant::new(account(), a.list.clone(), at),
        Err(Error::CannotLink(_))
    ));
    // A list with the id 2^32 - 1 itself (issued by hand): no id is left either.
    let laptop = IdentityKeyPair::generate(&mut rng);
    let authorization = a.account.authorize_device(u32::MAX, laptop.public(), at);
    let device_sig = authorization.countersign(&laptop).unwrap();
    let entries = vec![
        DeviceEntry::primary(&a.account, &a.primary, at),
        authorization.complete(device_sig).unwrap(),
    ];
    let list = SignedDeviceList::issue(&a.account, &a.phone, 9, at, entries).unwrap();
    let list = list.verify(&a.phone).unwrap();
    assert!(matches!(
        LinkGrant::new(account(), list, at),
        Err(Error::CannotLink(_))
    ));
}
