//! The interactive console (ratatui): state + update (pure), draw (reads state), event plumbing.

pub async fn run(
    _config: crate::config::Config,
    _env: crate::config::EnvConfig,
    _ctx: crate::ops::Ctx,
    _read_only: bool,
) -> crate::error::Result<()> {
    todo!()
}
