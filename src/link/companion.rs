//! [`Companion`]: the new device's side of linking (PROTOCOL.md §12.3).

use core::fmt;

use rand_core::CryptoRng;

use super::cpace::{Initiator, Sid};
use super::handshake::{Flow, LinkKeys, TranscriptInput};
use super::messages::{self, AccountPayload, CodeHello, Hello, Reply};
use super::{HistoryKey, LinkingCode, LinkingQr};
use crate::account::{AccountKey, DeviceAuthorization, PhoneNumber};
use crate::constants::{LINK_CODE_ATTEMPTS, LINK_CPACE_CI, LINK_CPACE_SID_LEN};
use crate::error::{Error, Result};
use crate::keys::{DeviceId, IdentityKeyPair};
use crate::keys::{KemKeyPair, KeyPair};
use crate::time::Timestamp;
use crate::wire::ExtKind;

/// The new companion device's side of linking: shows a typed code ([`with_code`]) or a QR code
/// ([`with_qr`]), sends the first message of a run ([`start`]) and answers the primary's
/// messages ([`receive`]) until it is [`Linked`](CompanionStep::Linked).
///
/// Sans-IO: the app carries every message to the primary and back. A typed code survives 3
/// failed runs: a run fails when the primary's key confirmation does not verify
/// ([`Error::InvalidLinkingCode`] with the attempts left), and at the third failure the code
/// is dead ([`Error::LinkingCodeExpired`]: show a new one). A QR code serves one run. Any
/// message out of order, replayed, from another run or tampered with ends the run with an
/// error; with a typed code, [`start`] begins another one.
///
/// [`with_code`]: Self::with_code
/// [`with_qr`]: Self::with_qr
/// [`start`]: Self::start
/// [`receive`]: Self::receive
pub struct Companion {
    identity: IdentityKeyPair,
    way: Way,
    state: State,
}

/// How the link secret is agreed.
enum Way {
    Code { code: LinkingCode, failures: u8 },
    Qr { qr: LinkingQr, ephemeral: KeyPair },
}

/// Where the companion is.
enum State {
    /// No run in progress: [`Companion::start`] may begin one.
    Ready,
    /// The hello was sent; the primary's reply is awaited.
    AwaitingReply(Box<Run>),
    /// The confirmation was sent; the primary's account payload is awaited.
    AwaitingAccount(Box<LinkKeys>),
    /// The account payload was answered: linked.
    Linked,
    /// The code failed 3 runs, or the QR code's run ended: a new code is needed.
    Dead,
}

/// The secrets of one run awaiting the reply.
struct Run {
    cpace: Option<Initiator>,
    ephemeral: KeyPair,
    kem: KemKeyPair,
}

/// What the companion does after a message of the primary.
#[derive(Debug)]
#[non_exhaustive]
pub enum CompanionStep {
    /// Send these bytes to the primary (the key confirmation), and wait for its next message.
    Send(Vec<u8>),
    /// The companion is linked: send `reply` (its device signature) to the primary, keep
    /// `account`, and accept the new device list the primary publishes.
    Linked {
        /// The last message, for the primary.
        reply: Vec<u8>,
        /// The account this device now belongs to.
        account: Box<LinkedAccount>,
    },
}

/// What the companion learns when it is linked: the account, its own device id and the
/// history key.
#[derive(Debug)]
pub struct LinkedAccount {
    account: AccountKey,
    phone: PhoneNumber,
    device: DeviceId,
    linked_at: Timestamp,
    history: HistoryKey,
}

impl LinkedAccount {
    /// The account key `AIK` (remember it for [`phone`](Self::phone), e.g. with
    /// [`accept_account`](crate::accept_account)).
    pub fn account_key(&self) -> &AccountKey {
        &self.account
    }

    /// The account's phone number.
    pub fn phone(&self) -> &PhoneNumber {
        &self.phone
    }

    /// This device's id in the account.
    pub fn device_id(&self) -> DeviceId {
        self.device
    }

    /// When the primary linked this device.
    pub fn linked_at(&self) -> Timestamp {
        self.linked_at
    }

    /// The key of the history file the primary sends next.
    pub fn history_key(&self) -> &HistoryKey {
        &self.history
    }
}

impl Companion {
    /// A companion that shows a new typed code ([`code`](Self::code)); `identity` is the new
    /// device's identity key pair.
    pub fn with_code<R: CryptoRng + ?Sized>(identity: IdentityKeyPair, rng: &mut R) -> Self {
        let code = LinkingCode::generate(rng);
        Companion {
            identity,
            way: Way::Code { code, failures: 0 },
            state: State::Ready,
        }
    }

    /// A companion that shows a new QR code ([`qr`](Self::qr)); `identity` is the new device's
    /// identity key pair.
    pub fn with_qr<R: CryptoRng + ?Sized>(identity: IdentityKeyPair, rng: &mut R) -> Self {
        let ephemeral = KeyPair::generate(rng);
        let qr = LinkingQr::generate(*ephemeral.public(), rng);
        Companion {
            identity,
            way: Way::Qr { qr, ephemeral },
            state: State::Ready,
        }
    }

    /// The typed code to show, if this companion links by code.
    pub fn code(&self) -> Option<&LinkingCode> {
        match &self.way {
            Way::Code { code, .. } => Some(code),
            Way::Qr { .. } => None,
        }
    }

    /// The QR code to show, if this companion links by QR code.
    pub fn qr(&self) -> Option<&LinkingQr> {
        match &self.way {
            Way::Qr { qr, .. } => Some(qr),
            Way::Code { .. } => None,
        }
    }

    /// Runs the code may still fail (the QR code: 1 until its run, then 0).
    pub fn attempts_left(&self) -> u8 {
        match (&self.way, &self.state) {
            (_, State::Dead) => 0,
            (Way::Code { failures, .. }, _) => LINK_CODE_ATTEMPTS.saturating_sub(*failures),
            (Way::Qr { .. }, State::Ready) => 1,
            (Way::Qr { .. }, _) => 0,
        }
    }

    /// Whether the companion is linked.
    pub fn is_linked(&self) -> bool {
        matches!(self.state, State::Linked)
    }

    /// Starts a run: the first message for the primary (`sid || Ya`, `E_C`, `K_C` and
    /// `IK_dev` with a typed code; `K_C` and `IK_dev` with a QR code). With a typed code, a
    /// run still waiting for the primary is abandoned (not counted as failed).
    ///
    /// # Errors
    /// [`Error::LinkingCodeExpired`] once the code is dead (or the QR code's run began);
    /// [`Error::LinkAborted`] once linked.
    pub fn start<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> Result<Vec<u8>> {
        match (&self.state, &self.way) {
            (State::Linked, _) => return Err(Error::LinkAborted("this device is linked already")),
            (State::Dead, _) => return Err(Error::LinkingCodeExpired),
            (State::Ready, _) | (_, Way::Code { .. }) => {}
            (_, Way::Qr { .. }) => return Err(Error::LinkingCodeExpired),
        }
        let kem = KemKeyPair::generate(rng);
        let (cpace, code, ephemeral) = match &self.way {
            Way::Code { code, .. } => {
                let ephemeral = KeyPair::generate(rng);
                let mut sid: Sid = [0u8; LINK_CPACE_SID_LEN];
                rng.fill_bytes(&mut sid);
                let (initiator, share) =
                    Initiator::start(code.prs().as_ref(), LINK_CPACE_CI, &sid, &[], rng);
                let hello = CodeHello {
                    sid,
                    share,
                    ephemeral: *ephemeral.public(),
                };
                (Some(initiator), Some(hello), ephemeral)
            }
            Way::Qr { ephemeral, .. } => (None, None, ephemeral.clone()),
        };
        let hello = Hello {
            code,
            kem_key: kem.public().clone(),
            identity: *self.identity.public(),
        };
        self.state = State::AwaitingReply(Box::new(Run {
            cpace,
            ephemeral,
            kem,
        }));
        Ok(hello.to_bytes())
    }

    /// Takes the primary's next message. Any error ends the run in progress (see the type's
    /// docs); [`Error::InvalidLinkingCode`] says how many runs the code may still fail.
    ///
    /// # Errors
    /// [`Error::InvalidLinkingCode`] or [`Error::LinkingCodeExpired`] when the primary's
    /// confirmation does not verify (a wrong code typed, or a guess); with a QR code that is
    /// [`Error::LinkAborted`]. [`Error::LinkAborted`] for a message out of order, a payload
    /// that does not decrypt or no run in progress; [`Error::Malformed`],
    /// [`Error::UnknownVersion`], [`Error::InvalidKey`], [`Error::NonContributoryKey`] and
    /// [`Error::InvalidSignature`] for bad contents.
    pub fn receive(&mut self, message: &[u8]) -> Result<CompanionStep> {
        match core::mem::replace(&mut self.state, State::Ready) {
            State::AwaitingReply(run) => self.on_reply(*run, message),
            State::AwaitingAccount(keys) => self.on_account(&keys, message),
            other => {
                let why = match other {
                    State::Linked => "this device is linked already",
                    _ => "no linking run is in progress: start one first",
                };
                self.state = other;
                Err(Error::LinkAborted(why))
            }
        }
    }

    /// The primary's reply: finish CPace (typed code), derive the keys, check the primary's
    /// confirmation and answer with ours.
    fn on_reply(&mut self, run: Run, message: &[u8]) -> Result<CompanionStep> {
        let result = self.keys_from_reply(run, message);
        let keys = match result {
            Ok(Some(keys)) => keys,
            Ok(None) => return Err(self.fail_confirmation()),
            Err(e) => return Err(self.abort(e)),
        };
        let confirmation = keys.companion_confirmation()?;
        self.state = State::AwaitingAccount(Box::new(keys));
        Ok(CompanionStep::Send(messages::confirmation_to_bytes(
            &confirmation,
        )))
    }

    /// The run's keys if the primary's confirmation verifies, `None` if it does not.
    fn keys_from_reply(&self, run: Run, message: &[u8]) -> Result<Option<LinkKeys>> {
        let reply = Reply::parse(message, self.flow())?;
        let secret = match (run.cpace, reply.share, &self.way) {
            (Some(initiator), Some(share), _) => initiator.finish(&share, &[])?.link_secret()?,
            (None, None, Way::Qr { qr, .. }) => qr.link_secret().clone(),
            _ => return Err(Error::Internal("a link run of the wrong flow")),
        };
        let dh = run.ephemeral.dh(&reply.ephemeral)?;
        let ss = run.kem.decapsulate(&reply.kem_ciphertext);
        let transcript = TranscriptInput {
            flow: self.flow(),
            companion_ephemeral: run.ephemeral.public(),
            kem_key: run.kem.public(),
            device_identity: self.identity.public(),
            primary_ephemeral: &reply.ephemeral,
            kem_ciphertext: &reply.kem_ciphertext,
        };
        let keys = LinkKeys::derive(&secret, &dh, &ss, transcript.hash())?;
        Ok(keys
            .is_primary_confirmation(&reply.confirmation)?
            .then_some(keys))
    }

    /// The primary's account payload: check its `account_sig` over our identity key,
    /// countersign, and finish.
    fn on_account(&mut self, keys: &LinkKeys, message: &[u8]) -> Result<CompanionStep> {
        match self.answer_account(keys, message) {
            Ok(step) => {
                self.state = State::Linked;
                Ok(step)
            }
            Err(e) => Err(self.abort(e)),
        }
    }

    fn answer_account(&self, keys: &LinkKeys, message: &[u8]) -> Result<CompanionStep> {
        let sealed = messages::parse_sealed(ExtKind::LinkAccount, message)?;
        let plaintext = keys
            .open_account(&sealed)
            .map_err(|_| Error::LinkAborted(TAMPERED_ACCOUNT))?;
        let payload = AccountPayload::parse(&plaintext)?;
        let authorization = DeviceAuthorization::new(
            payload.account,
            payload.device,
            *self.identity.public(),
            payload.linked_at,
            payload.account_sig,
        )?;
        let device_sig = authorization.countersign(&self.identity)?;
        let reply = messages::sealed_to_bytes(ExtKind::LinkDevice, keys.seal_device(&device_sig)?);
        let history = HistoryKey::new(payload.history_key, *keys.transcript());
        let account = Box::new(LinkedAccount {
            account: payload.account,
            phone: payload.phone,
            device: payload.device,
            linked_at: payload.linked_at,
            history,
        });
        Ok(CompanionStep::Linked { reply, account })
    }

    fn flow(&self) -> Flow {
        match self.way {
            Way::Code { .. } => Flow::Code,
            Way::Qr { .. } => Flow::Qr,
        }
    }

    /// Ends the run on an error that is no failed confirmation: a typed code may run again,
    /// a QR code is used up.
    fn abort(&mut self, error: Error) -> Error {
        self.state = match self.way {
            Way::Code { .. } => State::Ready,
            Way::Qr { .. } => State::Dead,
        };
        error
    }

    /// Ends the run whose primary confirmation did not verify, counting it against the code.
    fn fail_confirmation(&mut self) -> Error {
        match &mut self.way {
            Way::Code { failures, .. } => {
                *failures = failures.saturating_add(1);
                let attempts_left = LINK_CODE_ATTEMPTS.saturating_sub(*failures);
                if attempts_left == 0 {
                    self.state = State::Dead;
                    Error::LinkingCodeExpired
                } else {
                    self.state = State::Ready;
                    Error::InvalidLinkingCode { attempts_left }
                }
            }
            Way::Qr { .. } => {
                self.state = State::Dead;
                Error::LinkAborted(
                    "the primary's key confirmation does not verify: the QR code was not scanned by that primary, or a message was tampered with",
                )
            }
        }
    }
}

/// The reason given for an account payload that does not decrypt.
const TAMPERED_ACCOUNT: &str =
    "the primary's account payload does not decrypt (tampered with, or from another run)";

impl fmt::Debug for Companion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Ready => "ready",
            State::AwaitingReply(_) => "awaiting the primary's reply",
            State::AwaitingAccount(_) => "awaiting the account payload",
            State::Linked => "linked",
            State::Dead => "dead",
        };
        f.debug_struct("Companion")
            .field("flow", &self.flow())
            .field("state", &state)
            .field("attempts_left", &self.attempts_left())
            .finish_non_exhaustive()
    }
}
