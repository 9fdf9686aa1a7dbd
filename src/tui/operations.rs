//! What each operation of the console does: one call (or a few) into `crate::ops`, and the
//! answer as an [`Outcome`]. Run on tokio by the runtime; knows nothing of the terminal.

use super::action::{EnvSwitch, KeyRequest, Op, Outcome, Overview, RotationOverview};
use crate::config::{Config, EnvConfig};
use crate::error::{Error, Result};
use crate::ops::{self, CaInitOptions, Ctx, IssueOptions, KeyChoice, ReissueOptions, StatusFilter};
use crate::pki::Subject;
use crate::store::StoreError;

/// Rotations started from the console: a 7-day grace, same keys, and for client renewal the
/// clients due within the environment's expiring window.
fn rotation_options(ctx: &Ctx, kind: ops::RotationKind) -> ops::RotationOptions {
    ops::RotationOptions {
        selection: if kind == ops::RotationKind::Clients {
            ops::ClientSelection::DueWithinDays(ctx.env.expiring_days)
        } else {
            ops::ClientSelection::All
        },
        ..ops::RotationOptions::default()
    }
}

fn is_not_found(e: &Error) -> bool {
    matches!(
        e,
        Error::NotFound(_) | Error::Store(StoreError::NotFound(_))
    )
}

/// One operation against the environment. Returns the new context for a switch.
pub async fn run_op(
    ctx: &Ctx,
    config: &Config,
    op: Op,
    progress: ops::Progress,
) -> Result<(Outcome, Option<Ctx>), String> {
    let msg = |e: Error| e.to_string();
    let outcome = match op {
        Op::LoadRoster => Outcome::Roster {
            records: ops::list(ctx, StatusFilter::All).await.map_err(msg)?,
            now: ctx.now(),
        },
        Op::Overview => {
            let (ca, published, built) = tokio::join!(
                ops::ca_show(ctx),
                ops::truststore_show(ctx),
                ops::truststore_build(ctx)
            );
            Outcome::Overview(Box::new(Overview {
                ca: match ca {
                    Ok(ca) => Ok(Some(ca)),
                    Err(e) if is_not_found(&e) => Ok(None),
                    Err(e) => Err(e.to_string()),
                },
                published: published.map_err(msg),
                built: built.map_err(msg),
            }))
        }
        Op::Detail(id) => Outcome::Detail(Box::new(ops::show(ctx, &id).await.map_err(msg)?)),
        Op::Issue(req) => {
            let key = match req.key {
                KeyRequest::Generate(k) => KeyChoice::Generate(k),
                KeyRequest::CsrFile(path) => KeyChoice::Csr(
                    tokio::fs::read_to_string(&path)
                        .await
                        .map_err(|e| format!("cannot read the CSR file {}: {e}", path.display()))?,
                ),
            };
            let opts = IssueOptions {
                client: req.name,
                cn: req.cn,
                days: Some(req.days),
                key: Some(key),
            };
            let out = ops::issue(ctx, &opts).await.map_err(msg)?;
            Outcome::Issued {
                record: Box::new(out.record),
                info: Box::new(out.info),
            }
        }
        Op::Revoke {
            client_id,
            reason,
            note,
        } => {
            let out = ops::revoke(
                ctx,
                &client_id,
                reason,
                note.as_deref(),
                ops::RevokeScope::All,
            )
            .await
            .map_err(msg)?;
            let takes_effect = out.takes_effect.summary;
            let current = out
                .revoked
                .into_iter()
                .max_by_key(|r| r.issued_at)
                .ok_or_else(|| format!("nothing of {client_id} was revoked"))?;
            Outcome::Revoked {
                record: Box::new(current),
                takes_effect,
            }
        }
        Op::Reissue {
            client_id,
            rekey,
            grace,
        } => {
            let opts = ReissueOptions {
                rekey,
                grace,
                days: None,
                key_algorithm: None,
            };
            let out = ops::reissue(ctx, &client_id, &opts).await.map_err(msg)?;
            Outcome::Reissued {
                old: Box::new(out.old),
                new: Box::new(out.new.record),
            }
        }
        Op::Export {
            client_id,
            dir,
            passphrase,
        } => Outcome::Exported(
            ops::export(
                ctx,
                &client_id,
                &dir,
                passphrase.as_ref().map(|p| p.as_str()),
                false,
            )
            .await
            .map_err(msg)?,
        ),
        Op::TruststoreHistory => {
            Outcome::TruststoreHistory(ops::truststore_history(ctx).await.map_err(msg)?)
        }
        Op::Publish => Outcome::Published(
            ops::truststore_publish(ctx, false)
                .await
                .map_err(msg)?
                .version,
        ),
        Op::Rollback(v) => Outcome::RolledBack(
            ops::truststore_rollback(ctx, &v, false)
                .await
                .map_err(msg)?
                .version,
        ),
        Op::Audit(limit) => Outcome::Audit(ops::audit(ctx, limit).await.map_err(msg)?),
        Op::BootstrapCa => {
            // ops names the root and intermediate after the project and environment.
            let opts = CaInitOptions::with_defaults(Subject {
                o: Some(ctx.env.project.clone()),
                ..Subject::default()
            });
            Outcome::CaCreated(Box::new(ops::ca_init(ctx, &opts).await.map_err(msg)?))
        }
        Op::Demo => Outcome::Demo(ops::demo(ctx).await.map_err(msg)?),
        Op::RotationOverview => {
            let journal = ops::rotation_status(ctx).await.map_err(msg)?;
            let plan = match journal.as_ref().filter(|j| !j.phase.is_terminal()) {
                Some(j) => {
                    ops::rotation_plan(ctx, j.kind, &rotation_options(ctx, j.kind), true).await
                }
                None => {
                    let kind = ops::RotationKind::Intermediate;
                    ops::rotation_plan(ctx, kind, &rotation_options(ctx, kind), false).await
                }
            };
            Outcome::Rotation(Box::new(RotationOverview {
                journal,
                plan: plan.map_err(msg),
            }))
        }
        Op::RotationStep { kind, start } => {
            let mut opts = rotation_options(ctx, kind);
            opts.progress = Some(progress);
            // One phase per confirmation: stop once the next phase is reached.
            opts.stop_after = if start {
                Some(if kind == ops::RotationKind::Clients {
                    ops::RotationPhase::Moved
                } else {
                    ops::RotationPhase::Prepared
                })
            } else {
                ops::rotation_status(ctx)
                    .await
                    .map_err(msg)?
                    .and_then(|j| j.next_step())
            };
            Outcome::RotationRan(Box::new(
                ops::rotation_run(ctx, kind, &opts, !start)
                    .await
                    .map_err(msg)?,
            ))
        }
        Op::RotationAbort => {
            Outcome::RotationRan(Box::new(ops::rotation_abort(ctx).await.map_err(msg)?))
        }
        Op::SwitchEnv(_) => return run_switch(Some(ctx), config, op).await,
    };
    Ok((outcome, None))
}

/// Opens the environment of `Op::SwitchEnv` (from `from`, the environment open now, if any).
pub async fn run_switch(
    from: Option<&Ctx>,
    config: &Config,
    op: Op,
) -> Result<(Outcome, Option<Ctx>), String> {
    let Op::SwitchEnv(name) = op else {
        return Err("internal error: not an environment switch".into());
    };
    let msg = |e: Error| e.to_string();
    let env = config.env_or_embedded(Some(&name), false).map_err(msg)?;
    let mut new = Ctx::open(env.clone()).await.map_err(msg)?;
    // A fixed clock (tests, demos) carries over to the new environment.
    new.clock = from.and_then(|ctx| ctx.clock);
    Ok(switched(env, new))
}

/// The answer of an operation that opened `env` as `new`: the console reloads from it.
pub fn switched(env: EnvConfig, new: Ctx) -> (Outcome, Option<Ctx>) {
    let switch = EnvSwitch {
        env,
        description: new.backend.description.clone(),
        operator: new.backend.operator.clone(),
        now: new.now(),
    };
    (Outcome::EnvSwitched(Box::new(switch)), Some(new))
}
