#![cfg(test)]
//! Random link runs between a `Companion` and a `Primary` over a hostile network
//! (PROTOCOL.md §12.3): messages are delivered, dropped, duplicated, replayed out of order,
//! tampered with, injected from a parallel run of the same code; the companion restarts and
//! the primary abandons at random; the typed code (or the scanned QR code) is right or wrong.
//!
//! After every step: no panic, only the documented errors, the attempts counted as the state
//! machines' tables say (at most 3 replies of the primary without a valid confirmation, the
//! companion's attempts never grow back), a wrong code never links, and a link on the primary
//! is the companion's link (same device id and transcript, the next list verifies and lists
//! the companion). At the end, liveness: with attempts left on both sides and neither linked,
//! one clean run links with the right code (and does not with a wrong one).

mod common;

use common::TestRng;
use keylink::account::{
    AccountKeyPair, DeviceEntry, PhoneNumber, SignedDeviceList, VerifiedDeviceList,
};
use keylink::keys::{IdentityKey, IdentityKeyPair};
use keylink::link::{
    Companion, CompanionStep, LinkGrant, LinkedAccount, LinkedDevice, LinkingCode, LinkingQr,
    Primary, PrimaryStep,
};
use keylink::{Error, Timestamp};
use proptest::prelude::*;
use proptest::sample::Index;

/// Runs a code may fail on either side (PROTOCOL.md §12.3).
const ATTEMPTS: u8 = 3;

/// The leading bytes of the primary's reply and account message.
const REPLY: [u8; 2] = [0x17, 0x02];
const ACCOUNT: [u8; 2] = [0x17, 0x04];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    ToPrimary,
    ToCompanion,
}

#[derive(Clone, Debug)]
enum Tamper {
    /// Flip bit `bit % 8` of the byte at `byte`.
    Flip { byte: Index, bit: u8 },
    /// Keep only the bytes before `at`.
    Truncate(Index),
}

impl Tamper {
    fn apply(&self, mut message: Vec<u8>) -> Vec<u8> {
        match self {
            Tamper::Flip { byte, bit } => {
                let at = byte.index(message.len());
                message[at] ^= 1 << (bit % 8);
            }
            Tamper::Truncate(at) => message.truncate(at.index(message.len())),
        }
        message
    }
}

#[derive(Clone, Debug)]
enum Action {
    /// Deliver the next message in order (of the other direction if this one has none).
    Deliver(Dir),
    /// Lose the next message.
    Drop(Dir),
    /// Deliver the next message twice.
    Duplicate(Dir),
    /// Deliver again any message ever sent in this direction.
    Replay(Dir, Index),
    /// Deliver the next message tampered with.
    Tamper(Dir, Tamper),
    /// The companion starts a new run.
    Start,
    /// The primary abandons the run in progress.
    Abandon,
    /// Deliver a message of a parallel run of the same code (to the side it was meant for).
    Inject(Index),
}

/// Every message ever sent one way, and the next one to deliver in order.
#[derive(Default)]
struct Queue {
    sent: Vec<Vec<u8>>,
    next: usize,
}

impl Queue {
    fn take_next(&mut self) -> Option<Vec<u8>> {
        let message = self.sent.get(self.next).cloned();
        self.next = self.sent.len().min(self.next + 1);
        message
    }

    fn has_next(&self) -> bool {
        self.next < self.sent.len()
    }

    fn skip_all(&mut self) {
        self.next = self.sent.len();
    }
}

struct Account {
    phone: PhoneNumber,
    account: AccountKeyPair,
    primary: IdentityKeyPair,
    list: VerifiedDeviceList,
}

fn account(rng: &mut TestRng) -> Account {
    let phone = PhoneNumber::parse("+15550003").unwrap();
    let account = AccountKeyPair::generate(rng);
    let primary = IdentityKeyPair::generate(rng);
    let now = Timestamp::from_unix_secs(1_800_000_000);
    let entry = DeviceEntry::primary(&account, &primary, now);
    let list = SignedDeviceList::issue(&account, &phone, 7, now, vec![entry]).unwrap();
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
    let at = Timestamp::from_unix_secs(1_800_000_100);
    LinkGrant::new(account, a.list.clone(), at).unwrap()
}

/// The primary for what the user typed or scanned from `shown`.
fn primary_for(shown: &Companion, a: &Account) -> Primary {
    match (shown.code(), shown.qr()) {
        (Some(code), _) => {
            Primary::typed(&LinkingCode::parse(&code.to_string()).unwrap(), grant(a))
        }
        (None, Some(qr)) => {
            Primary::scanned(LinkingQr::parse(&qr.to_bytes()[..]).unwrap(), grant(a))
        }
        (None, None) => unreachable!("a companion shows a code or a QR code"),
    }
}

fn companion(qr: bool, identity: IdentityKeyPair, rng: &mut TestRng) -> Companion {
    if qr {
        Companion::with_qr(identity, rng)
    } else {
        Companion::with_code(identity, rng)
    }
}

/// The five messages of a clean run between another companion showing the same code (or its
/// own QR code) and a primary that typed (scanned) it, with the side each is meant for.
fn parallel_run(qr: bool, seed: u64, a: &Account) -> Vec<(Dir, Vec<u8>)> {
    let rng = &mut TestRng::new(seed ^ 0x9a7a);
    let identity = IdentityKeyPair::generate(rng);
    let mut companion = companion(qr, identity, &mut TestRng::new(seed));
    let mut primary = primary_for(&companion, a);
    let hello = companion.start(rng).unwrap();
    let Ok(PrimaryStep::Send(reply)) = primary.receive(&hello, rng) else {
        panic!("the parallel run's hello")
    };
    let Ok(CompanionStep::Send(confirm)) = companion.receive(&reply) else {
        panic!("the parallel run's reply")
    };
    let Ok(PrimaryStep::Send(account)) = primary.receive(&confirm, rng) else {
        panic!("the parallel run's confirmation")
    };
    let Ok(CompanionStep::Linked { reply: device, .. }) = companion.receive(&account) else {
        panic!("the parallel run's account message")
    };
    assert!(matches!(
        primary.receive(&device, rng),
        Ok(PrimaryStep::Linked(_))
    ));
    vec![
        (Dir::ToPrimary, hello),
        (Dir::ToCompanion, reply),
        (Dir::ToPrimary, confirm),
        (Dir::ToCompanion, account),
        (Dir::ToPrimary, device),
    ]
}

/// The errors `Companion::receive` documents.
fn companion_may_refuse_with(e: &Error) -> bool {
    matches!(
        e,
        Error::InvalidLinkingCode { .. }
            | Error::LinkingCodeExpired
            | Error::LinkAborted(_)
            | Error::Malformed(_)
            | Error::UnknownVersion { .. }
            | Error::InvalidKey(_)
            | Error::NonContributoryKey
            | Error::InvalidSignature(_)
    )
}

/// The errors `Primary::receive` documents.
fn primary_may_refuse_with(e: &Error) -> bool {
    matches!(
        e,
        Error::LinkingCodeExpired
            | Error::LinkAborted(_)
            | Error::Malformed(_)
            | Error::UnknownVersion { .. }
            | Error::InvalidKey(_)
            | Error::NonContributoryKey
            | Error::InvalidSignature(_)
            | Error::CannotLink(_)
    )
}

/// One case: the two sides, the network between them and what the model expects.
struct World {
    rng: TestRng,
    account: Account,
    qr: bool,
    right: bool,
    companion: Companion,
    companion_key: IdentityKey,
    primary: Primary,
    to_primary: Queue,
    to_companion: Queue,
    parallel: Vec<(Dir, Vec<u8>)>,
    /// What the companion learned when it linked.
    linked: Option<Box<LinkedAccount>>,
    /// The companion's attempts after the last step (they never grow back).
    companion_attempts: u8,
    /// Replies the primary sent that no valid confirmation followed.
    unconfirmed: u8,
    /// Replies the primary sent in all.
    replies: u8,
    /// Whether the primary has a run in progress (it sent a reply or the account message).
    primary_in_run: bool,
    /// How many times each side linked (once at most).
    primary_links: u8,
}

impl World {
    fn new(qr: bool, right: bool, seed: u64) -> Self {
        let mut rng = TestRng::new(seed);
        let account = account(&mut rng);
        let identity = IdentityKeyPair::generate(&mut rng);
        let companion_key = *identity.public();
        // The parallel companion is built from the same seed: it shows the same code.
        let companion = companion(qr, identity, &mut TestRng::new(seed ^ 0xc0de));
        let parallel = parallel_run(qr, seed ^ 0xc0de, &account);
        let primary = match right {
            true => primary_for(&companion, &account),
            false => {
                let other = self::companion(qr, IdentityKeyPair::generate(&mut rng), &mut rng);
                assert!(other.code().is_none() || other.code() != companion.code());
                primary_for(&other, &account)
            }
        };
        World {
            rng,
            account,
            qr,
            right,
            companion_attempts: companion.attempts_left(),
            companion,
            companion_key,
            primary,
            to_primary: Queue::default(),
            to_companion: Queue::default(),
            parallel,
            linked: None,
            unconfirmed: 0,
            replies: 0,
            primary_in_run: false,
            primary_links: 0,
        }
    }

    fn queue(&mut self, dir: Dir) -> &mut Queue {
        match dir {
            Dir::ToPrimary => &mut self.to_primary,
            Dir::ToCompanion => &mut self.to_companion,
        }
    }

    fn act(&mut self, action: &Action) {
        match action {
            Action::Deliver(dir) => {
                let dir = match self.queue(*dir).has_next() {
                    true => *dir,
                    false => other(*dir),
                };
                if let Some(m) = self.queue(dir).take_next() {
                    self.deliver(dir, &m);
                }
            }
            Action::Drop(dir) => {
                self.queue(*dir).take_next();
            }
            Action::Duplicate(dir) => {
                if let Some(m) = self.queue(*dir).take_next() {
                    self.deliver(*dir, &m);
                    self.deliver(*dir, &m);
                }
            }
            Action::Replay(dir, which) => {
                let sent = &self.queue(*dir).sent;
                if !sent.is_empty() {
                    let m = sent[which.index(sent.len())].clone();
                    self.deliver(*dir, &m);
                }
            }
            Action::Tamper(dir, tamper) => {
                if let Some(m) = self.queue(*dir).take_next() {
                    self.deliver(*dir, &tamper.apply(m));
                }
            }
            Action::Start => self.start(),
            Action::Abandon => {
                self.primary.abandon();
                self.primary_in_run = false;
            }
            Action::Inject(which) => {
                let (dir, m) = self.parallel[which.index(self.parallel.len())].clone();
                self.deliver(dir, &m);
            }
        }
        self.check();
    }

    fn deliver(&mut self, dir: Dir, message: &[u8]) {
        match dir {
            Dir::ToPrimary => self.at_primary(message),
            Dir::ToCompanion => self.at_companion(message),
        }
        self.check();
    }

    fn start(&mut self) {
        let before = self.companion.attempts_left();
        match self.companion.start(&mut self.rng) {
            Ok(hello) => {
                assert!(before > 0 && !self.companion.is_linked());
                self.to_primary.sent.push(hello);
            }
            Err(Error::LinkingCodeExpired) => assert_eq!(before, 0),
            Err(Error::LinkAborted(_)) => assert!(self.companion.is_linked()),
            Err(e) => panic!("start: {e:?}"),
        }
    }

    fn at_companion(&mut self, message: &[u8]) {
        let before = self.companion.attempts_left();
        let was_linked = self.companion.is_linked();
        match self.companion.receive(message) {
            Ok(CompanionStep::Send(confirmation)) => {
                assert!(self.right, "a wrong code's reply verified");
                assert_eq!(confirmation[..2], [0x17, 0x03]);
                self.to_primary.sent.push(confirmation);
            }
            Ok(CompanionStep::Linked { reply, account }) => {
                assert!(
                    self.right && !was_linked,
                    "linked with a wrong code, or twice"
                );
                assert_eq!(account.phone(), &self.account.phone);
                assert_eq!(account.account_key(), self.account.account.public());
                assert!(self.companion.is_linked());
                self.linked = Some(account);
                self.to_primary.sent.push(reply);
            }
            Ok(other) => panic!("an unknown step {other:?}"),
            Err(e) => {
                assert!(companion_may_refuse_with(&e), "companion: {e:?}");
                let after = self.companion.attempts_left();
                match e {
                    Error::InvalidLinkingCode { attempts_left } => {
                        assert!(!self.qr);
                        assert_eq!((attempts_left, after), (before - 1, before - 1));
                    }
                    Error::LinkingCodeExpired => assert_eq!((before, after), (1, 0)),
                    _ => assert!(after == before || self.qr && after == 0),
                }
                assert_eq!(self.companion.is_linked(), was_linked);
            }
        }
    }

    fn at_primary(&mut self, message: &[u8]) {
        let was_linked = self.primary.is_linked();
        match self.primary.receive(message, &mut self.rng) {
            Ok(PrimaryStep::Send(bytes)) => {
                match <[u8; 2]>::try_from(&bytes[..2]).unwrap() {
                    REPLY => {
                        self.unconfirmed += 1;
                        self.replies += 1;
                    }
                    ACCOUNT => {
                        assert!(self.right, "a wrong code's confirmation verified");
                        self.unconfirmed -= 1;
                    }
                    other => panic!("the primary sent {other:?}"),
                }
                self.primary_in_run = true;
                self.to_companion.sent.push(bytes);
            }
            Ok(PrimaryStep::Linked(done)) => {
                self.check_link(&done);
                self.primary_in_run = false;
                self.primary_links += 1;
            }
            Ok(other) => panic!("an unknown step {other:?}"),
            Err(e) => {
                assert!(primary_may_refuse_with(&e), "primary: {e:?}");
                assert_eq!(self.primary.is_linked(), was_linked);
                if was_linked {
                    assert!(matches!(e, Error::LinkAborted(_)), "{e:?}");
                }
                if matches!(e, Error::LinkingCodeExpired) {
                    let used = if self.qr {
                        self.replies
                    } else {
                        self.unconfirmed
                    };
                    assert!(used >= self.limit() && !self.primary_in_run);
                }
                self.primary_in_run = false;
            }
        }
    }

    /// Replies without a valid confirmation the primary allows.
    fn limit(&self) -> u8 {
        if self.qr { 1 } else { ATTEMPTS }
    }

    /// The primary linked: it must be the companion's link, on the next list.
    fn check_link(&self, done: &LinkedDevice) {
        assert!(self.right, "a wrong code linked");
        let linked = self
            .linked
            .as_ref()
            .expect("the primary linked, the companion did not");
        assert_eq!(done.entry().device_id(), linked.device_id());
        assert_eq!(done.entry().identity_key(), &self.companion_key);
        assert_eq!(
            done.history_key().transcript(),
            linked.history_key().transcript()
        );
        let list = done.list().clone().verify(&self.account.phone).unwrap();
        assert_eq!(list.version(), self.account.list.version() + 1);
        assert_eq!(list.devices().len(), 2);
        assert!(list.lists(linked.device_id(), &self.companion_key));
        assert!(list.lists(1u32, self.account.primary.public()));
    }

    /// What holds after every step.
    fn check(&mut self) {
        let after = self.companion.attempts_left();
        assert!(
            after <= self.companion_attempts,
            "the companion's attempts grew"
        );
        self.companion_attempts = after;
        assert!(self.primary.attempts_left() <= ATTEMPTS);
        assert!(
            self.unconfirmed <= self.limit(),
            "too many unconfirmed replies"
        );
        assert!(self.primary_links <= 1);
        if !self.primary.is_linked() {
            let used = if self.qr {
                self.replies
            } else {
                self.unconfirmed
            };
            assert_eq!(self.primary.attempts_left(), self.limit() - used);
        }
        if self.primary.is_linked() {
            assert!(self.companion.is_linked());
        }
        if !self.right {
            assert!(!self.primary.is_linked() && !self.companion.is_linked());
        }
    }

    /// One run with nothing lost: the companion starts, every message is delivered in order.
    fn clean_run(&mut self) {
        self.to_primary.skip_all();
        self.to_companion.skip_all();
        self.act(&Action::Start);
        while self.to_primary.has_next() || self.to_companion.has_next() {
            self.act(&Action::Deliver(Dir::ToPrimary));
        }
    }

    /// With attempts left on both sides and neither linked, a clean run links with the right
    /// code and costs an attempt on both sides with a wrong one.
    fn check_liveness(&mut self) {
        let open = self.companion.attempts_left() > 0 && self.primary.attempts_left() > 0;
        if !open || self.companion.is_linked() || self.primary.is_linked() {
            return;
        }
        let before = (self.companion.attempts_left(), self.primary.attempts_left());
        if self.primary_in_run {
            // The first hello ends the primary's run and is not answered.
            self.clean_run();
            assert!(!self.primary_in_run && !self.primary.is_linked());
        }
        self.clean_run();
        if self.right {
            assert!(self.companion.is_linked() && self.primary.is_linked());
        } else {
            assert_eq!(self.companion.attempts_left(), before.0 - 1);
            assert_eq!(self.primary.attempts_left(), before.1 - 1);
        }
    }
}

fn other(dir: Dir) -> Dir {
    match dir {
        Dir::ToPrimary => Dir::ToCompanion,
        Dir::ToCompanion => Dir::ToPrimary,
    }
}

fn dir() -> impl Strategy<Value = Dir> {
    prop_oneof![Just(Dir::ToPrimary), Just(Dir::ToCompanion)]
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        3 => (any::<Index>(), any::<u8>()).prop_map(|(byte, bit)| Tamper::Flip { byte, bit }),
        1 => any::<Index>().prop_map(Tamper::Truncate),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        20 => dir().prop_map(Action::Deliver),
        1 => dir().prop_map(Action::Drop),
        1 => dir().prop_map(Action::Duplicate),
        1 => (dir(), any::<Index>()).prop_map(|(d, i)| Action::Replay(d, i)),
        2 => (dir(), tamper()).prop_map(|(d, t)| Action::Tamper(d, t)),
        2 => Just(Action::Start),
        1 => Just(Action::Abandon),
        1 => any::<Index>().prop_map(Action::Inject),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn hostile_network_link_runs(
        qr in prop::bool::weighted(0.25),
        right in prop::bool::weighted(0.75),
        seed in any::<u64>(),
        actions in prop::collection::vec(action(), 0..48),
    ) {
        let mut world = World::new(qr, right, seed);
        world.act(&Action::Start);
        for action in &actions {
            world.act(action);
        }
        world.check_liveness();
    }
}
