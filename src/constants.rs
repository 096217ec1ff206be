//! Every protocol constant in one place: HKDF labels, signature contexts, version bytes and
//! limits. Each line says what it separates. Changing any value here is a new protocol version.

// ---- Wire format ------------------------------------------------------------------------

/// Protocol version carried in the high nibble of every serialized structure's leading byte.
pub const WIRE_VERSION: u8 = 1;

// ---- Signature contexts -------------------------------------------------------------------

/// Signature context for a signed prekey: `sig = Sign(IK, CONTEXT || u32be(id) || public)`.
pub const SIGNED_PREKEY_CONTEXT: &[u8] = b"keylink v1 signed prekey";
/// Signature context for a KEM prekey: `sig = Sign(IK, CONTEXT || u32be(id) || encaps key)`.
pub const KEM_PREKEY_CONTEXT: &[u8] = b"keylink v1 kem prekey";

// ---- Session setup ------------------------------------------------------------------------

/// HKDF info for the PQXDH shared secret. keylink sets up sessions only with PQXDH: the plain
/// X3DH label of DESIGN.md (`"keylink v1 x3dh"`) is never used, so no downgrade exists.
pub const PQXDH_INFO: &[u8] = b"keylink v1 pqxdh ML-KEM-1024";
/// Leading 32 bytes of `0xFF` in the session-setup KDF input, separating it from any other use
/// of a Curve25519 DH output (as in X3DH).
pub const PQXDH_PREFIX: [u8; 32] = [0xFF; 32];

// ---- Double Ratchet -----------------------------------------------------------------------

/// HKDF info of the root-chain step `KDF_RK`.
pub const ROOT_INFO: &[u8] = b"keylink v1 root";
/// HKDF info that expands a message key into an AES-256-GCM key and nonce.
pub const MESSAGE_INFO: &[u8] = b"keylink v1 message";
/// HMAC input deriving a message key from a chain key.
pub const MESSAGE_KEY_SEED: u8 = 0x01;
/// HMAC input deriving the next chain key from a chain key.
pub const CHAIN_KEY_SEED: u8 = 0x02;
/// First byte of the 41-byte ratchet header that is authenticated as AAD.
pub const HEADER_VERSION: u8 = 0x01;

// ---- Limits -------------------------------------------------------------------------------

/// Most message keys one header may make us skip in one chain; more is rejected before any
/// key is derived.
pub const MAX_SKIP: u32 = 25_000;
/// Most skipped message keys stored per session; the oldest are evicted beyond this.
pub const MAX_STORED_SKIPPED_KEYS: usize = 2_000;
/// Most receiving chains kept per session; the oldest are dropped beyond this.
pub const MAX_RECEIVING_CHAINS: usize = 5;
/// Most archived (previous) sessions kept per peer address.
pub const MAX_ARCHIVED_SESSIONS: usize = 40;

// ---- Backups ------------------------------------------------------------------------------

/// HKDF info deriving the `BackupKey` from recovery-key entropy.
pub const BACKUP_KEY_INFO: &[u8] = b"keylink v1 backup key";
/// HKDF info prefix (followed by the account id) deriving the 16-byte `BackupId`.
pub const BACKUP_ID_INFO: &[u8] = b"keylink v1 backup id";
/// HKDF info deriving the chunked-encryption input key of backup files from the `BackupKey`.
pub const BACKUP_FILE_INFO: &[u8] = b"keylink v1 backup file";
