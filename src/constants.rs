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
/// Signature context of the account key over a device's link body:
/// `account_sig = Sign(AIK, CONTEXT || link_body)`.
pub const ACCOUNT_SIGNATURE_CONTEXT: &[u8] = b"keylink v1 account signature";
/// Signature context of a device's identity key over its link body and the account's
/// signature: `device_sig = Sign(IK_dev, CONTEXT || link_body || account_sig)`.
pub const DEVICE_SIGNATURE_CONTEXT: &[u8] = b"keylink v1 device signature";
/// Signature context of the account key over a device list:
/// `list_sig = Sign(AIK, CONTEXT || list_body)`.
pub const DEVICE_LIST_CONTEXT: &[u8] = b"keylink v1 device list";

// ---- Accounts -------------------------------------------------------------------------------

/// The most devices on an account's list: the primary and up to four companions.
pub const MAX_DEVICES: usize = 5;
/// The device id of an account's primary device, always on its list.
pub const PRIMARY_DEVICE_ID: u32 = 1;

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
/// First byte of the 41-byte plaintext ratchet header (sealed under a header key).
pub const HEADER_VERSION: u8 = 0x01;
/// HKDF info of Alice's first sending header key `HKA`, from `SK`.
pub const HEADER_KEY_A_INFO: &[u8] = b"keylink v1 header key A";
/// HKDF info of Bob's first sending header key `NHKB`, from `SK`.
pub const HEADER_KEY_B_INFO: &[u8] = b"keylink v1 header key B";
/// HKDF info expanding a header key into `hk_enc || hk_nonce`.
pub const HEADER_INFO: &[u8] = b"keylink v1 header";
/// Length of an encrypted header: `h_nonce (12) || AES-256-GCM(header (41)) || tag (16)`.
pub const ENC_HEADER_LEN: usize = 69;
/// Length of the sender's device list version, `u64be`, that leads the AEAD plaintext of
/// every ratchet message (the app's plaintext follows it).
pub const LIST_VERSION_LEN: usize = 8;

// ---- Limits -------------------------------------------------------------------------------

/// Most message keys one header may make us skip in one chain; more is rejected before any
/// key is derived.
pub const MAX_SKIP: u32 = 25_000;
/// Most skipped message keys stored per session; the oldest are evicted beyond this.
pub const MAX_STORED_SKIPPED_KEYS: usize = 2_000;
/// Most distinct header keys skipped message keys are stored under per session; storing
/// under a sixth evicts every key of the oldest. Bounds a forged message's trials.
pub const MAX_SKIPPED_HEADER_KEYS: usize = 5;
/// Most archived (previous) sessions kept per peer address.
pub const MAX_ARCHIVED_SESSIONS: usize = 40;

// ---- Groups: sender keys ----------------------------------------------------------------

/// HKDF info expanding a sender-key message key into an AES-256-GCM key and nonce; separates
/// it from the pairwise ratchet's [`MESSAGE_INFO`].
pub const SENDER_KEY_INFO: &[u8] = b"keylink v1 sender key";
/// Signature context of a group message:
/// `sig = Sign(signing key, CONTEXT || aad || ct)`.
pub const SENDER_KEY_MESSAGE_CONTEXT: &[u8] = b"keylink v1 sender key message";
/// First byte of a group message's 21-byte header `0x02 || distribution_id || u32be(i)`;
/// separates it from the pairwise ratchet's header ([`HEADER_VERSION`]).
pub const SENDER_KEY_HEADER_VERSION: u8 = 0x02;
/// Bytes of a group message header: version, distribution id (16), iteration (4).
pub const SENDER_KEY_HEADER_LEN: usize = 21;
/// Bytes of a sender-key distribution id (random, names one sending chain).
pub const DISTRIBUTION_ID_LEN: usize = 16;
/// Most bytes of a group id (it is written after a one-byte length in the `aad`).
pub const MAX_GROUP_ID_LEN: usize = 255;

// ---- Accounts and safety numbers ---------------------------------------------------------

/// Version of the safety number hash chain: `h_0` starts with `u16be(SAFETY_NUMBER_VERSION)`.
pub const SAFETY_NUMBER_VERSION: u16 = 0;
/// Label in `h_0` of the safety number hash chain; separates it from any other SHA-512 of an
/// account key.
pub const SAFETY_NUMBER_LABEL: &[u8] = b"keylink v1 safety number";
/// SHA-512 iterations after `h_0` (`F = h_5200[0..32]`): slows down a search for a second
/// account key with the same safety number.
pub const SAFETY_NUMBER_ITERATIONS: u32 = 5200;
/// Digits of one party's half of a safety number (6 groups of 5); the shown number is two
/// halves, 60 digits.
pub const SAFETY_NUMBER_PARTY_DIGITS: usize = 30;
/// First byte of a safety number QR payload (`0x01 || F_own || F_peer`): its format version.
pub const SAFETY_QR_VERSION: u8 = 0x01;
/// Bytes of a safety number QR payload: the version byte and two 32-byte fingerprints.
pub const SAFETY_QR_LEN: usize = 65;

// ---- Linking a device ---------------------------------------------------------------------

/// Symbols of a typed linking code: 7 random data symbols and 1 check symbol (Crockford base32,
/// [`CODE_ALPHABET`]).
pub const LINK_CODE_LEN: usize = 8;
/// Data symbols of a typed linking code (35 random bits); their canonical upper-case ASCII is
/// CPace's `PRS`.
pub const LINK_CODE_DATA: usize = 7;
/// CPace channel identifier `CI` of the typed-code flow; separates keylink's CPace runs from any
/// other application's with the same code.
pub const LINK_CPACE_CI: &[u8] = b"keylink v1 link code";
/// Bytes of the CPace session id `sid`, which the new companion draws and sends with `Ya`.
pub const LINK_CPACE_SID_LEN: usize = 16;
/// HKDF info deriving the link secret `LS` from CPace's `ISK`; separates `LS` from any other
/// use of the `ISK`.
pub const LINK_CODE_SECRET_INFO: &[u8] = b"keylink v1 link code secret";
/// CPace's domain-separation identifier `G.DSI` for ristretto255 (draft-irtf-cfrg-cpace): the
/// first field of the generator string.
pub const CPACE_DSI: &[u8] = b"CPaceRistretto255";
/// CPace's `G.DSI || "_ISK"`: the first field of the `ISK` hash input; separates it from the
/// generator string.
pub const CPACE_ISK_DSI: &[u8] = b"CPaceRistretto255_ISK";
/// SHA-512's input block size `H.s_in_bytes`: the generator string's `DSI`, `PRS` and zero
/// padding fill at least this many bytes (the first hash block).
pub const CPACE_HASH_BLOCK: usize = 128;
/// First byte of a linking QR payload (`0x01 || LS || E_C.public`): its format version.
pub const LINK_QR_VERSION: u8 = 0x01;
/// Bytes of a linking QR payload: the version byte, `LS` (32) and `E_C.public` (32).
pub const LINK_QR_LEN: usize = 65;
/// Failed runs a linking code survives: at the third failure it is dead on that side, and
/// the new companion shows a new code (PROTOCOL.md §12.3).
pub const LINK_CODE_ATTEMPTS: u8 = 3;
/// `flow` byte of the link transcript for a scanned QR code.
pub const LINK_FLOW_QR: u8 = 0x01;
/// `flow` byte of the link transcript for a typed code (CPace).
pub const LINK_FLOW_CODE: u8 = 0x02;
/// SHA-256 prefix of the link transcript hash `th`; separates it from every other hash.
pub const LINK_TRANSCRIPT_LABEL: &[u8] = b"keylink v1 link transcript";
/// HKDF info prefix (followed by `th`) deriving `k_pc || k_cp || conf_p || conf_c` from the
/// link secret, the X25519 output and the ML-KEM shared secret.
pub const LINK_KEYS_INFO: &[u8] = b"keylink v1 link";
/// Bytes of the link key schedule's output: four 32-byte keys.
pub const LINK_KEYS_LEN: usize = 128;
/// Payload type of the primary's account payload (in the AEAD's associated data).
pub const LINK_PAYLOAD_ACCOUNT: u8 = 0x01;
/// Payload type of the companion's device signature (in the AEAD's associated data).
pub const LINK_PAYLOAD_DEVICE: u8 = 0x02;

// ---- Storage at rest ----------------------------------------------------------------------

/// HKDF info deriving the key that seals stored values from the app's storage key.
pub const STORAGE_SEAL_INFO: &[u8] = b"keylink v1 storage seal";
/// HKDF info deriving the key of the keyed hashes that replace contact names in row keys.
pub const STORAGE_NAME_INFO: &[u8] = b"keylink v1 storage name";
/// HKDF info deriving the key check value a store keeps to recognize its storage key.
pub const STORAGE_CHECK_INFO: &[u8] = b"keylink v1 storage check";
/// HKDF info prefix (followed by the row binding) deriving the one-time key of one sealed
/// value.
pub const STORAGE_ROW_INFO: &[u8] = b"keylink v1 storage row";
/// Leading byte of a sealed value (its format version).
pub const SEALED_VALUE_VERSION: u8 = 0x01;

// ---- Backups ------------------------------------------------------------------------------

/// HKDF info deriving the `BackupKey` from recovery-key entropy.
pub const BACKUP_KEY_INFO: &[u8] = b"keylink v1 backup key";
/// HKDF info prefix (followed by the account id) deriving the 16-byte `BackupId`.
pub const BACKUP_ID_INFO: &[u8] = b"keylink v1 backup id";
/// HKDF info deriving the chunked-encryption input key of backup files from the `BackupKey`.
pub const BACKUP_FILE_INFO: &[u8] = b"keylink v1 backup file";
/// HKDF info prefix (followed by the application's label) deriving extra application keys
/// from the `BackupKey`; separates them from the three backup derivations above.
pub const BACKUP_APP_KEY_INFO: &[u8] = b"keylink v1 app key ";
/// AES-256-GCM associated-data prefix of the password envelope (followed by the envelope's
/// header bytes); separates the envelope's seal from any other use of a password-derived key.
pub const BACKUP_ENVELOPE_AAD: &[u8] = b"keylink v1 backup password";

/// HKDF info deriving the chunked-encryption input key of a link's history file from the
/// history key the primary sends the companion; separates it from the `BackupKey`'s file key.
pub const HISTORY_FILE_INFO: &[u8] = b"keylink v1 history";
/// HKDF info prefix (followed by the 32-byte link transcript hash `th`) deriving the 16-byte id
/// in a history file's header, which ties the file to one link.
pub const HISTORY_ID_INFO: &[u8] = b"keylink v1 history id";

/// Magic bytes opening every backup file; separates backup files from any other file.
pub const BACKUP_FILE_MAGIC: [u8; 8] = *b"KLBACKUP";
/// Format version byte of a backup file, after the magic.
pub const BACKUP_FILE_VERSION: u8 = 0x01;
/// Magic bytes opening a password envelope; separates envelopes from backup files.
pub const BACKUP_ENVELOPE_MAGIC: [u8; 8] = *b"KLBKPASS";
/// Format version byte of a password envelope (Argon2id v0x13 + AES-256-GCM).
pub const BACKUP_ENVELOPE_VERSION: u8 = 0x01;

/// C2SP chunked-encryption HKDF-Expand info prefix; the AEAD name, a zero byte, the salt and
/// the context follow it.
pub const CHUNKED_INFO_PREFIX: &[u8] = b"c2sp.org/chunked-encryption@v1+";
/// IANA name of the AEAD of Cobblestone-256, written into the chunked-encryption info.
pub const CHUNKED_AEAD_NAME: &[u8] = b"AEAD_AES_256_GCM";
/// Plaintext bytes in every chunk but the last (which is shorter, possibly empty).
pub const CHUNK_SIZE: usize = 16 * 1024;
/// Bytes of random salt that open a chunked-encryption message.
pub const CHUNKED_SALT_LEN: usize = 24;
/// Bytes of key commitment that follow the salt.
pub const CHUNKED_COMMITMENT_LEN: usize = 32;
/// Chunks a message may have at most (2^38, the spec's limit); the counter aborts there.
pub const MAX_CHUNKS: u64 = 1 << 38;

/// Recovery-code alphabet: Crockford base32 (no I, L, O, U); symbol value = index.
pub const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Bytes of entropy behind a recovery code (256 bits).
pub const CODE_ENTROPY_LEN: usize = 32;
/// Data symbols in each group of the recovery code.
pub const CODE_GROUP_DATA: usize = 4;
/// Symbols in each group: the data symbols followed by one check symbol.
pub const CODE_GROUP_LEN: usize = CODE_GROUP_DATA + 1;
/// Groups in a recovery code: 13 x 4 data symbols = 260 bits, the last 4 of them zero.
pub const CODE_GROUPS: usize = 13;

/// Argon2id memory cost of a new password envelope, in KiB (RFC 9106, second option: 64 MiB).
pub const ARGON2_DEFAULT_M_COST_KIB: u32 = 64 * 1024;
/// Argon2id passes of a new password envelope (RFC 9106, second option).
pub const ARGON2_DEFAULT_T_COST: u32 = 3;
/// Argon2id lanes of a new password envelope (RFC 9106, second option).
pub const ARGON2_DEFAULT_P_COST: u32 = 4;
/// Most Argon2id memory an envelope may ask for, in KiB (4 GiB): bounds the allocation that
/// bytes read from disk can cause.
pub const ARGON2_MAX_M_COST_KIB: u32 = 4 * 1024 * 1024;
/// Most Argon2id passes an envelope may ask for: bounds the time a read envelope can cost.
pub const ARGON2_MAX_T_COST: u32 = 64;
/// Most Argon2id lanes an envelope may ask for.
pub const ARGON2_MAX_P_COST: u32 = 64;
/// Bytes of Argon2id salt in a password envelope (RFC 9106's 128 bits).
pub const ARGON2_SALT_LEN: usize = 16;
/// Most Argon2id memory, in KiB (256 MiB), opening an envelope spends unless the caller allows
/// more: what a phone can give one app without killing it (`Argon2Limits::DEFAULT`).
pub const ARGON2_LIMIT_M_COST_KIB: u32 = 256 * 1024;
/// Most Argon2id passes opening an envelope spends unless the caller allows more.
pub const ARGON2_LIMIT_T_COST: u32 = 8;
/// Most Argon2id lanes opening an envelope spends unless the caller allows more.
pub const ARGON2_LIMIT_P_COST: u32 = 8;
