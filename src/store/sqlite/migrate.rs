//! Forward migrations of a [`SqliteStore`](super::SqliteStore) file (PROTOCOL.md §8.2): a
//! file of an earlier schema is brought to [`SCHEMA_VERSION`] when it is opened, after its
//! storage key was checked, in one transaction: a migration interrupted at any point (an
//! error, a crash, a power cut) leaves the file at its old schema, to be migrated at the next
//! open.

use rusqlite::{Connection, TransactionBehavior, params};
use zeroize::Zeroizing;

use super::{
    APPLICATION_ID, RowRef, SCHEMA_VERSION, SqliteStoreError, StoreResult, TABLES_2, TABLES_3,
    TABLES_4,
};
use crate::session::{SessionId, SkippedKeyId};
use crate::store::at_rest::{Row, Sealer};

/// One step: what turns the tables of a file of schema `from` into those of schema
/// `from + 1`, run inside the migration's transaction. The values are sealed again once,
/// after the last step, from the file's schema to the current one.
struct Step {
    from: u32,
    run: fn(&Connection) -> StoreResult<()>,
}

/// Every step, oldest first. A later schema appends the step from the one before it, so a
/// file of any earlier schema runs every step from its own on.
const STEPS: [Step; 3] = [
    Step {
        from: 1,
        run: one_to_two,
    },
    Step {
        from: 2,
        run: two_to_three,
    },
    Step {
        from: 3,
        run: three_to_four,
    },
];

/// Schema 1 to 2: the `peer_accounts` and `prekey_state` tables.
fn one_to_two(conn: &Connection) -> StoreResult<()> {
    Ok(conn.execute_batch(TABLES_2)?)
}

/// Schema 2 to 3: the `device_lists` table.
fn two_to_three(conn: &Connection) -> StoreResult<()> {
    Ok(conn.execute_batch(TABLES_3)?)
}

/// Schema 3 to 4: the `local_account` table.
fn three_to_four(conn: &Connection) -> StoreResult<()> {
    Ok(conn.execute_batch(TABLES_4)?)
}

/// Bring the file of `conn` from its schema to [`SCHEMA_VERSION`], and give it keylink's
/// application id (a schema-1 file may lack it), in one `BEGIN IMMEDIATE` transaction. Call
/// it only once the storage key was checked.
pub(super) fn to_current(conn: &mut Connection, sealer: &Sealer) -> StoreResult<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Read again under the write lock: another connection may have migrated the file since.
    let version: u32 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    match version {
        0 => return Err(SqliteStoreError::NotKeylink),
        SCHEMA_VERSION => return Ok(()), // nothing left to do; the transaction rolls back
        found if found > SCHEMA_VERSION => {
            return Err(SqliteStoreError::NewerSchema {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        _ => {}
    }
    for step in STEPS.iter().filter(|step| step.from >= version) {
        (step.run)(&tx)?;
    }
    reseal(&tx, sealer, version, SCHEMA_VERSION)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.commit()?;
    Ok(())
}

/// The tables of sealed values, each with the schema that added it and the query that reads
/// its rows: rowid, sealed value, then the columns its row key is made of.
const SEALED: [(&str, u32, &str); 12] = [
    ("identity", 1, "SELECT rowid, value FROM identity"),
    ("peers", 1, "SELECT rowid, value, address FROM peers"),
    (
        "signed_prekeys",
        1,
        "SELECT rowid, value, id FROM signed_prekeys",
    ),
    (
        "one_time_prekeys",
        1,
        "SELECT rowid, value, id FROM one_time_prekeys",
    ),
    ("kem_prekeys", 1, "SELECT rowid, value, id FROM kem_prekeys"),
    (
        "session_index",
        1,
        "SELECT rowid, value, address FROM session_index",
    ),
    (
        "sessions",
        1,
        "SELECT rowid, value, address, session FROM sessions",
    ),
    (
        "skipped_keys",
        1,
        "SELECT rowid, value, address, session, chain, counter FROM skipped_keys",
    ),
    (
        "peer_accounts",
        2,
        "SELECT rowid, value, phone FROM peer_accounts",
    ),
    ("prekey_state", 2, "SELECT rowid, value FROM prekey_state"),
    (
        "device_lists",
        3,
        "SELECT rowid, value, phone FROM device_lists",
    ),
    ("local_account", 4, "SELECT rowid, value FROM local_account"),
];

/// Seal every value of a schema-`from` file again for schema `to`: a sealed value is bound
/// to the schema version (PROTOCOL.md §8.1), under a fresh salt as every write. Only the
/// tables schema `from` had hold values (those added since are empty). A value that does not
/// open for its row under schema `from` (damaged or moved) is left as it is, and so stays
/// refused when it is read, as it was.
fn reseal(conn: &Connection, sealer: &Sealer, from: u32, to: u32) -> StoreResult<()> {
    let tables = SEALED.iter().filter(|(_, since, _)| *since <= from);
    for (table, _, select) in tables {
        let values = resealed(conn, sealer, table, select, (from, to))?;
        let sql = format!("UPDATE {table} SET value = ?1 WHERE rowid = ?2");
        let mut update = conn.prepare(&sql)?;
        for (rowid, value) in values {
            update.execute(params![value, rowid])?;
        }
    }
    Ok(())
}

/// The rows of `table` that `select` reads, each with its value sealed again.
fn resealed(
    conn: &Connection,
    sealer: &Sealer,
    table: &str,
    select: &str,
    versions: (u32, u32),
) -> StoreResult<Vec<(i64, Vec<u8>)>> {
    let mut statement = conn.prepare(select)?;
    let mut rows = statement.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let rowid: i64 = row.get(0)?;
        let (Some(at), Ok(sealed)) = (row_ref(table, row), row.get_ref(1)?.as_blob()) else {
            continue; // a row keylink never writes: no value of it opens
        };
        if let Some(value) = reseal_value(sealer, &at, sealed, versions)? {
            out.push((rowid, value));
        }
    }
    Ok(out)
}

/// `sealed`, the value of row `at` under schema `from`, sealed for schema `to`; `None` if it
/// does not open.
fn reseal_value(
    sealer: &Sealer,
    at: &RowRef,
    sealed: &[u8],
    (from, to): (u32, u32),
) -> StoreResult<Option<Vec<u8>>> {
    let key = at.key();
    let row = |schema_version| Row {
        table: at.table(),
        row_key: &key,
        schema_version,
    };
    let Ok(value): Result<Zeroizing<Vec<u8>>, _> = sealer.open(&row(from), sealed) else {
        return Ok(None);
    };
    let resealed = sealer.seal(&row(to), &value, &mut crate::os_rng())?;
    Ok(Some(resealed))
}

/// The row of `table` whose row key columns `row` holds (from its third column on); `None`
/// for columns of another size or range than keylink writes.
fn row_ref(table: &str, row: &rusqlite::Row<'_>) -> Option<RowRef> {
    let hash = |i: usize| row.get::<_, [u8; 32]>(i).ok();
    let id = |i: usize| row.get::<_, u32>(i).ok();
    Some(match table {
        "identity" => RowRef::Identity,
        "local_account" => RowRef::LocalAccount,
        "peers" => RowRef::Peer(hash(2)?),
        "peer_accounts" => RowRef::PeerAccount(hash(2)?),
        "prekey_state" => RowRef::PreKeyState,
        "device_lists" => RowRef::DeviceList(hash(2)?),
        "signed_prekeys" => RowRef::SignedPreKey(id(2)?),
        "one_time_prekeys" => RowRef::OneTimePreKey(id(2)?),
        "kem_prekeys" => RowRef::KemPreKey(id(2)?),
        "session_index" => RowRef::SessionIndex(hash(2)?),
        "sessions" => RowRef::Session(hash(2)?, hash(3)?),
        "skipped_keys" => {
            let chain = row.get::<_, i64>(4).ok()?;
            let id = SkippedKeyId {
                session: SessionId::from_bytes(hash(3)?),
                chain: u64::try_from(chain).ok()?,
                counter: id(5)?,
            };
            RowRef::Skipped(hash(2)?, id)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_steps_lead_from_schema_1_to_the_current_one() {
        let froms: Vec<u32> = STEPS.iter().map(|step| step.from).collect();
        let expected: Vec<u32> = (1..SCHEMA_VERSION).collect();
        assert_eq!(froms, expected);
    }

    #[test]
    fn every_sealed_table_of_the_schema_is_resealed() {
        let conn = Connection::open_in_memory().unwrap();
        for tables in super::super::SCHEMA {
            conn.execute_batch(tables).unwrap();
        }
        let mut names: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%value BLOB%' AND name NOT IN ('meta') ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        names.sort();
        let mut sealed: Vec<String> = SEALED.iter().map(|(t, ..)| t.to_string()).collect();
        sealed.sort();
        assert_eq!(names, sealed);
    }
}
