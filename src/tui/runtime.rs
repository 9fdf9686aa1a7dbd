//! The plumbing around the pure core: the terminal (restored on exit and on panic), a thread
//! reading crossterm events, and tokio tasks running the operations. The render loop only
//! waits on a channel, never on the network.

use std::collections::HashMap;
use std::io::{Stdout, stdout};
use std::panic::{AssertUnwindSafe, PanicHookInfo};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossterm::event::Event;
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use futures::FutureExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;

use super::action::{Action, Effect, Op, TaskId};
use super::draw::draw;
use super::keymap::action_for;
use super::operations::{run_op, run_switch, switched};
use super::state::{App, AppInit};
use super::update::update;
use crate::config::{Config, EnvConfig};
use crate::error::{Error, Result};
use crate::ops::{self, Ctx};

tokio::task_local! {
    /// Set while an operation runs, so a panic in it is known not to be the UI's even on a
    /// current-thread runtime.
    static IN_OPERATION: ();
}

/// What the render loop waits for.
enum Msg {
    Event(Event),
    Action(Action),
    /// An environment switch succeeded: the new context, then the action describing it.
    Switched(Box<Ctx>, Action),
}

/// Runs the console until the operator quits. Await it from the runtime's `block_on` (as the
/// CLI does), not from a spawned task: the panic hook knows the UI by its thread.
///
/// `ctx` is the environment opened, or why it could not be: the console opens anyway, says
/// so in plain words, and connects when asked again (`R`) or to another environment (`E`).
pub async fn run(config: Config, env: EnvConfig, ctx: Result<Ctx>, read_only: bool) -> Result<()> {
    let colors = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let (backend, operator, now) = match &ctx {
        Ok(ctx) => (
            ctx.backend.description.clone(),
            ctx.backend.operator.clone(),
            ctx.now(),
        ),
        Err(_) => (
            "not connected".to_string(),
            "-".to_string(),
            time::OffsetDateTime::now_utc(),
        ),
    };
    let connection = match ctx {
        Ok(ctx) => Connection::Open(Box::new(ctx)),
        Err(e) => Connection::Offline(Box::new(env.clone()), e.to_string()),
    };
    let mut app = App::new(AppInit {
        env_names: config.env_names(),
        backend,
        operator,
        now,
        read_only,
        env,
    });
    let mut term = TerminalGuard::enter()?;
    let size = term.terminal.size().map_err(io_error)?;
    update(
        &mut app,
        Action::Resize {
            width: size.width,
            height: size.height,
        },
    );

    let (tx, mut rx) = unbounded_channel::<Msg>();
    let input = InputThread::spawn(tx.clone());
    let mut exec = Executor {
        ctx: connection,
        config: Arc::new(config),
        tx,
        tasks: HashMap::new(),
    };
    exec.apply(update(&mut app, Action::Start));
    let mut ticker = tokio::time::interval(Duration::from_millis(100));

    let result = loop {
        if let Err(e) = term.terminal.draw(|f| draw(f, &app, colors)) {
            break Err(io_error(e));
        }
        if app.quit {
            break Ok(());
        }
        let msg = tokio::select! {
            m = rx.recv() => m,
            _ = ticker.tick(), if app.busy() => Some(Msg::Action(Action::Tick)),
        };
        let Some(msg) = msg else {
            break Ok(());
        };
        exec.handle(&mut app, msg);
        // Coalesce whatever else is queued into one frame.
        while let Ok(msg) = rx.try_recv() {
            exec.handle(&mut app, msg);
        }
    };
    exec.abort_all();
    input.stop();
    drop(term);
    result
}

fn io_error(e: std::io::Error) -> Error {
    Error::Io(format!("terminal: {e}"))
}

// ---------------------------------------------------------------- terminal

type PanicHook = Arc<dyn Fn(&PanicHookInfo<'_>) + Send + Sync + 'static>;

/// Owns the terminal in raw mode on the alternate screen; puts it back on drop and on a
/// panic of the UI. Panics elsewhere (operations, their blocking threads) are logged, not
/// printed over the screen: the operation's task turns them into an error the UI shows.
struct TerminalGuard {
    terminal: Terminal<CrosstermBackend<Stdout>>,
    previous_hook: PanicHook,
}

impl TerminalGuard {
    fn enter() -> Result<Self> {
        let previous_hook: PanicHook = Arc::from(std::panic::take_hook());
        let chained = previous_hook.clone();
        let ui_thread = std::thread::current().id();
        std::panic::set_hook(Box::new(move |info| {
            let in_ui =
                std::thread::current().id() == ui_thread && IN_OPERATION.try_with(|_| ()).is_err();
            if !in_ui {
                tracing::error!("panic outside the UI: {info}");
                return;
            }
            restore_terminal();
            chained(info);
        }));
        let setup = || -> std::io::Result<Terminal<CrosstermBackend<Stdout>>> {
            enable_raw_mode()?;
            execute!(stdout(), EnterAlternateScreen)?;
            let mut terminal = Terminal::new(CrosstermBackend::new(stdout()))?;
            terminal.hide_cursor()?;
            terminal.clear()?;
            Ok(terminal)
        };
        match setup() {
            Ok(terminal) => Ok(TerminalGuard {
                terminal,
                previous_hook,
            }),
            Err(e) => {
                restore_terminal();
                let prev = previous_hook.clone();
                std::panic::set_hook(Box::new(move |info| prev(info)));
                Err(Error::Io(format!(
                    "cannot open the terminal for the console: {e}; it needs an interactive \
                     terminal (use a subcommand such as `list` in scripts)"
                )))
            }
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
        let prev = self.previous_hook.clone();
        std::panic::set_hook(Box::new(move |info| prev(info)));
    }
}

fn restore_terminal() {
    // Best effort: each step is attempted even if another fails.
    let _ = disable_raw_mode();
    let _ = execute!(stdout(), LeaveAlternateScreen, crossterm::cursor::Show);
}

// ---------------------------------------------------------------- input

/// Reads crossterm events on a thread of its own (crossterm's reader blocks).
struct InputThread {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<()>,
}

impl InputThread {
    fn spawn(tx: UnboundedSender<Msg>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match crossterm::event::poll(Duration::from_millis(100)) {
                    Ok(false) => {}
                    Ok(true) => match crossterm::event::read() {
                        Ok(ev) => {
                            if tx.send(Msg::Event(ev)).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::error!("reading terminal events failed: {e}");
                            let _ = tx.send(Msg::Action(Action::Quit));
                            return;
                        }
                    },
                    Err(e) => {
                        tracing::error!("polling terminal events failed: {e}");
                        let _ = tx.send(Msg::Action(Action::Quit));
                        return;
                    }
                }
            }
        });
        InputThread { stop, handle }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.handle.join();
    }
}

// ---------------------------------------------------------------- operations

/// The environment the operations run against: open, or not reachable when the console
/// started (its config and the error, said again until a retry connects).
#[derive(Clone)]
enum Connection {
    Open(Box<Ctx>),
    Offline(Box<EnvConfig>, String),
}

/// Opens the environment of an offline connection for an operation; on success the
/// operation's answer is the switch to it, so the whole console loads from it.
async fn connect(env: EnvConfig, error: &str) -> Result<Ctx, String> {
    Ctx::open(env.clone()).await.map_err(|e| {
        let now = e.to_string();
        let said = if now == error { error } else { now.as_str() };
        format!(
            "environment '{}' is not connected (R: try again, E: switch environment): {said}",
            env.name
        )
    })
}

/// Runs effects as tokio tasks and keeps their handles so they can be aborted.
struct Executor {
    ctx: Connection,
    config: Arc<Config>,
    tx: UnboundedSender<Msg>,
    tasks: HashMap<TaskId, JoinHandle<()>>,
}

impl Executor {
    fn handle(&mut self, app: &mut App, msg: Msg) {
        let action = match msg {
            Msg::Event(Event::Key(key)) => action_for(app, key),
            Msg::Event(Event::Resize(width, height)) => Some(Action::Resize { width, height }),
            Msg::Event(_) => None,
            Msg::Action(action) => Some(action),
            Msg::Switched(ctx, action) => {
                self.ctx = Connection::Open(ctx);
                Some(action)
            }
        };
        if let Some(action) = action {
            if let Action::Done { task, .. } = &action {
                self.tasks.remove(task);
            }
            let effects = update(app, action);
            self.apply(effects);
        }
    }

    fn apply(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Abort(task) => {
                    if let Some(h) = self.tasks.remove(&task) {
                        h.abort();
                    }
                }
                Effect::Copy(text) => {
                    // A terminal without OSC 52 ignores the sequence; nothing else to do.
                    let _ = execute!(
                        stdout(),
                        crossterm::clipboard::CopyToClipboard::to_clipboard_from(text)
                    );
                }
                Effect::Run { task, op } => {
                    tracing::info!(task, op = ?op, "starting");
                    let ctx = self.ctx.clone();
                    let config = self.config.clone();
                    let tx = self.tx.clone();
                    let progress_tx = self.tx.clone();
                    let progress: ops::Progress = Arc::new(move |done, total| {
                        let _ =
                            progress_tx.send(Msg::Action(Action::Progress { task, done, total }));
                    });
                    let fut = IN_OPERATION.scope((), async move {
                        let work = async move {
                            match ctx {
                                Connection::Open(ctx) => run_op(&ctx, &config, op, progress).await,
                                // A switch opens its own environment; anything else first
                                // connects to this one, and then the console reloads from it.
                                Connection::Offline(_, _) if matches!(op, Op::SwitchEnv(_)) => {
                                    run_switch(None, &config, op).await
                                }
                                Connection::Offline(env, error) => {
                                    let ctx = connect(*env.clone(), &error).await?;
                                    Ok(switched(*env, ctx))
                                }
                            }
                        };
                        let result =
                            AssertUnwindSafe(work)
                                .catch_unwind()
                                .await
                                .unwrap_or_else(|panic| {
                                    Err(format!("internal error: {}", panic_text(&panic)))
                                });
                        let msg = match result {
                            Ok((outcome, Some(ctx))) => Msg::Switched(
                                Box::new(ctx),
                                Action::Done {
                                    task,
                                    result: Ok(outcome),
                                },
                            ),
                            Ok((outcome, None)) => Msg::Action(Action::Done {
                                task,
                                result: Ok(outcome),
                            }),
                            Err(e) => {
                                tracing::warn!(task, "failed: {e}");
                                Msg::Action(Action::Done {
                                    task,
                                    result: Err(e),
                                })
                            }
                        };
                        let _ = tx.send(msg);
                    });
                    self.tasks.insert(task, tokio::spawn(fut));
                }
            }
        }
    }

    fn abort_all(&mut self) {
        for (_, h) in self.tasks.drain() {
            h.abort();
        }
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "an operation panicked".into())
}
