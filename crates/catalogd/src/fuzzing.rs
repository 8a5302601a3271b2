//! Entry points for the fuzz targets (`fuzz/` at the repository root): the commit rules,
//! which are pure, without a store. Not an API: hidden from the docs.

use chrono::{DateTime, Utc};

use crate::commit::{self, Plan};
use crate::error::CatalogError;
use crate::manifest::{Commit, Manifest};

/// What a commit would do: `Ok(None)` answers the current manifest unchanged,
/// `Ok(Some((manifest, garbage)))` writes `manifest` and then deletes `garbage`.
pub fn plan_commit(
    current: Option<&Manifest>,
    commit: Commit,
    keep_versions: u32,
    now: DateTime<Utc>,
) -> Result<Option<(Manifest, Vec<String>)>, CatalogError> {
    let commit = commit::checked(commit)?;
    Ok(match commit::plan(current, &commit, keep_versions, now)? {
        Plan::Existing => None,
        Plan::Write { manifest, garbage } => Some((*manifest, garbage)),
    })
}
