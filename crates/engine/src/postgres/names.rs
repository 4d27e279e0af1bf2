//! The names of the databases a refresh makes beside the target, on its server:
//! `<target>__dataalm_<op>` for the staging copy and `<target>__dataalm_<op>_prev`
//! for the old target kept until sign-off. PostgreSQL truncates names at 63 bytes,
//! which would make two names collide, so longer ones are refused up front.

use super::conn::PgUrl;
use crate::{Error, Result};

/// PostgreSQL's NAMEDATALEN - 1.
const MAX_NAME: usize = 63;
const PREVIOUS_SUFFIX: &str = "_prev";
/// What an operation id adds (`op-20261126-011500-ab12`), to check lengths early.
const OP_ID_LEN: usize = 23;

pub fn staging(target: &str, op_id: &str) -> String {
    format!("{target}__dataalm_{op_id}")
}

pub fn previous(target: &str, op_id: &str) -> String {
    format!("{}{PREVIOUS_SUFFIX}", staging(target, op_id))
}

/// The free name a rolled-back copy takes on its way out: the staging name again.
pub fn discarded(previous: &str) -> String {
    previous
        .strip_suffix(PREVIOUS_SUFFIX)
        .map_or_else(|| format!("{previous}_rolledback"), str::to_owned)
}

/// The target a staging or previous name belongs to.
pub fn origin(name: &str) -> Option<&str> {
    name.rfind("__dataalm_op-").map(|i| &name[..i])
}

pub(crate) fn check_lengths(target: &PgUrl) -> Result<()> {
    let longest = previous(target.dbname(), &"x".repeat(OP_ID_LEN));
    if longest.len() > MAX_NAME {
        return Err(Error::Other(format!(
            "the target database name `{}` is too long: the previous copy's name \
             (`{longest}`) would pass PostgreSQL's {MAX_NAME}-byte limit; names up to {} \
             bytes work",
            target.dbname(),
            MAX_NAME - (longest.len() - target.dbname().len())
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_derive_from_target_and_operation() {
        let op = "op-20261126-011500-ab12";
        assert_eq!(staging("erp", op), "erp__dataalm_op-20261126-011500-ab12");
        assert_eq!(discarded(&previous("erp", op)), staging("erp", op));
        assert!(previous("erp", op).len() <= MAX_NAME);
        assert_eq!(origin(&previous("erp", op)), Some("erp"));
        assert_eq!(origin("erp"), None);
    }
}
