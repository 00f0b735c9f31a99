//! The whole pipeline in one place: settings, signal handling, the command,
//! and the exit code.

use crate::cli::{Cli, Command};
use crate::deploy::{self, DeployArgs};
use crate::error::{Error, EXIT_HOST_FAILED, EXIT_INTERRUPTED, EXIT_OK};
use crate::event::{Event, Reporter};
use crate::outcome::Summary;
use crate::report::{self, Output};
use crate::settings::{OutputSettings, Settings};
use crate::shutdown::Shutdown;

/// Runs a parsed command line and returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    let o = Settings::output(&cli);
    let reporter = report::reporter(o);
    match execute(cli, reporter.as_ref(), o).await {
        Ok(code) => code,
        Err(e) => {
            reporter.emit(Event::Error { message: e.to_string(), code: e.code() });
            e.code()
        }
    }
}

/// Prints a command's result once its progress is off the terminal.
fn show(r: &dyn Reporter, o: OutputSettings, output: Output) {
    r.settle();
    report::print(&output, o);
}

async fn execute(cli: Cli, r: &dyn Reporter, o: OutputSettings) -> Result<i32, Error> {
    // Generated from the CLI definitions alone: no hosts.toml needed.
    match &cli.command {
        Command::Completions { shell } => {
            show(r, o, Output::Document(crate::commands::manual::completions(*shell)));
            return Ok(EXIT_OK);
        }
        Command::Man => {
            let page = crate::commands::manual::man_page()
                .map_err(|e| Error::Usage(format!("cannot render the man page: {e}")))?;
            show(r, o, Output::Document(page));
            return Ok(EXIT_OK);
        }
        _ => {}
    }
    let stop = Shutdown::on_ctrl_c();
    tokio::select! {
        res = dispatch(&cli, r, o, &stop) => res,
        never = acknowledge(&stop, r) => match never {},
    }
}

/// Says at once what a Ctrl-C or SIGTERM does, while the run goes on to
/// act on it.
async fn acknowledge(stop: &Shutdown, r: &dyn Reporter) -> std::convert::Infallible {
    stop.wait().await;
    if !stop.forced() {
        r.emit(Event::Warning {
            host: None,
            message: "Ctrl-C: stopping at the next step boundary (steps running on hosts finish; health checks and \
pauses are cut short). Ctrl-C again or SIGTERM stops at once"
                .into(),
        });
    }
    stop.wait_forced().await;
    r.emit(Event::Warning {
        host: None,
        message: "stopping at once: steps running on hosts are ended where they are; locks are released and the \
summary shows where each host was left"
            .into(),
    });
    std::future::pending().await
}

async fn dispatch(cli: &Cli, r: &dyn Reporter, o: OutputSettings, stop: &Shutdown) -> Result<i32, Error> {
    let s = Settings::resolve(cli, stop).await?;
    for w in &s.warnings {
        r.emit(Event::Warning { host: None, message: w.clone() });
    }
    let summary = match &cli.command {
        Command::Completions { .. } | Command::Man => return Ok(EXIT_OK),
        Command::Hosts => {
            show(r, o, Output::Hosts(s.hosts.clone()));
            return Ok(EXIT_OK);
        }
        Command::Exec { command } => {
            let cmd = command.join(" ");
            if s.ask && !r.confirm(&format!("Run `{cmd}` on {} host(s)?", s.hosts.len())) {
                return Err(Error::Refused("exec declined; nothing was run".into()));
            }
            let results = crate::commands::exec::run(&s, &cmd, r).await?;
            let code =
                if results.iter().all(crate::commands::exec::ExecResult::ok) { EXIT_OK } else { EXIT_HOST_FAILED };
            show(r, o, Output::Exec(results));
            return Ok(code);
        }
        Command::Check => {
            let rows = crate::commands::check::run(&s, r).await?;
            let code =
                if rows.iter().all(crate::commands::check::CheckRow::ready) { EXIT_OK } else { EXIT_HOST_FAILED };
            show(r, o, Output::Check(rows));
            return Ok(code);
        }
        Command::Status => {
            let views = crate::commands::inspect::views(&s, r).await?;
            let code = if views.iter().any(|v| v.error.is_some()) { EXIT_HOST_FAILED } else { EXIT_OK };
            show(r, o, Output::Status(views));
            return Ok(code);
        }
        Command::Releases => {
            let views = crate::commands::inspect::views(&s, r).await?;
            let code = if views.iter().any(|v| v.error.is_some()) { EXIT_HOST_FAILED } else { EXIT_OK };
            show(r, o, Output::Releases(views));
            return Ok(code);
        }
        Command::Log { lines } => {
            let (entries, ok) = crate::commands::inspect::log(&s, *lines, r).await?;
            show(r, o, Output::Log(entries));
            return Ok(if ok { EXIT_OK } else { EXIT_HOST_FAILED });
        }
        Command::Lock { message } => crate::commands::lock::hold(&s, message.clone(), r).await?,
        Command::Unlock { force } => crate::commands::lock::unlock(&s, *force, r).await?,
        Command::Plan { path, label } | Command::Deploy { path, label, dry_run: true, .. } => {
            let plan = crate::commands::plan::plan(&s, path, label.clone(), r).await?;
            let code = if plan.ready() { EXIT_OK } else { EXIT_HOST_FAILED };
            show(r, o, Output::DeployPlan(Box::new(plan)));
            return Ok(code);
        }
        Command::Deploy { path, label, .. } => {
            let label = label.clone().or_else(|| deploy::git_label(path));
            let args = DeployArgs { path: path.clone(), label: label.clone() };
            let notifier = crate::notify::Notifier::new(&s);
            let start =
                crate::notify::Note { event: "deploy.started".into(), version: label.clone(), ..Default::default() };
            // The start notice goes out while the deploy runs, never before it.
            let (_, result) = tokio::join!(notifier.send(start, r), deploy::run(&s, &args, r, stop));
            notifier.send(crate::notify::outcome("deploy", &result, label), r).await;
            result?
        }
        Command::Sync => crate::commands::sync::run(&s, r, stop).await?,
        Command::Rollback { to, .. } => {
            let result = crate::commands::rollback::run(&s, to.as_deref(), r, stop).await;
            let notifier = crate::notify::Notifier::new(&s);
            notifier.send(crate::notify::outcome("rollback", &result, None), r).await;
            result?
        }
        Command::Prune { keep } => {
            let keep = keep.map(|k| k as usize).unwrap_or_else(|| s.keep_releases());
            crate::commands::prune::prune(&s, keep, r).await?
        }
    };
    Ok(finish(summary, r))
}

fn finish(summary: Summary, r: &dyn Reporter) -> i32 {
    let code = if summary.interrupted {
        EXIT_INTERRUPTED
    } else if summary.failed() > 0 {
        EXIT_HOST_FAILED
    } else {
        EXIT_OK
    };
    r.emit(Event::Summary(summary));
    code
}
