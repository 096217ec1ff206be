//! [`Primary`]: the primary device's side of linking (PROTOCOL.md §12.3).

use core::fmt;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::cpace;
use super::handshake::{Flow, LinkKeys, TranscriptInput};
use super::messages::{self, AccountPayload, Hello, Reply};
use super::{HistoryKey, LinkingCode, LinkingQr};
use crate::account::{
    AccountKeyPair, DeviceAuthorization, DeviceEntry, SignedDeviceList, VerifiedDeviceList,
};
use crate::constants::{LINK_CODE_ATTEMPTS, LINK_CODE_DATA, LINK_CPACE_CI, MAX_DEVICES};
use crate::error::{Error, Result};
use crate::keys::{DeviceId, IdentityKey, KeyPair};
use crate::time::Timestamp;
use crate::wire::ExtKind;

/// What the primary grants the new device: a place on the account's device list.
///
/// Built from the account key pair, the account's current list (the primary's own accepted
/// list) and the time of linking. The new device gets the id one above the highest on the
/// list, unless [`with_device_id`](Self::with_device_id) names another: device ids are never
/// given out twice, so an app whose highest companion was removed must remember the highest
/// id it ever gave out and pass the next one.
pub struct LinkGrant {
    account: AccountKeyPair,
    list: VerifiedDeviceList,
    device: DeviceId,
    linked_at: Timestamp,
}

impl LinkGrant {
    /// A grant of the next device id on `list`, at `linked_at`.
    ///
    /// # Errors
    /// [`Error::CannotLink`] if `list` is not signed by `account`, already has 5 devices, or
    /// has no id left above its highest (ids stay below 2^32 - 1, as in
    /// [`with_device_id`](Self::with_device_id)).
    pub fn new(
        account: AccountKeyPair,
        list: VerifiedDeviceList,
        linked_at: Timestamp,
    ) -> Result<Self> {
        if list.account_key() != account.public() {
            return Err(Error::CannotLink(
                "the device list is not signed by this account key",
            ));
        }
        if list.devices().len() >= MAX_DEVICES {
            return Err(Error::CannotLink(
                "the account has 5 devices already: remove one before linking another",
            ));
        }
        let highest = list
            .devices()
            .iter()
            .map(|d| u32::from(d.device_id()))
            .max();
        let next = highest.unwrap_or(1).saturating_add(1);
        if next == u32::MAX {
            return Err(Error::CannotLink(
                "no device id below 2^32 - 1 is left above the ids on the list",
            ));
        }
        Ok(LinkGrant {
            account,
            list,
            device: DeviceId::from(next),
            linked_at,
        })
    }

    /// Gives the new device the id `device` instead.
    ///
    /// # Errors
    /// [`Error::CannotLink`] unless `device` is above every id on the list (which also keeps
    /// it off the primary's id 1) and below 2^32 - 1.
    pub fn with_device_id(mut self, device: impl Into<DeviceId>) -> Result<Self> {
        let device = device.into();
        if u32::from(device) < u32::from(self.device) || u32::from(device) == u32::MAX {
            return Err(Error::CannotLink(
                "the device id must be above every id on the list",
            ));
        }
        self.device = device;
        Ok(self)
    }

    /// The id the new device gets.
    pub fn device_id(&self) -> DeviceId {
        self.device
    }
}

/// The primary device's side of linking: takes a typed code ([`typed`]) or a scanned QR code
/// ([`scanned`]) and answers the companion's messages ([`receive`]) until the new device is
/// [`Linked`](PrimaryStep::Linked) and the next device list is issued.
///
/// Sans-IO: the app carries every message to the companion and back. A run with a typed code
/// counts as failed the moment the primary sends its key confirmation (that is when a fake
/// companion could test a guess of the code offline) and is taken back only when the
/// companion's valid confirmation arrives; after 3 failed runs the code is dead
/// ([`Error::LinkingCodeExpired`]). One run at a time: any message out of order, replayed,
/// from another run or tampered with ends the run in progress (still counted), and a new
/// hello starts the next. A QR code serves one run.
///
/// [`typed`]: Self::typed
/// [`scanned`]: Self::scanned
/// [`receive`]: Self::receive
pub struct Primary {
    grant: LinkGrant,
    way: Way,
    state: State,
}

enum Way {
    Code {
        prs: Zeroizing<[u8; LINK_CODE_DATA]>,
        failures: u8,
    },
    Qr(LinkingQr),
}

enum State {
    /// Waiting for a companion's hello.
    AwaitingHello,
    /// The reply was sent; the companion's confirmation is awaited.
    AwaitingConfirmation(Box<Run>),
    /// The account payload was sent; the companion's device signature is awaited.
    AwaitingDevice(Box<Authorized>),
    /// The new device is on the new list.
    Linked,
    /// The code failed 3 runs, or the QR code's run ended.
    Dead,
}

/// A run waiting for the companion's confirmation.
struct Run {
    keys: LinkKeys,
    identity: IdentityKey,
}

/// A run whose companion confirmed, waiting for its device signature.
struct Authorized {
    keys: LinkKeys,
    authorization: DeviceAuthorization,
    history: HistoryKey,
}

/// What the primary does after a message of the companion.
#[derive(Debug)]
#[non_exhaustive]
pub enum PrimaryStep {
    /// Send these bytes to the companion, and wait for its next message.
    Send(Vec<u8>),
    /// The companion is linked: publish [`LinkedDevice::list`] (and accept it as this
    /// account's list), then send the history under [`LinkedDevice::history_key`].
    Linked(Box<LinkedDevice>),
}

/// The result of a link on the primary.
#[derive(Debug)]
pub struct LinkedDevice {
    entry: DeviceEntry,
    list: SignedDeviceList,
    history: HistoryKey,
}

impl LinkedDevice {
    /// The new device's entry, with both its signatures.
    pub fn entry(&self) -> &DeviceEntry {
        &self.entry
    }

    /// The next device list, with the new device on it (version + 1), signed by the account
    /// key: publish it.
    pub fn list(&self) -> &SignedDeviceList {
        &self.list
    }

    /// The key under which to send the new device the history.
    pub fn history_key(&self) -> &HistoryKey {
        &self.history
    }

    /// The list, taking it out.
    pub fn into_list(self) -> SignedDeviceList {
        self.list
    }
}

impl Primary {
    /// The primary for the code the user typed (already parsed: a typo caught by the check
    /// symbol never reaches a run).
    pub fn typed(code: &LinkingCode, grant: LinkGrant) -> Self {
        Primary {
            grant,
            way: Way::Code {
                prs: code.prs(),
                failures: 0,
            },
            state: State::AwaitingHello,
        }
    }

    /// The primary for a scanned QR code.
    pub fn scanned(qr: LinkingQr, grant: LinkGrant) -> Self {
        Primary {
            grant,
            way: Way::Qr(qr),
            state: State::AwaitingHello,
        }
    }

    /// Runs the code may still fail.
    pub fn attempts_left(&self) -> u8 {
        match (&self.way, &self.state) {
            (_, State::Dead | State::Linked) => 0,
            (Way::Code { failures, .. }, _) => LINK_CODE_ATTEMPTS.saturating_sub(*failures),
            (Way::Qr(_), State::AwaitingHello) => 1,
            (Way::Qr(_), _) => 0,
        }
    }

    /// Whether the new device is linked.
    pub fn is_linked(&self) -> bool {
        matches!(self.state, State::Linked)
    }

    /// Ends the run in progress, if any (e.g. the companion stopped answering). A run whose
    /// confirmation was sent stays counted as failed.
    pub fn abandon(&mut self) {
        if matches!(
            self.state,
            State::AwaitingConfirmation(_) | State::AwaitingDevice(_)
        ) {
            self.end_run();
        }
    }

    /// Takes the companion's next message. Any error ends the run in progress (see the
    /// type's docs).
    ///
    /// # Errors
    /// [`Error::LinkingCodeExpired`] for a hello once the code failed 3 runs (or the QR code's
    /// run ended); [`Error::LinkAborted`] for a message out of order, a confirmation that
    /// does not verify, a payload that does not decrypt, a new device already on the list,
    /// or nothing in progress; [`Error::Malformed`], [`Error::UnknownVersion`],
    /// [`Error::InvalidKey`], [`Error::NonContributoryKey`], [`Error::InvalidSignature`] for
    /// bad contents; [`Error::CannotLink`] if the next list cannot be issued.
    pub fn receive<R: CryptoRng + ?Sized>(
        &mut self,
        message: &[u8],
        rng: &mut R,
    ) -> Result<PrimaryStep> {
        match core::mem::replace(&mut self.state, State::AwaitingHello) {
            State::AwaitingHello => self.on_hello(message, rng),
            State::AwaitingConfirmation(run) => self.on_confirmation(*run, message, rng),
            State::AwaitingDevice(authorized) => self.on_device(*authorized, message),
            State::Linked => {
                self.state = State::Linked;
                Err(Error::LinkAborted("the device is linked already"))
            }
            State::Dead => {
                self.state = State::Dead;
                Err(Error::LinkingCodeExpired)
            }
        }
    }

    /// A companion's hello: check it, answer with our share, ephemeral key, KEM ciphertext and
    /// confirmation, and count the run.
    fn on_hello<R: CryptoRng + ?Sized>(
        &mut self,
        message: &[u8],
        rng: &mut R,
    ) -> Result<PrimaryStep> {
        if self.attempts_left() == 0 {
            self.state = State::Dead;
            return Err(Error::LinkingCodeExpired);
        }
        let (run, reply) = self.answer_hello(message, rng)?;
        match &mut self.way {
            Way::Code { failures, .. } => *failures = failures.saturating_add(1),
            Way::Qr(_) => {}
        }
        self.state = State::AwaitingConfirmation(Box::new(run));
        Ok(PrimaryStep::Send(reply))
    }

    fn answer_hello<R: CryptoRng + ?Sized>(
        &self,
        message: &[u8],
        rng: &mut R,
    ) -> Result<(Run, Vec<u8>)> {
        let flow = self.flow();
        let hello = Hello::parse(message, flow)?;
        self.check_new_device(&hello.identity)?;
        let (secret, companion_ephemeral, share) = match (&self.way, &hello.code) {
            (Way::Code { prs, .. }, Some(code)) => {
                let (isk, share) = cpace::respond(
                    prs.as_ref(),
                    LINK_CPACE_CI,
                    &code.sid,
                    &code.share,
                    &[],
                    &[],
                    rng,
                )?;
                (isk.link_secret()?, code.ephemeral, Some(share))
            }
            (Way::Qr(qr), None) => (qr.link_secret().clone(), *qr.ephemeral(), None),
            _ => return Err(Error::Internal("a link hello of the wrong flow")),
        };
        let ephemeral = KeyPair::generate(rng);
        let (kem_ciphertext, ss) = hello.kem_key.encapsulate(rng);
        let dh = ephemeral.dh(&companion_ephemeral)?;
        let transcript = TranscriptInput {
            flow,
            companion_ephemeral: &companion_ephemeral,
            kem_key: &hello.kem_key,
            device_identity: &hello.identity,
            primary_ephemeral: ephemeral.public(),
            kem_ciphertext: &kem_ciphertext,
        };
        let keys = LinkKeys::derive(&secret, &dh, &ss, transcript.hash())?;
        let reply = Reply {
            share,
            ephemeral: *ephemeral.public(),
            confirmation: *keys.primary_confirmation()?,
            kem_ciphertext,
        };
        let run = Run {
            keys,
            identity: hello.identity,
        };
        Ok((run, reply.to_bytes()))
    }

    /// The new device's identity key must be neither the account key nor on the list.
    fn check_new_device(&self, identity: &IdentityKey) -> Result<()> {
        let list = &self.grant.list;
        if identity.as_bytes() == list.account_key().as_bytes() {
            return Err(Error::LinkAborted(
                "the new device's identity key is the account key",
            ));
        }
        if list.devices().iter().any(|d| d.identity_key() == identity) {
            return Err(Error::LinkAborted(
                "the new device's identity key is on the device list already",
            ));
        }
        Ok(())
    }

    /// The companion's confirmation: take the run back from the failures, and send the account
    /// payload.
    fn on_confirmation<R: CryptoRng + ?Sized>(
        &mut self,
        run: Run,
        message: &[u8],
        rng: &mut R,
    ) -> Result<PrimaryStep> {
        let confirmation = match messages::parse_confirmation(message) {
            Ok(confirmation) => confirmation,
            Err(e) => return Err(self.end_run_with(e)),
        };
        if !run.keys.is_companion_confirmation(&confirmation)? {
            return Err(self.end_run_with(Error::LinkAborted(
                "the new device's key confirmation does not verify (another code, another run, or tampered with)",
            )));
        }
        if let Way::Code { failures, .. } = &mut self.way {
            *failures = failures.saturating_sub(1);
        }
        let (authorized, message) = self.account_payload(run, rng)?;
        self.state = State::AwaitingDevice(Box::new(authorized));
        Ok(PrimaryStep::Send(message))
    }

    fn account_payload<R: CryptoRng + ?Sized>(
        &self,
        run: Run,
        rng: &mut R,
    ) -> Result<(Authorized, Vec<u8>)> {
        let grant = &self.grant;
        let authorization =
            grant
                .account
                .authorize_device(grant.device, &run.identity, grant.linked_at);
        let history = HistoryKey::generate(rng, *run.keys.transcript());
        let payload = AccountPayload {
            account: *grant.account.public(),
            phone: grant.list.phone().clone(),
            device: grant.device,
            linked_at: grant.linked_at,
            account_sig: *authorization.account_signature(),
            history_key: Zeroizing::new(*history.key_bytes()),
        };
        let sealed = run.keys.seal_account(&payload.to_bytes())?;
        let message = messages::sealed_to_bytes(ExtKind::LinkAccount, sealed);
        let authorized = Authorized {
            keys: run.keys,
            authorization,
            history,
        };
        Ok((authorized, message))
    }

    /// The companion's device signature: complete its entry and issue the next list.
    fn on_device(&mut self, authorized: Authorized, message: &[u8]) -> Result<PrimaryStep> {
        match self.complete(authorized, message) {
            Ok(linked) => {
                self.state = State::Linked;
                Ok(PrimaryStep::Linked(Box::new(linked)))
            }
            Err(e) => Err(self.end_run_with(e)),
        }
    }

    fn complete(&self, authorized: Authorized, message: &[u8]) -> Result<LinkedDevice> {
        let sealed = messages::parse_sealed(ExtKind::LinkDevice, message)?;
        let plaintext = authorized.keys.open_device(&sealed).map_err(|_| {
            Error::LinkAborted(
                "the new device's signature does not decrypt (tampered with, or from another run)",
            )
        })?;
        let device_sig: [u8; 64] = plaintext
            .as_slice()
            .try_into()
            .map_err(|_| Error::Malformed("link device signature"))?;
        let entry = authorized.authorization.complete(device_sig)?;
        let grant = &self.grant;
        let list = grant
            .list
            .with_device(&grant.account, entry.clone(), grant.linked_at)?;
        Ok(LinkedDevice {
            entry,
            list,
            history: authorized.history,
        })
    }

    fn flow(&self) -> Flow {
        match self.way {
            Way::Code { .. } => Flow::Code,
            Way::Qr(_) => Flow::Qr,
        }
    }

    /// Ends the run in progress: a code waits for the next hello, a QR code is used up.
    fn end_run(&mut self) {
        self.state = match self.way {
            Way::Code { .. } => State::AwaitingHello,
            Way::Qr(_) => State::Dead,
        };
    }

    fn end_run_with(&mut self, error: Error) -> Error {
        self.end_run();
        error
    }
}

impl fmt::Debug for Primary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::AwaitingHello => "awaiting a hello",
            State::AwaitingConfirmation(_) => "awaiting the new device's confirmation",
            State::AwaitingDevice(_) => "awaiting the new device's signature",
            State::Linked => "linked",
            State::Dead => "dead",
        };
        f.debug_struct("Primary")
            .field("flow", &self.flow())
            .field("state", &state)
            .field("device_id", &self.grant.device)
            .field("attempts_left", &self.attempts_left())
            .finish_non_exhaustive()
    }
}
