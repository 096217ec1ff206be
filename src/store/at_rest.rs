//! Sealing values at rest, for stores that persist keylink's state (PROTOCOL.md §8.1).
//!
//! A persistent store keeps every secret value sealed under a 32-byte [`StorageKey`] that the
//! app keeps outside the database (e.g. in the OS keystore). A sealed value is bound to its
//! table, its row key and the schema version ([`Row`]), so a copied file reveals nothing and a
//! value moved to another row does not open. Every write draws a fresh 256-bit salt and seals
//! under a key derived from it, used once: no nonce limit is reachable. Row keys that name
//! contacts (addresses, phone numbers) are replaced by keyed hashes ([`Sealer::name`]), so the
//! file alone does not show who the user talks to. A store keeps [`Sealer::key_check`] beside
//! its tables and checks it when opened ([`Sealer::verify_key_check`]), so a wrong storage key
//! is its own error at open instead of a failure on the first value read.

use core::fmt;

use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::constants::{
    SEALED_VALUE_VERSION, STORAGE_CHECK_INFO, STORAGE_NAME_INFO, STORAGE_ROW_INFO,
    STORAGE_SEAL_INFO,
};
use crate::primitives::{self, Gcm, HmacKey, TAG_LEN};

/// Length of the salt each sealed value carries.
pub const SALT_LEN: usize = 32;

/// Bytes a sealed value adds to its plaintext: version, salt and tag.
pub const SEAL_OVERHEAD: usize = 1 + SALT_LEN + TAG_LEN;

/// The app's 32-byte storage key (secret; zeroized on drop, never printed).
pub struct StorageKey(Zeroizing<[u8; 32]>);

impl StorageKey {
    /// A key from its 32 bytes, as the app keeps them (e.g. in the OS keystore).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        StorageKey(Zeroizing::new(bytes))
    }

    /// A new random key, for the app to keep.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(key.as_mut());
        StorageKey(key)
    }

    /// The key's bytes, for the app to keep.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        self.0.clone()
    }
}

impl fmt::Debug for StorageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StorageKey(redacted)")
    }
}

/// Where a sealed value is stored: what it is bound to.
#[derive(Clone, Copy, Debug)]
pub struct Row<'a> {
    /// The table's name (at most 255 bytes).
    pub table: &'a str,
    /// The row's key, as stored (a keyed hash where it names a contact).
    pub row_key: &'a [u8],
    /// The store's schema version.
    pub schema_version: u32,
}

impl Row<'_> {
    /// `u8(len table) || table || u32be(len row_key) || row_key || u32be(schema_version)`.
    fn binding(&self) -> Result<Vec<u8>, AtRestError> {
        let table_len = u8::try_from(self.table.len()).map_err(|_| AtRestError::TableName)?;
        let key_len = u32::try_from(self.row_key.len()).map_err(|_| AtRestError::RowKey)?;
        let mut binding = Vec::with_capacity(1 + self.table.len() + 4 + self.row_key.len() + 4);
        binding.push(table_len);
        binding.extend_from_slice(self.table.as_bytes());
        binding.extend_from_slice(&key_len.to_be_bytes());
        binding.extend_from_slice(self.row_key);
        binding.extend_from_slice(&self.schema_version.to_be_bytes());
        Ok(binding)
    }
}

/// Why a stored value could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AtRestError {
    /// The store's key check does not match: it was created under another storage key.
    WrongStorageKey,
    /// A sealed value does not open for its row: it was altered, moved from another row, or
    /// written under another storage key.
    Rejected,
    /// A sealed value is too short or has an unknown format version.
    Malformed,
    /// A table name longer than 255 bytes (a bug in the store).
    TableName,
    /// A row key longer than 2^32 - 1 bytes (a bug in the store).
    RowKey,
}

impl fmt::Display for AtRestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AtRestError::WrongStorageKey => {
                "the storage key does not match the one this store was created with; open it with the right key from the keystore"
            }
            AtRestError::Rejected => {
                "a stored value does not authenticate for its row (altered, moved between rows, or written under another storage key); the store is damaged or tampered with"
            }
            AtRestError::Malformed => {
                "a stored value is truncated or has an unknown format; the store is damaged or from a newer keylink"
            }
            AtRestError::TableName => "a table name longer than 255 bytes (a bug in the store)",
            AtRestError::RowKey => "a row key longer than 2^32 - 1 bytes (a bug in the store)",
        })
    }
}

impl std::error::Error for AtRestError {}

/// The keys derived from a [`StorageKey`]: one to seal values, one for the keyed hashes of
/// names, and the key check value.
pub struct Sealer {
    seal: Zeroizing<[u8; 32]>,
    names: HmacKey,
    check: [u8; 32],
}

impl Sealer {
    /// Derive the keys of `key` (PROTOCOL.md §8.1).
    pub fn new(key: &StorageKey) -> Self {
        let derive = |info: &[u8]| primitives::hkdf_zero_salt::<32>(key.0.as_ref(), &[info]);
        // HKDF-SHA256 with a 32-byte output cannot fail (its only error is an output longer
        // than 8,160 bytes), so the defaults below are never taken.
        let seal = derive(STORAGE_SEAL_INFO).unwrap_or_default();
        let names = derive(STORAGE_NAME_INFO).unwrap_or_default();
        let check = derive(STORAGE_CHECK_INFO).map_or([0; 32], |c| *c);
        Sealer {
            seal,
            names: HmacKey::new(&names),
            check,
        }
    }

    /// The key check value to keep beside the tables (not secret: a one-way function of the
    /// storage key).
    pub fn key_check(&self) -> [u8; 32] {
        self.check
    }

    /// Whether `stored`, read from a store being opened, is this key's check value
    /// (constant time).
    pub fn verify_key_check(&self, stored: &[u8]) -> Result<(), AtRestError> {
        match stored.len() == 32 && bool::from(self.check.ct_eq(stored)) {
            true => Ok(()),
            false => Err(AtRestError::WrongStorageKey),
        }
    }

    /// The keyed hash that stands for `name` in a row key: `HMAC(K_name, u8(len kind) || kind
    /// || name)`, where `kind` (at most 255 bytes; a store's constant) says what the name is,
    /// e.g. `"address"`.
    pub fn name(&self, kind: &str, name: &[u8]) -> [u8; 32] {
        let kind_len = u8::try_from(kind.len()).unwrap_or(u8::MAX);
        let kind = kind
            .as_bytes()
            .get(..usize::from(kind_len))
            .unwrap_or_default();
        let mut message = Vec::with_capacity(1 + kind.len() + name.len());
        message.push(kind_len);
        message.extend_from_slice(kind);
        message.extend_from_slice(name);
        *self.names.mac(&message)
    }

    /// Seal `plaintext` for `row` under a fresh salt drawn from `rng`.
    pub fn seal<R: CryptoRng + ?Sized>(
        &self,
        row: &Row<'_>,
        plaintext: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, AtRestError> {
        let mut salt = [0u8; SALT_LEN];
        rng.fill_bytes(&mut salt);
        self.seal_with_salt(row, plaintext, &salt)
    }

    /// [`Sealer::seal`] with a given salt (deterministic: for test vectors).
    pub(crate) fn seal_with_salt(
        &self,
        row: &Row<'_>,
        plaintext: &[u8],
        salt: &[u8; SALT_LEN],
    ) -> Result<Vec<u8>, AtRestError> {
        let binding = row.binding()?;
        let cipher = self.value_cipher(salt, &binding)?;
        // Holds the plaintext until it is sealed in place: wiped if sealing fails.
        let mut out = Zeroizing::new(Vec::with_capacity(SEAL_OVERHEAD + plaintext.len()));
        out.push(SEALED_VALUE_VERSION);
        out.extend_from_slice(salt);
        out.extend_from_slice(plaintext);
        let body = out.get_mut(1 + SALT_LEN..).ok_or(AtRestError::Malformed)?;
        let tag = cipher
            .seal_in_place(&[0; 12], &binding, body)
            .map_err(|_| AtRestError::Malformed)?;
        out.extend_from_slice(&tag);
        Ok(core::mem::take(&mut *out))
    }

    /// Open a value sealed for `row`.
    pub fn open(&self, row: &Row<'_>, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, AtRestError> {
        let (&version, rest) = sealed.split_first().ok_or(AtRestError::Malformed)?;
        let (salt, rest) = rest
            .split_first_chunk::<SALT_LEN>()
            .ok_or(AtRestError::Malformed)?;
        let (ciphertext, tag) = rest
            .split_last_chunk::<TAG_LEN>()
            .ok_or(AtRestError::Malformed)?;
        if version != SEALED_VALUE_VERSION {
            return Err(AtRestError::Malformed);
        }
        let binding = row.binding()?;
        let cipher = self.value_cipher(salt, &binding)?;
        let mut plaintext = Zeroizing::new(ciphertext.to_vec());
        cipher
            .open_in_place(&[0; 12], &binding, &mut plaintext, tag)
            .map_err(|_| AtRestError::Rejected)?;
        Ok(plaintext)
    }

    /// AES-256-GCM under `HKDF(salt, K_seal, "keylink v1 storage row" || binding, 32)`: a key
    /// for one value, so its nonce can be fixed.
    fn value_cipher(&self, salt: &[u8; SALT_LEN], binding: &[u8]) -> Result<Gcm, AtRestError> {
        let mut key = Zeroizing::new([0u8; 32]);
        let info = [STORAGE_ROW_INFO, binding];
        primitives::hkdf_into(salt, self.seal.as_ref(), &info, key.as_mut())
            .map_err(|_| AtRestError::Malformed)?;
        Ok(Gcm::new(&key))
    }
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer(redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::aead::{AeadInOut, KeyInit};

    fn sealer(byte: u8) -> Sealer {
        Sealer::new(&StorageKey::from_bytes([byte; 32]))
    }

    const ROW: Row<'static> = Row {
        table: "sessions",
        row_key: b"row 1",
        schema_version: 1,
    };

    #[test]
    fn a_sealed_value_opens_for_its_row_only() {
        let s = sealer(1);
        let sealed = s.seal(&ROW, b"secret", &mut crate::os_rng()).unwrap();
        assert_eq!(sealed.len(), SEAL_OVERHEAD + 6);
        assert_eq!(s.open(&ROW, &sealed).unwrap().as_slice(), b"secret");
        let others = [
            Row {
                table: "session",
                ..ROW
            },
            Row {
                row_key: b"row 2",
                ..ROW
            },
            Row {
                schema_version: 2,
                ..ROW
            },
            // The binding is length-prefixed: moving a byte between fields changes it.
            Row {
                table: "sessionsr",
                row_key: b"ow 1",
                ..ROW
            },
        ];
        for other in others {
            assert_eq!(s.open(&other, &sealed).unwrap_err(), AtRestError::Rejected);
        }
        assert_eq!(
            sealer(2).open(&ROW, &sealed).unwrap_err(),
            AtRestError::Rejected
        );
        for i in 1..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[i] ^= 0x01;
            assert_eq!(s.open(&ROW, &tampered).unwrap_err(), AtRestError::Rejected);
        }
        let mut other_version = sealed.clone();
        other_version[0] = 0x02;
        assert_eq!(
            s.open(&ROW, &other_version).unwrap_err(),
            AtRestError::Malformed
        );
        for len in 0..SEAL_OVERHEAD {
            assert_eq!(
                s.open(&ROW, &sealed[..len]).unwrap_err(),
                AtRestError::Malformed
            );
        }
    }

    #[test]
    fn every_write_draws_a_new_salt() {
        let s = sealer(1);
        let a = s.seal(&ROW, b"same", &mut crate::os_rng()).unwrap();
        let b = s.seal(&ROW, b"same", &mut crate::os_rng()).unwrap();
        assert_ne!(a[1..33], b[1..33]);
        assert_ne!(a[33..], b[33..]);
    }

    /// The derivation of PROTOCOL.md §8.1, recomputed from the bare primitives.
    #[test]
    fn the_format_is_the_documented_one() {
        let key = [7u8; 32];
        let hkdf = |salt: &[u8], ikm: &[u8], info: &[u8]| {
            let mut out = [0u8; 32];
            hkdf::Hkdf::<sha2::Sha256>::new(Some(salt), ikm)
                .expand(info, &mut out)
                .unwrap();
            out
        };
        let k_seal = hkdf(&[0; 32], &key, b"keylink v1 storage seal");
        let k_name = hkdf(&[0; 32], &key, b"keylink v1 storage name");
        let check = hkdf(&[0; 32], &key, b"keylink v1 storage check");
        let s = Sealer::new(&StorageKey::from_bytes(key));
        assert_eq!(s.key_check(), check);
        assert!(s.verify_key_check(&check).is_ok());
        assert_eq!(
            sealer(8).verify_key_check(&check),
            Err(AtRestError::WrongStorageKey)
        );

        let mut binding = vec![8u8];
        binding.extend_from_slice(b"sessions");
        binding.extend_from_slice(&5u32.to_be_bytes());
        binding.extend_from_slice(b"row 1");
        binding.extend_from_slice(&1u32.to_be_bytes());
        let salt = [9u8; 32];
        let mut info = b"keylink v1 storage row".to_vec();
        info.extend_from_slice(&binding);
        let k_row = hkdf(&salt, &k_seal, &info);
        let cipher = aes_gcm::Aes256Gcm::new(&k_row.into());
        let mut body = b"secret".to_vec();
        let tag = cipher
            .encrypt_inout_detached(&[0u8; 12].into(), &binding, body.as_mut_slice().into())
            .unwrap();
        let mut expected = vec![0x01];
        expected.extend_from_slice(&salt);
        expected.extend_from_slice(&body);
        expected.extend_from_slice(&tag);
        assert_eq!(s.seal_with_salt(&ROW, b"secret", &salt).unwrap(), expected);

        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&k_name).unwrap();
        hmac::Mac::update(&mut mac, b"\x07addressalice.1");
        let expected: [u8; 32] = hmac::Mac::finalize(mac).into_bytes().into();
        assert_eq!(s.name("address", b"alice.1"), expected);
    }

    #[test]
    fn debug_shows_no_key() {
        let key = StorageKey::from_bytes([0xAB; 32]);
        let debug = format!("{key:?} {:?}", Sealer::new(&key));
        assert!(!debug.to_lowercase().contains("ab"), "{debug}");
        assert!(debug.contains("redacted"));
    }
}

#[cfg(test)]
mod vectors {
    use super::*;

    const FILE: &str = include_str!("../../test-vectors/keylink/storage_at_rest.json");

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The values of `test-vectors/keylink/storage_at_rest.json`, from its inputs.
    fn computed() -> serde_json::Value {
        let key = StorageKey::from_bytes(core::array::from_fn(|i| i as u8));
        let s = Sealer::new(&key);
        let salt: [u8; SALT_LEN] = core::array::from_fn(|i| 0xA0 ^ i as u8);
        let row = Row {
            table: "sessions",
            row_key: &s.name("address", b"alice.1"),
            schema_version: 1,
        };
        let sealed = s.seal_with_salt(&row, b"a session row", &salt).unwrap();
        serde_json::json!({
            "description": "keylink storage at rest (PROTOCOL.md 8.1): key check value, the keyed hash of an address used as a row key, and one value sealed for that row with a fixed salt",
            "storage_key": hex(&*key.to_bytes()),
            "key_check": hex(&s.key_check()),
            "name_kind": "address",
            "name": "alice.1",
            "name_hash": hex(&s.name("address", b"alice.1")),
            "table": "sessions",
            "schema_version": 1,
            "salt": hex(&salt),
            "plaintext": hex(b"a session row"),
            "sealed": hex(&sealed),
        })
    }

    #[test]
    fn the_vector_file_is_what_keylink_computes() {
        let file: serde_json::Value = serde_json::from_str(FILE).unwrap();
        assert_eq!(file, computed());
    }

    #[test]
    #[ignore = "writes test-vectors/keylink/storage_at_rest.json"]
    fn generate() {
        let text = serde_json::to_string_pretty(&computed()).unwrap() + "\n";
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/test-vectors/keylink/storage_at_rest.json"
        );
        std::fs::write(path, text).unwrap();
    }
}
