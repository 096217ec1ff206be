//! The password envelope: the [`BackupKey`] sealed under a key derived from a password, kept
//! apart from the backup files.
//!
//! ```text
//! KEK      = Argon2id v0x13(password, salt, m, t, p, 32 bytes)
//! header   = "KLBKPASS" (8) || version 0x01 (1) || u32be(m KiB) || u32be(t) || u32be(p)
//!            || salt (16) || nonce (12)                                       = 49 bytes
//! sealed   = AES-256-GCM(KEK, nonce, BackupKey, aad = "keylink v1 backup password" || header)
//! envelope = header || sealed (32 + 16)                                       = 97 bytes
//! ```

use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::error::BackupError;
use super::keys::BackupKey;
use super::rng::random;
use crate::constants::{
    ARGON2_DEFAULT_M_COST_KIB, ARGON2_DEFAULT_P_COST, ARGON2_DEFAULT_T_COST, ARGON2_MAX_M_COST_KIB,
    ARGON2_MAX_P_COST, ARGON2_MAX_T_COST, ARGON2_SALT_LEN, BACKUP_ENVELOPE_AAD,
    BACKUP_ENVELOPE_MAGIC, BACKUP_ENVELOPE_VERSION,
};
use crate::primitives::{self, AeadKey, TAG_LEN};

const NONCE_LEN: usize = 12;
/// Bytes of the envelope before the sealed key (magic, version, parameters, salt, nonce).
const HEADER_LEN: usize = BACKUP_ENVELOPE_MAGIC.len() + 1 + 12 + ARGON2_SALT_LEN + NONCE_LEN;
/// Bytes of a whole envelope.
pub const ENVELOPE_LEN: usize = HEADER_LEN + 32 + TAG_LEN;

/// Argon2id cost parameters, validated: memory of at least 8 KiB per lane and at most
/// 4 GiB, 1 to 64 passes, 1 to 64 lanes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argon2Params {
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
}

impl Argon2Params {
    /// RFC 9106's second recommended option: 64 MiB, 3 passes, 4 lanes.
    pub const DEFAULT: Argon2Params = Argon2Params {
        m_cost_kib: ARGON2_DEFAULT_M_COST_KIB,
        t_cost: ARGON2_DEFAULT_T_COST,
        p_cost: ARGON2_DEFAULT_P_COST,
    };

    /// Parameters of memory `m_cost_kib` KiB, `t_cost` passes and `p_cost` lanes. Small values
    /// are accepted (tests use them); new envelopes for users should use the default.
    pub fn new(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Result<Self, BackupError> {
        let lanes_ok = (1..=ARGON2_MAX_P_COST).contains(&p_cost);
        let memory_ok = lanes_ok
            && m_cost_kib <= ARGON2_MAX_M_COST_KIB
            && u64::from(m_cost_kib) >= 8 * u64::from(p_cost);
        if !lanes_ok || !memory_ok || !(1..=ARGON2_MAX_T_COST).contains(&t_cost) {
            return Err(BackupError::InvalidParameter(
                "Argon2id needs 1 to 64 lanes, 1 to 64 passes and 8 KiB per lane up to 4 GiB",
            ));
        }
        Ok(Argon2Params {
            m_cost_kib,
            t_cost,
            p_cost,
        })
    }

    /// Memory in KiB.
    pub fn m_cost_kib(&self) -> u32 {
        self.m_cost_kib
    }

    /// Passes over memory.
    pub fn t_cost(&self) -> u32 {
        self.t_cost
    }

    /// Lanes.
    pub fn p_cost(&self) -> u32 {
        self.p_cost
    }

    /// The key-encryption key from `password` and `salt`.
    fn derive(&self, password: &[u8], salt: &[u8]) -> Result<Kek, BackupError> {
        let costs = (self.m_cost_kib, self.t_cost, self.p_cost);
        let kek = primitives::argon2id(password, salt, costs)
            .map_err(|_| BackupError::InvalidParameter("Argon2id parameters or input"))?;
        Ok(Kek(*kek))
    }
}

impl Default for Argon2Params {
    fn default() -> Self {
        Argon2Params::DEFAULT
    }
}

/// The key-encryption key derived from the password.
#[derive(Zeroize, ZeroizeOnDrop)]
struct Kek([u8; 32]);

impl Kek {
    fn cipher(&self) -> AeadKey {
        AeadKey::new(&self.0)
    }
}

/// The [`BackupKey`] wrapped under a password. Store its [`to_bytes`](Self::to_bytes) apart
/// from the backups (its own file, or the server's key store); changing the password makes a
/// new envelope and leaves every backup file as it is.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordEnvelope {
    params: Argon2Params,
    salt: [u8; ARGON2_SALT_LEN],
    nonce: [u8; NONCE_LEN],
    sealed: [u8; 32 + TAG_LEN],
}

impl PasswordEnvelope {
    /// Wraps `key` under `password` with the default Argon2id parameters.
    pub fn seal(key: &BackupKey, password: &[u8]) -> Result<Self, BackupError> {
        Self::seal_with_params(key, password, Argon2Params::DEFAULT)
    }

    /// Wraps `key` under `password` with `params`, a fresh salt and a fresh nonce.
    pub fn seal_with_params(
        key: &BackupKey,
        password: &[u8],
        params: Argon2Params,
    ) -> Result<Self, BackupError> {
        if password.is_empty() {
            return Err(BackupError::InvalidParameter("the password is empty"));
        }
        let mut envelope = PasswordEnvelope {
            params,
            salt: random()?,
            nonce: random()?,
            sealed: [0u8; 32 + TAG_LEN],
        };
        let kek = params.derive(password, &envelope.salt)?;
        // Sealed in a buffer of its own, so no plaintext key is left in `envelope` on failure.
        let mut body = Zeroizing::new(*key.as_bytes());
        let tag = kek
            .cipher()
            .seal_in_place(&envelope.nonce, &envelope.aad(), body.as_mut())
            .map_err(|_| BackupError::InvalidParameter("envelope encryption"))?;
        let sealed = body.iter().chain(tag.iter());
        envelope
            .sealed
            .iter_mut()
            .zip(sealed)
            .for_each(|(s, b)| *s = *b);
        Ok(envelope)
    }

    /// Unwraps the [`BackupKey`]; [`BackupError::WrongPassword`] if `password` is not the one
    /// it was sealed under (or the envelope was altered).
    pub fn open(&self, password: &[u8]) -> Result<BackupKey, BackupError> {
        let kek = self.params.derive(password, &self.salt)?;
        let mut key = Zeroizing::new([0u8; 32]);
        let (body, tag) = self.sealed.split_at(32);
        key.copy_from_slice(body);
        let tag = <&[u8; TAG_LEN]>::try_from(tag).map_err(|_| BackupError::WrongPassword)?;
        kek.cipher()
            .open_in_place(&self.nonce, &self.aad(), key.as_mut(), tag)
            .map_err(|_| BackupError::WrongPassword)?;
        Ok(BackupKey::from_bytes(*key))
    }

    /// A new envelope of the same key under `new_password` (same parameters, fresh salt and
    /// nonce), after checking `old_password`. Backup files are not touched.
    pub fn change_password(
        &self,
        old_password: &[u8],
        new_password: &[u8],
    ) -> Result<Self, BackupError> {
        let key = self.open(old_password)?;
        Self::seal_with_params(&key, new_password, self.params)
    }

    /// The Argon2id parameters this envelope was sealed with.
    pub fn params(&self) -> Argon2Params {
        self.params
    }

    /// The envelope's bytes (see the module docs for the layout).
    pub fn to_bytes(&self) -> [u8; ENVELOPE_LEN] {
        let mut out = [0u8; ENVELOPE_LEN];
        let header = self.header();
        let parts = header.iter().chain(self.sealed.iter());
        out.iter_mut().zip(parts).for_each(|(o, b)| *o = *b);
        out
    }

    fn header(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let p = &self.params;
        let (m, t, l) = (
            p.m_cost_kib.to_be_bytes(),
            p.t_cost.to_be_bytes(),
            p.p_cost.to_be_bytes(),
        );
        let fields = BACKUP_ENVELOPE_MAGIC
            .iter()
            .chain(&[BACKUP_ENVELOPE_VERSION])
            .chain(&m)
            .chain(&t)
            .chain(&l)
            .chain(&self.salt)
            .chain(&self.nonce);
        out.iter_mut().zip(fields).for_each(|(o, b)| *o = *b);
        out
    }

    fn aad(&self) -> Vec<u8> {
        [BACKUP_ENVELOPE_AAD, &self.header()].concat()
    }
}

impl fmt::Debug for PasswordEnvelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordEnvelope")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl TryFrom<&[u8]> for PasswordEnvelope {
    type Error = BackupError;

    fn try_from(bytes: &[u8]) -> Result<Self, BackupError> {
        let mut r = Fields(bytes);
        if r.take::<8>()? != BACKUP_ENVELOPE_MAGIC {
            return Err(BackupError::MalformedEnvelope(
                "not a keylink password envelope",
            ));
        }
        let [version] = r.take::<1>()?;
        if version != BACKUP_ENVELOPE_VERSION {
            return Err(BackupError::UnknownVersion {
                what: "password envelope",
                found: version,
            });
        }
        let (m, t, p) = (r.u32()?, r.u32()?, r.u32()?);
        let params = Argon2Params::new(m, t, p)
            .map_err(|_| BackupError::MalformedEnvelope("Argon2id parameters out of range"))?;
        let envelope = PasswordEnvelope {
            params,
            salt: r.take()?,
            nonce: r.take()?,
            sealed: r.take()?,
        };
        match r.0.is_empty() {
            true => Ok(envelope),
            false => Err(BackupError::MalformedEnvelope(
                "extra bytes after the envelope",
            )),
        }
    }
}

/// A cursor over envelope bytes.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], BackupError> {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or(BackupError::MalformedEnvelope("too short"))?;
        self.0 = rest;
        Ok(*head)
    }

    fn u32(&mut self) -> Result<u32, BackupError> {
        self.take().map(u32::from_be_bytes)
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    fn fast() -> Argon2Params {
        Argon2Params::new(64, 1, 1).unwrap()
    }

    fn key() -> BackupKey {
        BackupKey::from_entropy(&[3u8; 32])
    }

    #[test]
    fn round_trips_through_bytes() {
        let env = PasswordEnvelope::seal_with_params(&key(), b"hunter2", fast()).unwrap();
        let bytes = env.to_bytes();
        assert_eq!(bytes.len(), 97);
        assert_eq!(&bytes[..9], b"KLBKPASS\x01");
        let parsed = PasswordEnvelope::try_from(&bytes[..]).unwrap();
        assert_eq!(parsed, env);
        let opened = parsed.open(b"hunter2").unwrap();
        assert_eq!(opened.as_bytes(), key().as_bytes());
    }

    #[test]
    fn wrong_password_is_reported() {
        let env = PasswordEnvelope::seal_with_params(&key(), b"hunter2", fast()).unwrap();
        assert!(matches!(
            env.open(b"hunter3"),
            Err(BackupError::WrongPassword)
        ));
    }

    #[test]
    fn tampered_parameters_or_salt_fail() {
        let env = PasswordEnvelope::seal_with_params(&key(), b"pw", fast()).unwrap();
        // m, t, p, salt, nonce, sealed key, tag.
        for pos in [12, 16, 20, 30, 45, 60, 96] {
            let mut bytes = env.to_bytes();
            bytes[pos] ^= 2;
            let parsed = PasswordEnvelope::try_from(&bytes[..]).unwrap();
            assert!(
                matches!(parsed.open(b"pw"), Err(BackupError::WrongPassword)),
                "{pos}"
            );
        }
    }

    #[test]
    fn parsing_rejects_bad_bytes() {
        let bytes = PasswordEnvelope::seal_with_params(&key(), b"pw", fast())
            .unwrap()
            .to_bytes();
        assert!(PasswordEnvelope::try_from(&bytes[..96]).is_err());
        assert!(PasswordEnvelope::try_from(&[&bytes[..], &[0]].concat()[..]).is_err());
        let mut version = bytes;
        version[8] = 9;
        assert!(matches!(
            PasswordEnvelope::try_from(&version[..]),
            Err(BackupError::UnknownVersion { found: 9, .. })
        ));
        let mut huge = bytes;
        huge[9..13].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            PasswordEnvelope::try_from(&huge[..]),
            Err(BackupError::MalformedEnvelope(_))
        ));
    }

    #[test]
    fn change_password_keeps_the_key() {
        let env = PasswordEnvelope::seal_with_params(&key(), b"old", fast()).unwrap();
        let new = env.change_password(b"old", b"new").unwrap();
        assert_eq!(new.open(b"new").unwrap().as_bytes(), key().as_bytes());
        assert!(matches!(new.open(b"old"), Err(BackupError::WrongPassword)));
        assert!(matches!(
            env.change_password(b"wrong", b"new"),
            Err(BackupError::WrongPassword)
        ));
    }

    #[test]
    fn defaults_are_rfc9106_second_option() {
        let d = Argon2Params::default();
        assert_eq!((d.m_cost_kib(), d.t_cost(), d.p_cost()), (65536, 3, 4));
        assert!(Argon2Params::new(7, 1, 1).is_err());
        assert!(Argon2Params::new(64, 0, 1).is_err());
        assert!(Argon2Params::new(64, 1, 0).is_err());
    }

    #[test]
    fn empty_password_is_refused() {
        assert!(PasswordEnvelope::seal_with_params(&key(), b"", fast()).is_err());
    }

    #[test]
    fn debug_shows_no_secret() {
        let env = PasswordEnvelope::seal_with_params(&key(), b"pw", fast()).unwrap();
        assert_eq!(
            format!("{env:?}"),
            "PasswordEnvelope { params: Argon2Params { m_cost_kib: 64, t_cost: 1, p_cost: 1 }, .. }"
        );
    }
}
