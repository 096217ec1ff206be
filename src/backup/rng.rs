//! Randomness from the operating system's generator (salts, nonces, recovery-code entropy).

use rand_core::TryRng;

use super::error::BackupError;

/// `N` bytes from the operating system; [`BackupError::Random`] if it fails.
pub(crate) fn random<const N: usize>() -> Result<[u8; N], BackupError> {
    let mut out = [0u8; N];
    getrandom::SysRng
        .try_fill_bytes(&mut out)
        .map_err(|_| BackupError::Random)?;
    Ok(out)
}
