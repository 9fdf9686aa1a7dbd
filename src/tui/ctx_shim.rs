//! Placeholder for `Ctx::open` until the ops implementation lands; remove at merge.

use crate::config::EnvConfig;
use crate::error::Result;
use crate::ops::Ctx;

impl Ctx {
    /// Builds the context of an environment (backend, operator identity, clock).
    pub async fn open(_env: EnvConfig) -> Result<Ctx> {
        todo!()
    }
}
