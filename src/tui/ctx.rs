//! The state every view and dialog shares ([`Ctx`]), and the small types it is made of.

use std::collections::HashSet;

use time::OffsetDateTime;

use super::action::{Effect, Op, Overview, TaskId};
use crate::config::EnvConfig;
use crate::ops::{BundleView, CaSummary};

/// Something loaded by an operation.
#[derive(Debug, Clone, Default)]
pub enum Load<T> {
    #[default]
    Idle,
    Loading,
    Ready(T),
    Failed(String),
}

impl<T> Load<T> {
    pub fn ready(&self) -> Option<&T> {
        match self {
            Load::Ready(t) => Some(t),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    Info,
    Warn,
    Error,
}

/// The status line: the outcome of the last thing done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub kind: StatusKind,
    pub text: String,
}

/// An operation in flight.
#[derive(Debug, Clone)]
pub struct Task {
    pub id: TaskId,
    pub op: Op,
    /// [`App::tick`] when it started.
    pub started: u64,
    /// (done, total) when the operation reports it.
    pub progress: Option<(usize, usize)>,
}

/// How the header describes the CA and the truststore.
#[derive(Debug, Clone, Default)]
pub struct Header {
    pub ca: Load<Option<CaSummary>>,
    pub published: Load<Option<BundleView>>,
    pub built: Load<BundleView>,
}

impl Header {
    pub fn apply(&mut self, o: Overview) {
        self.ca = o.ca.map_or_else(Load::Failed, Load::Ready);
        self.published = o.published.map_or_else(Load::Failed, Load::Ready);
        self.built = o.built.map_or_else(Load::Failed, Load::Ready);
    }

    /// Does the published truststore hold exactly the CA certificates the CA implies?
    /// None until both are known or when nothing is published.
    pub fn truststore_matches(&self) -> Option<TruststoreMatch> {
        let published = self.published.ready()?.as_ref()?;
        let built = self.built.ready()?;
        let have: HashSet<&str> = published
            .certs
            .iter()
            .map(|c| c.fingerprint_sha256.as_str())
            .collect();
        let want: HashSet<&str> = built
            .certs
            .iter()
            .map(|c| c.fingerprint_sha256.as_str())
            .collect();
        Some(TruststoreMatch {
            missing: want.difference(&have).count(),
            extra: have.difference(&want).count(),
        })
    }
}

/// How the published truststore differs from the one the CA implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TruststoreMatch {
    /// CA certs that a publish would add.
    pub missing: usize,
    /// Published certs that the CA does not imply.
    pub extra: usize,
}

impl TruststoreMatch {
    pub fn matches(&self) -> bool {
        self.missing == 0 && self.extra == 0
    }
}

/// What every view and dialog may read and change besides its own state: the environment,
/// the session, the screen size, the header, the status line and the operations in flight.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub env: EnvConfig,
    pub env_names: Vec<String>,
    pub backend: String,
    pub operator: String,
    pub now: OffsetDateTime,
    /// Set on the command line; survives switching environments.
    pub read_only_flag: bool,
    pub read_only: bool,
    pub width: u16,
    pub height: u16,
    pub header: Header,
    /// Typing into the current view's filter.
    pub filtering: bool,
    /// A failure to show in full until dismissed.
    pub error: Option<String>,
    pub status: Option<Status>,
    pub tasks: Vec<Task>,
    pub next_task: TaskId,
    /// Counts [`Action::Tick`](super::action::Action::Tick)s: tenths of a second of work.
    pub tick: u64,
}

impl Ctx {
    pub fn info(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            kind: StatusKind::Info,
            text: text.into(),
        });
    }

    pub fn warn(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            kind: StatusKind::Warn,
            text: text.into(),
        });
    }

    /// A failure: on the status line and in a popup until dismissed.
    pub fn fail(&mut self, text: impl Into<String>) {
        let text = text.into();
        self.status = Some(Status {
            kind: StatusKind::Error,
            text: text.clone(),
        });
        self.error = Some(text);
    }

    /// Refuses a change in read-only mode; true when refused.
    pub fn refuse_read_only(&mut self, what: &str) -> bool {
        if self.read_only {
            let why = if self.read_only_flag {
                "started with --read-only"
            } else {
                "the environment is configured read_only"
            };
            self.warn(format!("read-only: {what} is disabled ({why})"));
        }
        self.read_only
    }

    /// Registers a task and asks the runtime to run it; a load of the same kind in flight is
    /// abandoned.
    pub fn start(&mut self, op: Op) -> Vec<Effect> {
        let mut fx = Vec::new();
        self.tasks.retain(|t| {
            if t.op.same_load(&op) {
                fx.push(Effect::Abort(t.id));
                false
            } else {
                true
            }
        });
        let task = self.next_task;
        self.next_task += 1;
        self.tasks.push(Task {
            id: task,
            op: op.clone(),
            started: self.tick,
            progress: None,
        });
        fx.push(Effect::Run { task, op });
        fx
    }

    pub fn busy(&self) -> bool {
        !self.tasks.is_empty()
    }

    /// The environment's "expiring" window, in days.
    pub fn warn_within(&self) -> i64 {
        i64::from(self.env.expiring_days)
    }
}
