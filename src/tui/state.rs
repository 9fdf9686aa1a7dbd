//! Everything the console shows, and nothing else: no I/O handles, no clock. `update` is the
//! only mutator and `draw` only reads it. What every view and dialog shares is in [`Ctx`];
//! each view's and dialog's own state is in its module.

use time::OffsetDateTime;

use super::ctx::{Ctx, Header, Load};
use super::dialogs::Dialog;
use super::views::View;
use super::views::audit::AuditView;
use super::views::detail::DetailView;
use super::views::roster::RosterView;
use super::views::rotation::RotationView;
use super::views::truststore::TruststoreView;
use crate::config::EnvConfig;
use crate::model::CertRecord;

/// What `App::new` needs to know about the environment and the session.
#[derive(Debug, Clone)]
pub struct AppInit {
    pub env: EnvConfig,
    pub env_names: Vec<String>,
    pub backend: String,
    pub operator: String,
    pub now: OffsetDateTime,
    /// From the command line; the environment's own `read_only` is added to it.
    pub read_only: bool,
}

#[derive(Debug, Clone)]
pub struct App {
    pub ctx: Ctx,
    pub view: View,
    pub roster: RosterView,
    pub detail: Option<DetailView>,
    pub truststore: TruststoreView,
    pub audit: AuditView,
    pub rotation: RotationView,
    pub dialog: Option<Dialog>,
    pub help: bool,
    pub quit: bool,
}

impl App {
    pub fn new(init: AppInit) -> App {
        let read_only = init.read_only || init.env.read_only;
        App {
            ctx: Ctx {
                env: init.env,
                env_names: init.env_names,
                backend: init.backend,
                operator: init.operator,
                now: init.now,
                read_only_flag: init.read_only,
                read_only,
                width: 80,
                height: 24,
                header: Header::default(),
                filtering: false,
                error: None,
                status: None,
                tasks: Vec::new(),
                next_task: 1,
                tick: 0,
            },
            view: View::Roster,
            roster: RosterView::default(),
            detail: None,
            truststore: TruststoreView::default(),
            audit: AuditView::default(),
            rotation: RotationView::default(),
            dialog: None,
            help: false,
            quit: false,
        }
    }

    /// Replaces the roster with freshly listed records (keeps filter, sort and selection).
    pub fn set_roster(&mut self, records: Vec<CertRecord>, now: OffsetDateTime) {
        self.ctx.now = now;
        self.roster.set_records(&self.ctx, records);
    }

    /// The record under the cursor.
    pub fn selected_record(&self) -> Option<&CertRecord> {
        self.roster.selected_record()
    }

    /// The client the r/x/e keys act on: the detail's client in the detail view, else the
    /// selected row.
    pub fn target_record(&self) -> Option<&CertRecord> {
        if self.view == View::Detail
            && let Some(d) = &self.detail
        {
            return self.roster.record_of(&d.client_id);
        }
        self.selected_record()
    }

    /// An empty environment without a CA: offer to bootstrap one or load demo data.
    pub fn onboarding(&self) -> bool {
        self.view == View::Roster
            && matches!(self.roster.load, Load::Ready(()))
            && self.roster.data.is_empty()
            && matches!(self.ctx.header.ca, Load::Ready(None))
    }

    pub fn busy(&self) -> bool {
        self.ctx.busy()
    }
}
