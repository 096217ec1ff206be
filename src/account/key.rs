//! The account key `AIK`: one Ed25519 key pair per account, generated on the primary device
//! at registration, used only to sign (device lists, a later layer), never for a session.

use core::fmt;

use ed25519_dalek::{SigningKey, VerifyingKey};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::is_canonical_edwards;
use crate::wire::{self, Kind, proto};

/// An account's public key `AIK`: a validated Ed25519 public key.
///
/// Accepted exactly as an [`IdentityKey`](crate::keys::IdentityKey) is (only the canonical
/// encoding of a point that is not of small order), but a different type: an account key
/// can never be passed where an identity key is expected, nor the other way round.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AccountKey {
    verifying: VerifyingKey,
}

impl AccountKey {
    /// Length of the encoding in bytes.
    pub const LEN: usize = 32;

    /// Parse and validate a 32-byte Ed25519 public key.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self> {
        if !is_canonical_edwards(bytes) {
            return Err(Error::InvalidKey("account key"));
        }
        let verifying =
            VerifyingKey::from_bytes(bytes).map_err(|_| Error::InvalidKey("account key"))?;
        if verifying.is_weak() {
            return Err(Error::InvalidKey("account key"));
        }
        Ok(AccountKey { verifying })
    }

    /// The 32-byte Ed25519 encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.verifying.to_bytes()
    }

    /// The 32-byte Ed25519 encoding, borrowed.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.verifying.as_bytes()
    }
}

impl AccountKey {
    /// Verify `signature` over `context || parts...` with `verify_strict`.
    pub(crate) fn verify(
        &self,
        what: &'static str,
        context: &[u8],
        parts: &[&[u8]],
        signature: &[u8; 64],
    ) -> Result<()> {
        let signature = ed25519_dalek::Signature::from_bytes(signature);
        let message = crate::keys::signed_message(context, parts);
        self.verifying
            .verify_strict(&message, &signature)
            .map_err(|_| Error::InvalidSignature(what))
    }
}

impl TryFrom<&[u8]> for AccountKey {
    type Error = Error;

    fn try_from(bytes: &[u8]) -> Result<Self> {
        let bytes: &[u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::InvalidKey("account key (must be 32 bytes)"))?;
        Self::from_bytes(bytes)
    }
}

impl fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountKey({})", crate::hex::encode(self.as_bytes()))
    }
}

impl core::hash::Hash for AccountKey {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

/// An account's key pair: the Ed25519 signing key `AIK` and its public half.
///
/// Generate it once, on the primary device at registration, with
/// [`AccountKeyPair::generate`]; persist it with [`AccountKeyPair::to_bytes`]. It never
/// leaves that device except by a device-to-device transfer to a new primary, and it is
/// **not part of any backup** (`keylink::backup` never holds it). The secret
/// zeroizes on drop and never appears in `Debug`.
pub struct AccountKeyPair {
    signing: SigningKey,
    public: AccountKey,
}

impl AccountKeyPair {
    /// Generate a new account key from a cryptographically secure RNG.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self::from_signing(SigningKey::generate(rng))
    }

    fn from_signing(signing: SigningKey) -> Self {
        let public = AccountKey {
            verifying: signing.verifying_key(),
        };
        AccountKeyPair { signing, public }
    }

    /// Sign `context || parts...` with `AIK`.
    pub(crate) fn sign(&self, context: &[u8], parts: &[&[u8]]) -> [u8; 64] {
        let message = crate::keys::signed_message(context, parts);
        ed25519_dalek::Signer::sign(&self.signing, &message).to_bytes()
    }

    /// The public account key `AIK`.
    pub fn public(&self) -> &AccountKey {
        &self.public
    }

    /// Serialize for the application's storage (versioned; holds the secret seed):
    /// `0x14 || AccountKeyRecord` (docs/PROTOCOL.md §11.2).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let record = proto::AccountKeyRecord {
            seed: self.signing.as_bytes().to_vec(),
        };
        wire::encode_secret(Kind::AccountKeyRecord, &record)
    }

    /// Parse what [`AccountKeyPair::to_bytes`] produced. A record of another version is
    /// [`Error::UnknownVersion`]; anything else that is not a canonical account key record
    /// (another kind, truncated, a seed that is not 32 bytes) is [`Error::Malformed`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let record: proto::AccountKeyRecord = wire::decode(Kind::AccountKeyRecord, bytes)?;
        let seed = Zeroizing::new(wire::array::<32>(&record.seed, "account key record")?);
        Ok(Self::from_signing(SigningKey::from_bytes(&seed)))
    }
}

impl fmt::Debug for AccountKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountKeyPair")
            .field("public", &self.public)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The record of the account key with this seed, written out by hand (PROTOCOL.md §11.2).
    fn record(seed: &[u8; 32]) -> Vec<u8> {
        let mut bytes = vec![0x14, 0x0A, 0x20];
        bytes.extend_from_slice(seed);
        bytes
    }

    fn seeded() -> AccountKeyPair {
        AccountKeyPair::from_bytes(&record(&[7u8; 32])).unwrap()
    }

    #[test]
    fn debug_redacts_the_secret() {
        let account = seeded();
        let debug = format!("{account:?}");
        assert_eq!(
            debug,
            format!(
                "AccountKeyPair {{ public: AccountKey({}), secret: \"<redacted>\" }}",
                crate::hex::encode(account.public().as_bytes())
            )
        );
        assert!(!debug.contains(&crate::hex::encode(&[7u8; 32])));
    }

    #[test]
    fn record_is_the_documented_bytes_and_round_trips() {
        let account = seeded();
        assert_eq!(*account.to_bytes(), record(&[7u8; 32]));
        let expected = SigningKey::from_bytes(&[7u8; 32])
            .verifying_key()
            .to_bytes();
        assert_eq!(account.public().to_bytes(), expected);
        let fresh = AccountKeyPair::generate(&mut crate::os_rng());
        let back = AccountKeyPair::from_bytes(&fresh.to_bytes()).unwrap();
        assert_eq!(back.public(), fresh.public());
        assert_eq!(back.to_bytes(), fresh.to_bytes());
    }

    #[test]
    fn another_version_is_unknown_and_other_damage_malformed() {
        let mut newer = record(&[7u8; 32]);
        newer[0] = 0x24;
        assert!(matches!(
            AccountKeyPair::from_bytes(&newer),
            Err(Error::UnknownVersion {
                what: "account key record",
                found: 2
            })
        ));
        let good = record(&[7u8; 32]);
        for len in 0..good.len() {
            assert!(
                matches!(
                    AccountKeyPair::from_bytes(&good[..len]),
                    Err(Error::Malformed(_))
                ),
                "{len}"
            );
        }
        let mut identity_kind = good.clone();
        identity_kind[0] = 0x18;
        let mut longer_seed = vec![0x14, 0x0A, 0x21];
        longer_seed.extend_from_slice(&[7u8; 33]);
        let mut trailing = good.clone();
        trailing.extend_from_slice(&[0x10, 0x01]);
        for bad in [
            identity_kind,
            longer_seed,
            trailing,
            vec![0x14],
            vec![0x14, 0x00],
        ] {
            assert!(
                matches!(AccountKeyPair::from_bytes(&bad), Err(Error::Malformed(_))),
                "{bad:02x?}"
            );
        }
    }

    #[test]
    fn public_keys_are_validated_like_identity_keys() {
        let mut identity_point = [0u8; 32];
        identity_point[0] = 1;
        let mut non_canonical = [0xFFu8; 32];
        non_canonical[0] = 0xF0;
        non_canonical[31] = 0x7F;
        for bad in [identity_point, non_canonical] {
            assert!(matches!(
                AccountKey::from_bytes(&bad),
                Err(Error::InvalidKey("account key"))
            ));
        }
        assert!(matches!(
            AccountKey::try_from(&[1u8; 31][..]),
            Err(Error::InvalidKey(_))
        ));
        let key = *seeded().public();
        assert_eq!(AccountKey::try_from(&key.to_bytes()[..]).unwrap(), key);
    }
}
