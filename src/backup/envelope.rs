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
//!
//! The parameters are whatever the envelope's bytes say, so opening checks them against
//! [`Argon2Limits`] first.

use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::error::BackupError;
use super::keys::BackupKey;
use super::rng::random;
use crate::constants::{
    ARGON2_DEFAULT_M_COST_KIB, ARGON2_DEFAULT_P_COST, ARGON2_DEFAULT_T_COST,
    ARGON2_LIMIT_M_COST_KIB, ARGON2_LIMIT_P_COST, ARGON2_LIMIT_T_COST, ARGON2_MAX_M_COST_KIB,
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

/// How much Argon2id work opening a [`PasswordEnvelope`] may cost, checked before anything is
/// allocated or hashed.
///
/// An envelope's Argon2id parameters are in its bytes, so whoever stores it (a server, a
/// synced folder, an attacker with write access there) chooses them: without a limit, 97 bytes
/// can ask for 4 GiB and 64 passes, minutes of work or an out-of-memory kill on a phone.
///
/// [`Argon2Limits::DEFAULT`], what [`PasswordEnvelope::open`] uses, allows 256 MiB, 8 passes
/// and 8 lanes:
/// - 256 MiB is four times the 64 MiB of new envelopes ([`Argon2Params::DEFAULT`]), and about
///   what a mid-range phone lets one app allocate at once without killing it;
/// - 8 passes at that memory are about ten times the default's work (256 MiB x 8 against
///   64 MiB x 3): seconds on a phone, not minutes;
/// - 8 lanes is twice the default's 4; keylink fills lanes one after another, so more lanes
///   buy nothing but are bounded like the rest.
///
/// New envelopes made with [`Argon2Params::DEFAULT`] always fit (checked at compile time).
/// An app that deliberately seals with heavier parameters opens with
/// [`PasswordEnvelope::open_with_limits`] and limits of its choosing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argon2Limits {
    max_m_cost_kib: u32,
    max_t_cost: u32,
    max_p_cost: u32,
}

impl Argon2Limits {
    /// 256 MiB, 8 passes, 8 lanes: safe to open on a phone (see the type's docs).
    pub const DEFAULT: Argon2Limits = Argon2Limits {
        max_m_cost_kib: ARGON2_LIMIT_M_COST_KIB,
        max_t_cost: ARGON2_LIMIT_T_COST,
        max_p_cost: ARGON2_LIMIT_P_COST,
    };

    /// Limits of at most `max_m_cost_kib` KiB of memory, `max_t_cost` passes and `max_p_cost`
    /// lanes. Raise them only for envelopes whose origin the app trusts.
    pub const fn new(max_m_cost_kib: u32, max_t_cost: u32, max_p_cost: u32) -> Self {
        Argon2Limits {
            max_m_cost_kib,
            max_t_cost,
            max_p_cost,
        }
    }

    /// Most memory, in KiB.
    pub fn max_m_cost_kib(&self) -> u32 {
        self.max_m_cost_kib
    }

    /// Most passes.
    pub fn max_t_cost(&self) -> u32 {
        self.max_t_cost
    }

    /// Most lanes.
    pub fn max_p_cost(&self) -> u32 {
        self.max_p_cost
    }

    /// Whether an envelope with `params` may be opened under these limits.
    pub fn allows(&self, params: &Argon2Params) -> bool {
        params.m_cost_kib <= self.max_m_cost_kib
            && params.t_cost <= self.max_t_cost
            && params.p_cost <= self.max_p_cost
    }

    /// [`BackupError::EnvelopeAboveLimits`] unless these limits allow `params`.
    fn check(&self, params: &Argon2Params) -> Result<(), BackupError> {
        match self.allows(params) {
            true => Ok(()),
            false => Err(BackupError::EnvelopeAboveLimits {
                m_cost_kib: params.m_cost_kib,
                t_cost: params.t_cost,
                p_cost: params.p_cost,
                max_m_cost_kib: self.max_m_cost_kib,
                max_t_cost: self.max_t_cost,
                max_p_cost: self.max_p_cost,
            }),
        }
    }
}

impl Default for Argon2Limits {
    fn default() -> Self {
        Argon2Limits::DEFAULT
    }
}

// New envelopes with the default parameters must open under the default limits.
const _: () = assert!(
    ARGON2_DEFAULT_M_COST_KIB <= ARGON2_LIMIT_M_COST_KIB
        && ARGON2_DEFAULT_T_COST <= ARGON2_LIMIT_T_COST
        && ARGON2_DEFAULT_P_COST <= ARGON2_LIMIT_P_COST
);

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
    ///
    /// Parameters above [`Argon2Limits::DEFAULT`] make an envelope that
    /// [`open`](Self::open) refuses; it opens with [`open_with_limits`](Self::open_with_limits).
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
    /// it was sealed under (or the envelope was altered), and
    /// [`BackupError::EnvelopeAboveLimits`], before any memory is allocated or anything is
    /// hashed, if the envelope asks for more Argon2id work than [`Argon2Limits::DEFAULT`].
    pub fn open(&self, password: &[u8]) -> Result<BackupKey, BackupError> {
        self.open_with_limits(password, Argon2Limits::DEFAULT)
    }

    /// [`open`](Self::open) under the given limits instead of the default ones, for an app
    /// that seals its own envelopes with heavier parameters and trusts where they are stored.
    pub fn open_with_limits(
        &self,
        password: &[u8],
        limits: Argon2Limits,
    ) -> Result<BackupKey, BackupError> {
        limits.check(&self.params)?;
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
    /// nonce), after checking `old_password`. Backup files are not touched. The old envelope
    /// is opened under [`Argon2Limits::DEFAULT`]; for a heavier one, use
    /// [`open_with_limits`](Self::open_with_limits) and [`seal_with_params`](Self::seal_with_params).
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

    /// An envelope's bytes with the given Argon2id costs (the seal does not matter: opening
    /// must stop before it).
    fn envelope_asking(m: u32, t: u32, p: u32) -> PasswordEnvelope {
        let mut bytes = PasswordEnvelope::seal_with_params(&key(), b"pw", fast())
            .unwrap()
            .to_bytes();
        bytes[9..13].copy_from_slice(&m.to_be_bytes());
        bytes[13..17].copy_from_slice(&t.to_be_bytes());
        bytes[17..21].copy_from_slice(&p.to_be_bytes());
        PasswordEnvelope::try_from(&bytes[..]).unwrap()
    }

    #[test]
    fn costly_envelopes_are_refused_before_argon2id_runs() {
        // 4 GiB and 64 passes would take minutes (or be killed for its memory) if it ran.
        let start = std::time::Instant::now();
        let err = envelope_asking(4 << 20, 64, 4).open(b"pw").unwrap_err();
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
        assert!(
            matches!(
                err,
                BackupError::EnvelopeAboveLimits {
                    m_cost_kib: 4_194_304,
                    t_cost: 64,
                    max_m_cost_kib: 262_144,
                    max_t_cost: 8,
                    ..
                }
            ),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("4096 MiB") && text.contains("256 MiB"),
            "{text}"
        );
        // Each cost on its own is enough.
        for (m, t, p) in [(300 << 10, 1, 1), (64, 9, 1), (1024, 1, 9)] {
            let err = envelope_asking(m, t, p).open(b"pw").unwrap_err();
            assert!(
                matches!(err, BackupError::EnvelopeAboveLimits { .. }),
                "{m} {t} {p}: {err:?}"
            );
        }
    }

    #[test]
    fn explicit_limits_open_heavier_envelopes() {
        let heavy = Argon2Params::new(64, 9, 1).unwrap();
        let env = PasswordEnvelope::seal_with_params(&key(), b"pw", heavy).unwrap();
        assert!(matches!(
            env.open(b"pw"),
            Err(BackupError::EnvelopeAboveLimits { t_cost: 9, .. })
        ));
        let limits = Argon2Limits::new(64, 9, 1);
        assert!(limits.allows(&heavy));
        let opened = env.open_with_limits(b"pw", limits).unwrap();
        assert_eq!(opened.as_bytes(), key().as_bytes());
        assert!(matches!(
            env.open_with_limits(b"pw", Argon2Limits::new(63, 9, 1)),
            Err(BackupError::EnvelopeAboveLimits { .. })
        ));
    }

    #[test]
    fn default_parameters_fit_under_the_default_limits() {
        assert!(Argon2Limits::default().allows(&Argon2Params::DEFAULT));
        let l = Argon2Limits::DEFAULT;
        assert_eq!(
            (l.max_m_cost_kib(), l.max_t_cost(), l.max_p_cost()),
            (256 * 1024, 8, 8)
        );
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
