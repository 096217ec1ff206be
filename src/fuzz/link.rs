//! Entry points of the linking fuzz targets (`link_primary`, `link_companion`,
//! `link_messages`): the state machines of PROTOCOL.md §12.3 fed arbitrary bytes, mixed with
//! an honest peer's messages so that every state is reached.
//!
//! The account, its list and the new device's identity are built once per process; the code
//! (or QR code) the companion shows comes from a fixed seed, so every input sees the same
//! keys, and the honest messages of a run are the same from input to input (the seed corpus
//! holds them).
//!
//! Oracles: no panic; only the errors `Companion::receive` and `Primary::receive` document;
//! the attempts counted as the state tables say (the primary's attempts are 3 minus the
//! replies that no valid confirmation followed, the companion's never grow back); a wrong
//! code never links; a link on the primary is the honest companion's, on the next list.

use std::sync::OnceLock;

use zeroize::Zeroizing;

use super::FuzzRng;
use crate::Timestamp;
use crate::account::{
    AccountKeyPair, DeviceEntry, PhoneNumber, SignedDeviceList, VerifiedDeviceList,
};
use crate::constants::LINK_CODE_ATTEMPTS;
use crate::error::Error;
use crate::keys::IdentityKeyPair;
use crate::link::handshake::Flow;
use crate::link::{
    AccountPayload, Companion, CompanionStep, Hello, LinkGrant, LinkedAccount, LinkedDevice,
    LinkingCode, LinkingQr, Primary, PrimaryStep, Reply,
};

/// Most steps one input runs, so that each input stays fast.
const MAX_STEPS: usize = 32;

/// The seed the companion's code (or QR code) is drawn from.
const SHOWN_SEED: u64 = 0x5348_4f57;

/// The seed of each input's protocol randomness.
const RUN_SEED: u64 = 0x52_554e;

/// The leading bytes of the primary's reply and account message.
const REPLY: [u8; 2] = [0x17, 0x02];
const ACCOUNT: [u8; 2] = [0x17, 0x04];

/// What every linking target starts from.
struct LinkFixture {
    account: Zeroizing<Vec<u8>>,
    phone: PhoneNumber,
    list: VerifiedDeviceList,
    device: IdentityKeyPair,
    wrong_code: LinkingCode,
    wrong_qr: LinkingQr,
}

fn link_fixture() -> Option<&'static LinkFixture> {
    static FIXTURE: OnceLock<Option<LinkFixture>> = OnceLock::new();
    FIXTURE.get_or_init(build_link_fixture).as_ref()
}

fn build_link_fixture() -> Option<LinkFixture> {
    let rng = &mut FuzzRng::new(0x4c49_4e4b);
    let phone = PhoneNumber::parse("+447700900123").ok()?;
    let account = AccountKeyPair::generate(rng);
    let primary = IdentityKeyPair::generate(rng);
    let now = Timestamp::from_unix_secs(1_800_000_000);
    let entry = DeviceEntry::primary(&account, &primary, now);
    let list = SignedDeviceList::issue(&account, &phone, 1, now, vec![entry]).ok()?;
    let device = IdentityKeyPair::generate(rng);
    let shown = Companion::with_code(device.clone(), &mut FuzzRng::new(SHOWN_SEED));
    let wrong_code = LinkingCode::generate(rng);
    if shown.code() == Some(&wrong_code) {
        return None;
    }
    let other = Companion::with_qr(IdentityKeyPair::generate(rng), rng);
    Some(LinkFixture {
        account: account.to_bytes(),
        list: list.verify(&phone).ok()?,
        phone,
        device,
        wrong_code,
        wrong_qr: other.qr()?.clone(),
    })
}

impl LinkFixture {
    /// The honest companion, showing the fixed code or QR code.
    fn companion(&self, qr: bool) -> Companion {
        let seed = &mut FuzzRng::new(SHOWN_SEED);
        match qr {
            true => Companion::with_qr(self.device.clone(), seed),
            false => Companion::with_code(self.device.clone(), seed),
        }
    }

    /// The primary that typed (scanned) what `shown` shows, or another code (QR code).
    fn primary(&self, shown: &Companion, right: bool) -> Option<Primary> {
        let account = AccountKeyPair::from_bytes(&self.account).ok()?;
        let at = Timestamp::from_unix_secs(1_800_000_100);
        let grant = LinkGrant::new(account, self.list.clone(), at).ok()?;
        Some(match (shown.code(), shown.qr(), right) {
            (Some(code), _, true) => Primary::typed(code, grant),
            (Some(_), _, false) => Primary::typed(&self.wrong_code, grant),
            (None, Some(qr), true) => Primary::scanned(qr.clone(), grant),
            (None, _, _) => Primary::scanned(self.wrong_qr.clone(), grant),
        })
    }

    /// The primary linked: it must be the honest companion's link, on the next list.
    fn check_link(&self, right: bool, done: &LinkedDevice, linked: Option<&LinkedAccount>) {
        assert!(right, "a wrong code linked");
        assert!(
            linked.is_some(),
            "the primary linked, the companion did not"
        );
        let Some(linked) = linked else {
            return;
        };
        assert!(done.entry().device_id() == linked.device_id());
        assert!(done.entry().identity_key() == self.device.public());
        assert!(done.history_key().transcript() == linked.history_key().transcript());
        let list = done.list().clone().verify(&self.phone);
        assert!(
            list.is_ok_and(|list| list.version() == self.list.version() + 1
                && list.lists(linked.device_id(), self.device.public())),
            "the next list"
        );
    }
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

/// The fuzz input, read front to back; past its end every read is zero (or empty).
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
        self.0 = rest;
        first
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    fn bytes(&mut self, len: usize) -> &'a [u8] {
        let (taken, rest) = self.0.split_at(len.min(self.0.len()));
        self.0 = rest;
        taken
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What one step delivers to the side under test.
enum Delivery<'a> {
    /// The honest peer's next message.
    Honest,
    /// The honest peer's next message, byte `at` (mod its length) xored with `mask` (cut
    /// there if `mask` is 0).
    Mutated { at: u16, mask: u8 },
    /// Raw bytes from the input.
    Raw(&'a [u8]),
    /// No message: a side restarts (`true`: the honest peer; `false`: the side under test).
    Control(bool),
}

impl<'a> Delivery<'a> {
    /// One step: a byte (mod 4) and its arguments (raw bytes: a u16 length, then the bytes).
    fn read(input: &mut Input<'a>) -> Self {
        match input.byte() % 4 {
            0 => Delivery::Honest,
            1 => Delivery::Mutated {
                at: input.u16(),
                mask: input.byte(),
            },
            2 => {
                let len = usize::from(input.u16());
                Delivery::Raw(input.bytes(len))
            }
            _ => Delivery::Control(input.byte() & 1 == 1),
        }
    }

    /// The bytes to deliver, from the honest peer's next message `honest` (taken).
    fn message(&self, honest: &mut Option<Vec<u8>>) -> Option<Vec<u8>> {
        match self {
            Delivery::Honest => honest.take(),
            Delivery::Mutated { at, mask } => {
                let mut m = honest.take()?;
                let at = usize::from(*at) % m.len().max(1);
                match (*mask, m.get_mut(at)) {
                    (0, _) => m.truncate(at),
                    (mask, Some(byte)) => *byte ^= mask,
                    (_, None) => {}
                }
                Some(m)
            }
            Delivery::Raw(bytes) => Some(bytes.to_vec()),
            Delivery::Control(_) => None,
        }
    }
}

/// The first input byte: bit 0 the QR flow, bit 1 a wrong code (or another QR code).
fn flags(input: &mut Input<'_>) -> (bool, bool) {
    let flags = input.byte();
    (flags & 1 == 1, flags & 2 == 0)
}

/// The primary's attempts, from the replies it sent and the confirmations it took back.
struct Attempts {
    qr: bool,
    replies: u8,
    unconfirmed: u8,
}

impl Attempts {
    /// Counts what the primary sent.
    fn sent(&mut self, message: &[u8], right: bool) {
        match message.get(..2) {
            Some(lead) if lead == REPLY => {
                self.replies = self.replies.saturating_add(1);
                self.unconfirmed = self.unconfirmed.saturating_add(1);
            }
            Some(lead) if lead == ACCOUNT => {
                assert!(right, "a wrong code's confirmation verified");
                assert!(self.unconfirmed > 0, "an account message without a reply");
                self.unconfirmed -= 1;
            }
            _ => unreachable!("the primary sent {message:?}"),
        }
    }

    fn check(&self, primary: &Primary) {
        let (limit, used) = match self.qr {
            true => (1, self.replies),
            false => (LINK_CODE_ATTEMPTS, self.unconfirmed),
        };
        assert!(used <= limit, "more replies than attempts");
        assert!(primary.attempts_left() <= LINK_CODE_ATTEMPTS);
        if !primary.is_linked() {
            assert!(
                primary.attempts_left() == limit - used,
                "attempts miscounted"
            );
        }
    }
}

/// A `Primary` under test against an honest `Companion`.
struct PrimaryWorld {
    f: &'static LinkFixture,
    right: bool,
    primary: Primary,
    companion: Companion,
    honest: Option<Vec<u8>>,
    linked: Option<Box<LinkedAccount>>,
    attempts: Attempts,
    rng: FuzzRng,
}

impl PrimaryWorld {
    fn deliver_to_primary(&mut self, message: &[u8]) {
        let was_linked = self.primary.is_linked();
        match self.primary.receive(message, &mut self.rng) {
            Ok(PrimaryStep::Send(bytes)) => {
                self.attempts.sent(&bytes, self.right);
                self.deliver_to_companion(&bytes);
            }
            Ok(PrimaryStep::Linked(done)) => {
                self.f.check_link(self.right, &done, self.linked.as_deref());
            }
            Err(e) => {
                assert!(primary_may_refuse_with(&e), "primary: {e:?}");
                assert!(self.primary.is_linked() == was_linked);
            }
        }
        self.attempts.check(&self.primary);
    }

    /// The honest companion answers what the primary sent.
    fn deliver_to_companion(&mut self, message: &[u8]) {
        self.honest = match self.companion.receive(message) {
            Ok(CompanionStep::Send(bytes)) => Some(bytes),
            Ok(CompanionStep::Linked { reply, account }) => {
                assert!(self.right, "a wrong code linked the companion");
                self.linked = Some(account);
                Some(reply)
            }
            Err(_) => None,
        };
    }

    fn step(&mut self, delivery: &Delivery<'_>) {
        if let Some(message) = delivery.message(&mut self.honest) {
            self.deliver_to_primary(&message);
            return;
        }
        match delivery {
            Delivery::Control(true) => self.honest = self.companion.start(&mut self.rng).ok(),
            Delivery::Control(false) => self.primary.abandon(),
            _ => {}
        }
        self.attempts.check(&self.primary);
    }
}

/// A `Primary` (typed code or scanned QR code, the first input byte says which and whether
/// right) fed a schedule from the input, at most `MAX_STEPS` steps: per step, the honest
/// companion's next message, a mutated copy of it, raw bytes, or a restart (the companion
/// starts a new run, or the primary abandons its run).
pub fn fuzz_link_primary(data: &[u8]) {
    run_primary(data);
}

fn run_primary(data: &[u8]) -> Option<PrimaryWorld> {
    let f = link_fixture()?;
    let mut input = Input(data);
    let (qr, right) = flags(&mut input);
    let mut companion = f.companion(qr);
    let primary = f.primary(&companion, right)?;
    let mut rng = FuzzRng::new(RUN_SEED);
    let honest = companion.start(&mut rng).ok();
    let mut world = PrimaryWorld {
        f,
        right,
        primary,
        companion,
        honest,
        linked: None,
        attempts: Attempts {
            qr,
            replies: 0,
            unconfirmed: 0,
        },
        rng,
    };
    for _ in 0..MAX_STEPS {
        if input.is_empty() {
            break;
        }
        world.step(&Delivery::read(&mut input));
    }
    Some(world)
}

/// A `Companion` under test against an honest `Primary`.
struct CompanionWorld {
    f: &'static LinkFixture,
    right: bool,
    companion: Companion,
    primary: Primary,
    honest: Option<Vec<u8>>,
    linked: Option<Box<LinkedAccount>>,
    attempts_left: u8,
    rng: FuzzRng,
}

impl CompanionWorld {
    fn deliver_to_companion(&mut self, message: &[u8]) {
        let was_linked = self.companion.is_linked();
        match self.companion.receive(message) {
            Ok(CompanionStep::Send(confirmation)) => {
                assert!(self.right, "a wrong code's reply verified");
                self.deliver_to_primary(&confirmation);
            }
            Ok(CompanionStep::Linked { reply, account }) => {
                assert!(
                    self.right && !was_linked,
                    "linked with a wrong code, or twice"
                );
                assert!(account.phone() == &self.f.phone);
                assert!(account.account_key() == self.f.list.account_key());
                self.linked = Some(account);
                self.deliver_to_primary(&reply);
            }
            Err(e) => {
                assert!(companion_may_refuse_with(&e), "companion: {e:?}");
                assert!(self.companion.is_linked() == was_linked);
                if let Error::InvalidLinkingCode { attempts_left } = e {
                    assert!(attempts_left == self.companion.attempts_left());
                    assert!(attempts_left + 1 == self.attempts_left);
                }
            }
        }
        self.check();
    }

    /// The honest primary answers what the companion sent.
    fn deliver_to_primary(&mut self, message: &[u8]) {
        self.honest = match self.primary.receive(message, &mut self.rng) {
            Ok(PrimaryStep::Send(bytes)) => Some(bytes),
            Ok(PrimaryStep::Linked(done)) => {
                self.f.check_link(self.right, &done, self.linked.as_deref());
                None
            }
            Err(_) => None,
        };
    }

    fn check(&mut self) {
        let attempts_left = self.companion.attempts_left();
        assert!(
            attempts_left <= self.attempts_left,
            "the attempts grew back"
        );
        self.attempts_left = attempts_left;
        if self.primary.is_linked() {
            assert!(self.companion.is_linked());
        }
    }

    fn start(&mut self) {
        let before = self.companion.attempts_left();
        match self.companion.start(&mut self.rng) {
            Ok(hello) => self.deliver_to_primary(&hello),
            Err(Error::LinkingCodeExpired) => assert!(before == 0),
            Err(Error::LinkAborted(_)) => assert!(self.companion.is_linked()),
            Err(e) => unreachable!("start: {e:?}"),
        }
    }

    fn step(&mut self, delivery: &Delivery<'_>) {
        if let Some(message) = delivery.message(&mut self.honest) {
            self.deliver_to_companion(&message);
            return;
        }
        match delivery {
            Delivery::Control(true) => self.primary.abandon(),
            Delivery::Control(false) => self.start(),
            _ => {}
        }
        self.check();
    }
}

/// A `Companion` (typed code or QR code; the first input byte says which, and whether the
/// honest primary typed it right) fed a schedule from the input, at most `MAX_STEPS` steps:
/// per step, the honest primary's next message, a mutated copy of it, raw bytes, or a restart
/// (the primary abandons its run, or the companion starts a new one).
pub fn fuzz_link_companion(data: &[u8]) {
    run_companion(data);
}

fn run_companion(data: &[u8]) -> Option<CompanionWorld> {
    let f = link_fixture()?;
    let mut input = Input(data);
    let (qr, right) = flags(&mut input);
    let companion = f.companion(qr);
    let primary = f.primary(&companion, right)?;
    let mut world = CompanionWorld {
        f,
        right,
        attempts_left: companion.attempts_left(),
        companion,
        primary,
        honest: None,
        linked: None,
        rng: FuzzRng::new(RUN_SEED),
    };
    world.start();
    for _ in 0..MAX_STEPS {
        if input.is_empty() {
            break;
        }
        world.step(&Delivery::read(&mut input));
    }
    Some(world)
}

/// Feeds arbitrary bytes to every link message parser: directly (what parses serializes back
/// to the same bytes) and through each state of both state machines, after an honest run up
/// to that state (only documented errors; a side with no run in progress stays as it was).
pub fn fuzz_link_messages(data: &[u8]) {
    for flow in [Flow::Code, Flow::Qr] {
        if let Ok(hello) = Hello::parse(data, flow) {
            assert!(hello.to_bytes() == data, "hello does not round-trip");
        }
        if let Ok(reply) = Reply::parse(data, flow) {
            assert!(reply.to_bytes() == data, "reply does not round-trip");
        }
    }
    if let Ok(payload) = AccountPayload::parse(data) {
        assert!(*payload.to_bytes() == data, "payload does not round-trip");
    }
    let Some(f) = link_fixture() else {
        return;
    };
    let rng = &mut FuzzRng::new(RUN_SEED);
    for qr in [false, true] {
        states(f, qr, data, rng);
    }
}

/// `data` to each state of a run of `qr`'s flow.
fn states(f: &LinkFixture, qr: bool, data: &[u8], rng: &mut FuzzRng) -> Option<()> {
    let full = if qr { 1 } else { LINK_CODE_ATTEMPTS };
    // Awaiting a hello: no run in progress; a hello that checks out is answered.
    let mut companion = f.companion(qr);
    let mut primary = f.primary(&companion, true)?;
    match primary.receive(data, rng) {
        Ok(_) => assert!(primary.attempts_left() == full - 1),
        Err(e) => {
            assert!(primary_may_refuse_with(&e), "hello: {e:?}");
            assert!(
                primary.attempts_left() == full,
                "a refused hello was counted"
            );
        }
    }
    // Awaiting the reply.
    let hello = companion.start(rng).ok()?;
    let mut primary = f.primary(&companion, true)?;
    let PrimaryStep::Send(reply) = primary.receive(&hello, rng).ok()? else {
        return None;
    };
    if !qr {
        // (A QR companion's one run is this one.)
        let mut other = f.companion(qr);
        other.start(rng).ok()?;
        refused_by_companion(&mut other, data, "reply");
    }
    // Awaiting the confirmation.
    let mut waiting = f.primary(&companion, true)?;
    waiting.receive(&hello, rng).ok()?;
    refused_by_primary(&mut waiting, data, rng, "confirmation");
    // Awaiting the account message and the device message.
    let CompanionStep::Send(confirmation) = companion.receive(&reply).ok()? else {
        return None;
    };
    let PrimaryStep::Send(_) = primary.receive(&confirmation, rng).ok()? else {
        return None;
    };
    refused_by_companion(&mut companion, data, "account");
    refused_by_primary(&mut primary, data, rng, "device");
    Some(())
}

fn refused_by_companion(companion: &mut Companion, data: &[u8], what: &str) {
    let before = companion.attempts_left();
    match companion.receive(data) {
        Ok(CompanionStep::Linked { account, .. }) => {
            assert!(account.device_id() == 2u32.into(), "{what}");
        }
        Ok(CompanionStep::Send(_)) => {}
        Err(e) => {
            assert!(companion_may_refuse_with(&e), "{what}: {e:?}");
            assert!(companion.attempts_left() <= before);
        }
    }
}

fn refused_by_primary(primary: &mut Primary, data: &[u8], rng: &mut FuzzRng, what: &str) {
    match primary.receive(data, rng) {
        Ok(PrimaryStep::Linked(done)) => {
            assert!(u32::from(done.entry().device_id()) == 2, "{what}");
        }
        Ok(PrimaryStep::Send(_)) => {}
        Err(e) => assert!(primary_may_refuse_with(&e), "{what}: {e:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn corpus(target: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(target)
    }

    type EntryPoint = fn(&[u8]);

    const TARGETS: [(&str, EntryPoint); 3] = [
        ("link_primary", fuzz_link_primary),
        ("link_companion", fuzz_link_companion),
        ("link_messages", fuzz_link_messages),
    ];

    #[test]
    fn link_seed_corpus_replays() {
        assert!(
            link_fixture().is_some(),
            "the link fixture could not be built"
        );
        for (target, entry) in TARGETS {
            let mut count = 0;
            for file in std::fs::read_dir(corpus(target)).unwrap() {
                entry(&std::fs::read(file.unwrap().path()).unwrap());
                count += 1;
            }
            assert!(count > 0, "no seeds for {target}");
        }
    }

    /// The honest messages of a run of `qr`'s flow, in order.
    fn honest_run(qr: bool) -> Vec<Vec<u8>> {
        let f = link_fixture().unwrap();
        let rng = &mut FuzzRng::new(RUN_SEED);
        let mut companion = f.companion(qr);
        let mut primary = f.primary(&companion, true).unwrap();
        let hello = companion.start(rng).unwrap();
        let PrimaryStep::Send(reply) = primary.receive(&hello, rng).unwrap() else {
            unreachable!()
        };
        let CompanionStep::Send(confirmation) = companion.receive(&reply).unwrap() else {
            unreachable!()
        };
        let PrimaryStep::Send(account) = primary.receive(&confirmation, rng).unwrap() else {
            unreachable!()
        };
        let CompanionStep::Linked { reply: device, .. } = companion.receive(&account).unwrap()
        else {
            unreachable!()
        };
        assert!(matches!(
            primary.receive(&device, rng),
            Ok(PrimaryStep::Linked(_))
        ));
        vec![hello, reply, confirmation, account, device]
    }

    /// A raw-bytes step of the `link_primary` and `link_companion` schedules.
    fn raw(message: &[u8]) -> Vec<u8> {
        let len = u16::try_from(message.len()).unwrap();
        [&[2][..], &len.to_le_bytes(), message].concat()
    }

    #[test]
    fn the_seeds_reach_their_states() {
        for qr in [false, true] {
            assert_eq!(honest_run(qr).len(), 5);
        }
        let seed = |target: &str, name: &str| std::fs::read(corpus(target).join(name)).unwrap();
        // A tampered confirmation ends the run; the companion's next run links.
        for name in [
            "honest-code",
            "honest-qr",
            "mutated-confirmation-then-rerun",
        ] {
            let world = run_primary(&seed("link_primary", name)).unwrap();
            assert!(
                world.primary.is_linked() && world.linked.is_some(),
                "{name}"
            );
        }
        let world = run_primary(&seed("link_primary", "wrong-code")).unwrap();
        assert_eq!(world.primary.attempts_left(), 0, "three wrong runs");
        for name in ["honest-code", "honest-qr", "raw-reply"] {
            let world = run_companion(&seed("link_companion", name)).unwrap();
            assert!(
                world.companion.is_linked() && world.primary.is_linked(),
                "{name}"
            );
        }
        let world = run_companion(&seed("link_companion", "wrong-code")).unwrap();
        assert_eq!(world.companion.attempts_left(), 0, "three wrong runs");
        let world = run_companion(&seed("link_companion", "mutated-account")).unwrap();
        assert!(!world.companion.is_linked());
    }

    /// Writes the seed corpora of the linking targets:
    /// `cargo test --features fuzzing --lib write_link_fuzz_seeds -- --ignored`.
    #[test]
    #[ignore]
    fn write_link_fuzz_seeds() {
        let code = honest_run(false);
        let qr = honest_run(true);
        let f = link_fixture().unwrap();
        let payload = AccountPayload {
            account: *f.list.account_key(),
            phone: f.phone.clone(),
            device: 2u32.into(),
            linked_at: Timestamp::from_unix_secs(1_800_000_100),
            account_sig: [7; 64],
            history_key: Zeroizing::new([9; 32]),
        };
        let seeds: Vec<(&str, &str, Vec<u8>)> = vec![
            ("link_primary", "honest-code", vec![0, 0, 0, 0]),
            ("link_primary", "honest-qr", vec![1, 0, 0, 0]),
            (
                "link_primary",
                "wrong-code",
                vec![2, 0, 3, 0, 3, 1, 0, 3, 0, 3, 1, 0],
            ),
            (
                "link_primary",
                "mutated-confirmation-then-rerun",
                vec![0, 0, 1, 40, 0, 1, 3, 1, 0, 0, 0],
            ),
            (
                "link_primary",
                "raw-hello-then-abandon",
                [raw(&code[0]), vec![3, 0, 0, 0, 0]].concat(),
            ),
            ("link_companion", "honest-code", vec![0, 0, 0]),
            ("link_companion", "honest-qr", vec![1, 0, 0]),
            (
                "link_companion",
                "wrong-code",
                vec![2, 0, 3, 1, 3, 0, 0, 3, 1, 3, 0, 0],
            ),
            (
                "link_companion",
                "mutated-account",
                vec![0, 0, 1, 200, 0, 0x10, 3, 0, 0, 0],
            ),
            (
                "link_companion",
                "raw-reply",
                [vec![0], raw(&code[1]), vec![0]].concat(),
            ),
            ("link_messages", "hello-code", code[0].clone()),
            ("link_messages", "hello-qr", qr[0].clone()),
            ("link_messages", "reply-code", code[1].clone()),
            ("link_messages", "reply-qr", qr[1].clone()),
            ("link_messages", "confirmation", code[2].clone()),
            ("link_messages", "account", code[3].clone()),
            ("link_messages", "device", code[4].clone()),
            (
                "link_messages",
                "account-payload",
                payload.to_bytes().to_vec(),
            ),
            ("link_messages", "empty", Vec::new()),
        ];
        for (target, name, bytes) in seeds {
            std::fs::create_dir_all(corpus(target)).unwrap();
            std::fs::write(corpus(target).join(name), bytes).unwrap();
        }
    }
}
