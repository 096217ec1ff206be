//! The crate's one error type.
//!
//! Decryption failures are deliberately coarse: a message that does not decrypt — tampered,
//! replayed, addressed to someone else, too far ahead, or simply corrupt — is reported as
//! [`Error::DecryptionFailed`] without saying which check failed.

use core::fmt;

use crate::account::PhoneNumber;
use crate::keys::{DeviceId, PreKeyKind};
use crate::store::Address;

/// A boxed error from the application's store, carried as-is so it can be downcast.
pub type StoreError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in keylink.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Bytes that should hold a keylink structure are malformed.
    Malformed(&'static str),
    /// A structure carries a version this build does not know.
    UnknownVersion {
        /// Which structure.
        what: &'static str,
        /// The version byte found.
        found: u8,
    },
    /// A public key is not a valid point, or is of small order.
    InvalidKey(&'static str),
    /// A signature in a bundle did not verify under the bundle's identity key.
    InvalidSignature(&'static str),
    /// A bundle without a KEM prekey, or a PreKey message without a KEM ciphertext: keylink
    /// only sets up post-quantum (PQXDH) sessions.
    MissingKemPreKey,
    /// A Diffie-Hellman output was all zeros: the peer supplied a non-contributory key.
    NonContributoryKey,
    /// A message could not be decrypted. The session state is unchanged.
    DecryptionFailed,
    /// A message that opened under a session's header key but whose message key was used
    /// already (or evicted by the limits: the two cannot be told apart). Not a decryption
    /// error: a server replaying messages must not make the app reset the session.
    DuplicateMessage,
    /// A PreKey message names a prekey that this device does not have (any more).
    UnknownPreKey {
        /// Which kind of prekey.
        kind: PreKeyKind,
        /// The id the message named.
        id: u32,
    },
    /// There is no session with this peer address.
    NoSession,
    /// A sending chain reached 2^32 messages without a reply; no more can be sent on it.
    ChainExhausted,
    /// The peer's identity key differs from the one remembered for this address.
    UntrustedIdentity,
    /// The account key given for a phone number differs from the one remembered for it: the
    /// account's security code changed.
    UntrustedAccount,
    /// The local identity has not been stored yet.
    NoLocalIdentity,
    /// A bundle was used for an address whose device is not the bundle's device.
    WrongDevice {
        /// The device the address names.
        address: DeviceId,
        /// The device the bundle was published for.
        bundle: DeviceId,
    },
    /// A device list issued for another phone number than the one asked about.
    DeviceListForAnotherNumber,
    /// A device list older than the one accepted for its account: a server replaying an old
    /// list (e.g. one that still has a removed, stolen device).
    DeviceListRollback {
        /// The version accepted.
        accepted: u64,
        /// The version offered.
        offered: u64,
    },
    /// A device list with the version of the accepted one but other contents: the account
    /// key signed two different lists for one version.
    DeviceListFork {
        /// The version.
        version: u64,
    },
    /// A linking run with a typed code failed its key confirmation: the code typed on the
    /// primary is not the one the new device shows (or someone tried to guess it). The run
    /// is over; another run of the same code may be started while attempts are left.
    InvalidLinkingCode {
        /// Runs this code may still fail before it is dead.
        attempts_left: u8,
    },
    /// A linking code failed 3 runs (or the QR code's one run failed): it is dead on this
    /// side and the new device must show a new one.
    LinkingCodeExpired,
    /// The primary cannot link a new device with this grant: the text says why (a full
    /// device list, a list of another account, a device id already used).
    CannotLink(&'static str),
    /// A linking run was aborted: a message arrived out of order, twice, from another run,
    /// or tampered with. The text says which step refused it. The run is over.
    LinkAborted(&'static str),
    /// An address of an account's device (its user part a phone number in E.164 form) whose
    /// device, with the identity key in question, is not on the account's accepted device
    /// list: a ghost device the server added, a device the list removed, or a key the list
    /// replaced. Nothing is sent to it or accepted from it, and nothing was changed.
    DeviceNotOnList {
        /// The device the address names.
        device: DeviceId,
    },
    /// No device list is accepted for this account's phone number, so none of its devices
    /// can be checked: fetch the list and accept it
    /// ([`accept_device_list`](crate::accept_device_list)) first. Nothing was changed.
    NoDeviceList {
        /// The account's phone number (its `Debug` shows only the last two digits).
        phone: PhoneNumber,
    },
    /// A fan-out ([`encrypt_for_accounts`](crate::encrypt_for_accounts)) found devices on
    /// the accepted lists without a current session with their listed identity key; nothing
    /// was encrypted or changed.
    MissingSessions {
        /// The devices to fetch a bundle for and start a session with, in list order.
        devices: Vec<Address>,
    },
    /// This device's own account list does not have this device's identity key: the device
    /// was removed from its account, or was never linked to it.
    NotOnOwnDeviceList,
    /// A device list offered as this device's own account list is for another phone number
    /// than the account this device already belongs to.
    OtherLocalAccount,
    /// A peer device of this account sent a message under a newer device list than the one
    /// accepted for the account: nothing is sent to the account until a list at least that
    /// new is accepted (a server withholding a list change cannot go unnoticed).
    StaleDeviceList {
        /// The version of the list accepted for the account (0 if none is).
        accepted: u64,
        /// The highest version the account's devices sent.
        seen: u64,
    },
    /// A [`PreKeyPolicy`](crate::account::PreKeyPolicy) whose values do not work together;
    /// the text says which.
    InvalidPreKeyPolicy(&'static str),
    /// Prekey upkeep has handed out every id of a kind (2^32 of them): this device cannot
    /// publish new prekeys.
    PreKeyIdsExhausted,
    /// The application's store failed; nothing was changed.
    Store(StoreError),
    /// An internal step failed in a way no input can cause (a primitive rejected a length
    /// keylink itself chose): a bug in keylink.
    Internal(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Malformed(what) => write!(
                f,
                "malformed {what}: the bytes are truncated or corrupt; drop them and, if they came from a peer, ask it to resend"
            ),
            Error::UnknownVersion { what, found } => write!(
                f,
                "{what} has version {found}, which this version of keylink does not support; update keylink or ask the sender to use a supported version"
            ),
            Error::InvalidKey(what) => write!(
                f,
                "invalid {what}: not a valid public key (or a small-order point); do not use this bundle or message"
            ),
            Error::InvalidSignature(what) => write!(
                f,
                "the {what} signature does not verify under the bundle's identity key; the bundle is forged or corrupt, fetch it again"
            ),
            Error::MissingKemPreKey => f.write_str(
                "no ML-KEM prekey (bundle) or KEM ciphertext (PreKey message): keylink only sets up post-quantum PQXDH sessions; the peer must publish a KEM prekey and update its software",
            ),
            Error::NonContributoryKey => f.write_str(
                "a Diffie-Hellman result was all zeros (non-contributory peer key); the peer's keys are malicious or broken, do not use them",
            ),
            Error::DecryptionFailed => f.write_str(
                "the message could not be decrypted (tampered, replayed, corrupt or not for this session); the session is unchanged, drop the message",
            ),
            Error::DuplicateMessage => f.write_str(
                "this message was already received (or is too old to keep a key for); ignore it, the session is fine",
            ),
            Error::UnknownPreKey { kind, id } => write!(
                f,
                "the {kind} prekey with id {id} is not in the store (already used or removed); the sender must fetch a fresh bundle"
            ),
            Error::NoSession => f.write_str(
                "there is no session with this address; fetch the peer's prekey bundle and start one",
            ),
            Error::ChainExhausted => f.write_str(
                "this session sent 2^32 messages without a reply and cannot send more; start a new session from a fresh bundle",
            ),
            Error::UntrustedIdentity => f.write_str(
                "the peer's identity key is not the one trusted for this address: show the user that the security code changed; once they accept it, call accept_identity, then start a new session from the peer's current bundle",
            ),
            Error::UntrustedAccount => f.write_str(
                "the account key for this phone number is not the one remembered: the security code changed; accept nothing from the account's new devices, show the user the new safety number and, once they accept it, call accept_account",
            ),
            Error::WrongDevice { address, bundle } => write!(
                f,
                "the bundle was published for device {bundle}, but the address names device {address}; fetch the bundle of device {address}"
            ),
            Error::NoLocalIdentity => f.write_str(
                "no local identity is stored; generate one with IdentityKeyPair::generate and save it first",
            ),
            Error::DeviceListForAnotherNumber => f.write_str(
                "the device list was issued for another phone number than the one asked about: the server sent the wrong list; ask it again, and accept nothing from this list",
            ),
            Error::DeviceListRollback { accepted, offered } => write!(
                f,
                "the device list offered (version {offered}) is older than the one accepted (version {accepted}): the server may be replaying an old list; keep the accepted one"
            ),
            Error::DeviceListFork { version } => write!(
                f,
                "two different device lists carry version {version}: the account key signed conflicting lists (a compromised key or a broken primary); keep the accepted list and warn the user"
            ),
            Error::InvalidLinkingCode { attempts_left } => write!(
                f,
                "invalid code, {attempts_left} attempt{} left: the code typed on the primary device is not the one this device shows; check it and type it again",
                if *attempts_left == 1 { "" } else { "s" }
            ),
            Error::LinkingCodeExpired => f.write_str(
                "this linking code failed too often and can no longer be used: show a new code (or QR code) on the new device and start again",
            ),
            Error::CannotLink(why) => write!(f, "cannot link a new device: {why}"),
            Error::LinkAborted(why) => write!(
                f,
                "linking aborted: {why}; the run is over and nothing was linked: start it again (a message out of order, replayed, from another run or tampered with ends a run)"
            ),
            Error::DeviceNotOnList { device } => write!(
                f,
                "device {device} with this identity key is not on the account's accepted device list (a ghost device, or one the list removed or replaced): nothing is sent to it or accepted from it; if the account just linked it, fetch and accept the account's latest device list, then the device's bundle"
            ),
            // Phone numbers are personal data: they stay out of the text (the fields have them).
            Error::NoDeviceList { .. } => f.write_str(
                "no device list is accepted for this account (the error's phone number): fetch the account's device list from the server and accept it (accept_device_list) first, then try again; nothing was changed",
            ),
            Error::MissingSessions { devices } => write!(
                f,
                "{} device(s) on the accepted device lists have no session (the error lists them): fetch their bundles and call start_session for each, then send again; nothing was sent",
                devices.len()
            ),
            Error::NotOnOwnDeviceList => f.write_str(
                "this device is not on its account's device list: it was removed or never linked; do not accept the list as this device's own, and link the device again (or register it anew) to use the account",
            ),
            Error::OtherLocalAccount => f.write_str(
                "the device list is for another phone number than the account this device belongs to; a device belongs to one account: accept the list with accept_device_list as a peer's list instead",
            ),
            Error::StaleDeviceList { accepted, seen } => write!(
                f,
                "the account has a newer device list (version {seen}) than the one accepted (version {accepted}); fetch the account's device list and accept it with accept_device_list, then send again; nothing was sent or changed"
            ),
            Error::InvalidPreKeyPolicy(problem) => {
                write!(f, "invalid prekey policy: {problem}")
            }
            Error::PreKeyIdsExhausted => f.write_str(
                "every prekey id of one kind was handed out once already and none may be reused: register this device anew (a new identity key)",
            ),
            Error::Store(e) => write!(f, "the store failed and nothing was changed: {e}"),
            Error::Internal(what) => write!(
                f,
                "internal error ({what}): a bug in keylink or an impossible length, not a problem with your data; please report it"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Store(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = core::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_send_sync_and_static() {
        fn check<T: Send + Sync + 'static + std::error::Error>() {}
        check::<Error>();
    }

    #[test]
    fn store_errors_can_be_downcast() {
        #[derive(Debug)]
        struct DbDown;
        impl fmt::Display for DbDown {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("database down")
            }
        }
        impl std::error::Error for DbDown {}
        let e = Error::Store(Box::new(DbDown));
        assert!(e.to_string().contains("database down"));
        let source = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<DbDown>());
        assert!(source.is_some());
    }

    #[test]
    fn internal_errors_ask_for_a_report() {
        let text = Error::Internal("HKDF output length").to_string();
        assert!(text.contains("HKDF output length"));
        assert!(text.contains("bug in keylink"));
        assert!(text.contains("report"));
    }
}
