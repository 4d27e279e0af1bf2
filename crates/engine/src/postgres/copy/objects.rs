//! What is copied besides table rows: sequences, large objects (their contents, then
//! owners, grants and comments), and materialized views (refreshed, not copied).

use super::super::ddl::TargetRoles;
use super::End;
use crate::Result;
use dataalm_core::sql::{quote_literal, quote_name};
use std::collections::BTreeSet;
use tokio_postgres::{Client, Row};

/// Large objects travel in pieces of this size.
const LO_PIECE: i32 = 1 << 20;

/// Large objects' owners, grants and comments are read and applied this many at a
/// time, so memory and statement size stay bounded however many there are.
const LO_METADATA_BATCH: i64 = 1000;

/// Sequences are not transactional: their values are read as they are now, which is
/// at or after the snapshot, so no copied row can ever collide with a new number.
pub(super) async fn copy_sequences(
    (source, from): (&Client, &End),
    (staging, to): (&Client, &End),
    sequences: &[String],
) -> Result<()> {
    for sequence in sequences {
        let context = format!("copy sequence {sequence}");
        let row = source
            .query_one(
                &format!("SELECT last_value, is_called FROM {sequence}"),
                &[],
            )
            .await
            .map_err(|e| from.failed(&context, e))?;
        let (value, called): (i64, bool) = (row.get(0), row.get(1));
        let sql = format!(
            "SELECT pg_catalog.setval({}, {value}, {called})",
            quote_literal(sequence)
        );
        to.exec(staging, &sql, &context).await?;
    }
    Ok(())
}

/// Large objects keep their oids (tables refer to them by oid) and travel in pieces,
/// so memory does not grow with their size.
pub(super) async fn copy_large_objects(
    (source, from): (&Client, &End),
    (staging, to): (&Client, &End),
    oids: &[u32],
) -> Result<()> {
    for &oid in oids {
        let context = format!("copy large object {oid}");
        staging
            .execute("SELECT lo_create($1)", &[&oid])
            .await
            .map_err(|e| to.failed(&context, e))?;
        let mut offset: i64 = 0;
        loop {
            let row = source
                .query_one("SELECT lo_get($1, $2, $3)", &[&oid, &offset, &LO_PIECE])
                .await
                .map_err(|e| from.failed(&context, e))?;
            let piece: Vec<u8> = row.get(0);
            if piece.is_empty() {
                break;
            }
            staging
                .execute("SELECT lo_put($1, $2, $3)", &[&oid, &offset, &piece])
                .await
                .map_err(|e| to.failed(&context, e))?;
            offset += piece.len() as i64;
        }
    }
    Ok(())
}

/// Owners, grants and comments of large objects: `pg_dump --schema-only` leaves them
/// out with the contents. Owners and grants, when kept, only for roles the target has
/// (owners: that dataalm's user may act as); the others are returned. Grants are given
/// after the owner, as the owner gives them.
pub(super) async fn copy_large_object_metadata(
    (source, from): (&Client, &End),
    (staging, to): (&Client, &End),
    roles: &TargetRoles,
    keep_owners: bool,
) -> Result<BTreeSet<String>> {
    let mut missing = BTreeSet::new();
    let mut after: u32 = 0;
    loop {
        let rows = source
            .query(LO_METADATA_SQL, &[&after, &LO_METADATA_BATCH])
            .await
            .map_err(|e| from.failed("read the large objects' owners, grants and comments", e))?;
        let Some(last) = rows.last() else {
            return Ok(missing);
        };
        after = last.get(0);
        let mut sql = String::new();
        for row in &rows {
            sql.push_str(&large_object_statements(
                row,
                roles,
                keep_owners,
                &mut missing,
            ));
        }
        to.exec(
            staging,
            &sql,
            "give large objects their owners, grants and comments",
        )
        .await?;
    }
}

/// A page of large objects after `$1`: oid, owner, comment, and the grants to others
/// than the owner as three arrays (grantee, null for PUBLIC; privilege; grantable).
const LO_METADATA_SQL: &str = "
    SELECT m.oid, pg_get_userbyid(m.lomowner)::text,
           obj_description(m.oid, 'pg_largeobject'),
           coalesce(g.grantees, '{}'), coalesce(g.privileges, '{}'),
           coalesce(g.grantable, '{}')
    FROM pg_largeobject_metadata m
    LEFT JOIN LATERAL (
        SELECT array_agg(CASE WHEN a.grantee = 0 THEN NULL
                              ELSE pg_get_userbyid(a.grantee)::text END) AS grantees,
               array_agg(a.privilege_type) AS privileges,
               array_agg(a.is_grantable) AS grantable
        FROM aclexplode(m.lomacl) a
        WHERE a.grantee <> m.lomowner) g ON true
    WHERE m.oid > $1
    ORDER BY m.oid
    LIMIT $2";

/// The statements one large object needs, from a row of [`LO_METADATA_SQL`].
fn large_object_statements(
    row: &Row,
    roles: &TargetRoles,
    keep_owners: bool,
    missing: &mut BTreeSet<String>,
) -> String {
    let (oid, owner, comment): (u32, String, Option<String>) = (row.get(0), row.get(1), row.get(2));
    let mut sql = String::new();
    if let Some(comment) = comment {
        let comment = quote_literal(&comment);
        sql.push_str(&format!("COMMENT ON LARGE OBJECT {oid} IS {comment};\n"));
    }
    if !keep_owners {
        return sql;
    }
    if roles.assumable.contains(&owner) {
        let owner = quote_name(&owner);
        sql.push_str(&format!("ALTER LARGE OBJECT {oid} OWNER TO {owner};\n"));
    } else {
        missing.insert(owner);
    }
    let grants = row.get::<_, Vec<Option<String>>>(3).into_iter().zip(
        row.get::<_, Vec<String>>(4)
            .into_iter()
            .zip(row.get::<_, Vec<bool>>(5)),
    );
    for (grantee, (privilege, grantable)) in grants {
        sql.push_str(&grant(oid, grantee, &privilege, grantable, roles, missing));
    }
    sql
}

/// `GRANT privilege ON LARGE OBJECT oid TO grantee` (PUBLIC for none), or nothing if
/// the target lacks the grantee.
fn grant(
    oid: u32,
    grantee: Option<String>,
    privilege: &str,
    grantable: bool,
    roles: &TargetRoles,
    missing: &mut BTreeSet<String>,
) -> String {
    // Only these two exist for large objects; anything else is not passed on.
    if !matches!(privilege, "SELECT" | "UPDATE") {
        return String::new();
    }
    let grantee = match grantee {
        None => "PUBLIC".to_owned(),
        Some(role) if roles.existing.contains(&role) => quote_name(&role),
        Some(role) => {
            missing.insert(role);
            return String::new();
        }
    };
    let option = if grantable { " WITH GRANT OPTION" } else { "" };
    format!("GRANT {privilege} ON LARGE OBJECT {oid} TO {grantee}{option};\n")
}

/// In creation order, so a view built on another is refreshed after it.
pub(super) async fn refresh_materialized_views(
    staging: &Client,
    to: &End,
    views: &[String],
) -> Result<()> {
    for view in views {
        let sql = format!("REFRESH MATERIALIZED VIEW {view}");
        to.exec(staging, &sql, &format!("refresh {view}")).await?;
    }
    Ok(())
}
