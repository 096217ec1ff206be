//! The prekey rows of a [`SqliteStore`](super::SqliteStore): sealed inserts, the deletions
//! prekey upkeep commits, and the id listings an app uses to see what is kept.

use rusqlite::{Connection, params};

use super::{StoreResult, seal_value};
use crate::keys::{
    KemPreKey, KemPreKeyId, OneTimePreKey, OneTimePreKeyId, SignedPreKey, SignedPreKeyId,
};
use crate::store::at_rest::Sealer;

/// Keep `key` (replacing a key under its id).
pub(super) fn insert_signed(
    conn: &Connection,
    sealer: &Sealer,
    key: &SignedPreKey,
) -> StoreResult<()> {
    let id = key.id().get();
    let value = seal_value(sealer, "signed_prekeys", &id.to_be_bytes(), &key.to_bytes())?;
    conn.prepare_cached("INSERT OR REPLACE INTO signed_prekeys (id, value) VALUES (?1, ?2)")?
        .execute(params![id, value])?;
    Ok(())
}

/// Keep `keys` (replacing keys under their ids).
pub(super) fn insert_one_time(
    conn: &Connection,
    sealer: &Sealer,
    keys: &[OneTimePreKey],
) -> StoreResult<()> {
    let mut insert =
        conn.prepare_cached("INSERT OR REPLACE INTO one_time_prekeys (id, value) VALUES (?1, ?2)")?;
    for key in keys {
        let id = key.id().get();
        let value = seal_value(
            sealer,
            "one_time_prekeys",
            &id.to_be_bytes(),
            &key.to_bytes(),
        )?;
        insert.execute(params![id, value])?;
    }
    Ok(())
}

/// Keep `keys`, one-time or last-resort (replacing keys under their ids).
pub(super) fn insert_kem(
    conn: &Connection,
    sealer: &Sealer,
    keys: &[KemPreKey],
) -> StoreResult<()> {
    let mut insert = conn.prepare_cached(
        "INSERT OR REPLACE INTO kem_prekeys (id, last_resort, value) VALUES (?1, ?2, ?3)",
    )?;
    for key in keys {
        let id = key.id().get();
        let value = seal_value(sealer, "kem_prekeys", &id.to_be_bytes(), &key.to_bytes())?;
        insert.execute(params![id, key.is_last_resort(), value])?;
    }
    Ok(())
}

/// Delete a signed prekey and the base keys used with it.
pub(super) fn remove_signed(conn: &Connection, id: SignedPreKeyId) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM signed_prekeys WHERE id = ?1")?
        .execute([id.get()])?;
    conn.prepare_cached("DELETE FROM used_base_keys WHERE signed_prekey = ?1")?
        .execute([id.get()])?;
    Ok(())
}

/// Delete a last-resort KEM prekey (never a one-time one).
pub(super) fn remove_last_resort(conn: &Connection, id: KemPreKeyId) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM kem_prekeys WHERE id = ?1 AND last_resort = 1")?
        .execute([id.get()])?;
    Ok(())
}

/// Delete the one-time prekeys below `one_time` and the one-time KEM prekeys below `kem`.
pub(super) fn remove_below(
    conn: &Connection,
    one_time: OneTimePreKeyId,
    kem: KemPreKeyId,
) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM one_time_prekeys WHERE id < ?1")?
        .execute([one_time.get()])?;
    conn.prepare_cached("DELETE FROM kem_prekeys WHERE id < ?1 AND last_resort = 0")?
        .execute([kem.get()])?;
    Ok(())
}

/// The ids `sql` selects, in ascending order.
pub(super) fn ids<T: From<u32>>(conn: &Connection, sql: &str) -> StoreResult<Vec<T>> {
    let mut select = conn.prepare_cached(sql)?;
    let ids = select.query_map([], |r| r.get::<_, u32>(0))?;
    Ok(ids.map(|id| id.map(T::from)).collect::<Result<_, _>>()?)
}
