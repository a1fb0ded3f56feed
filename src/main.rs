//! The `strata` command line: parses arguments, dispatches to one subcommand, maps the
//! outcome to an exit code. Everything a library user would need lives in the crates.

mod cmd;
mod render;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Intent-driven orchestrator for quantum networks.
#[derive(Parser)]
#[command(name = "strata", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Check(cmd::check::Args),
    Fmt(cmd::fmt::Args),
    Compile(cmd::compile::Args),
    Verify(cmd::verify::Args),
    Plan(cmd::plan::Args),
    Apply(cmd::apply::Args),
    /// Apply, then watch telemetry and repair drift until interrupted.
    Run(cmd::apply::Args),
    Status(cmd::status::Args),
    State(cmd::state::Args),
    Twin(cmd::twin::Args),
    Agent(cmd::agent::Args),
}

/// What a subcommand tells `main` about how it went.
pub enum Outcome {
    /// Success (exit 0).
    Ok,
    /// The input was checked and found wanting (exit 1).
    Failed,
    /// Success with changes to report (exit 2, for `--detailed-exitcode`).
    Changes,
}

/// Restores the default SIGPIPE disposition, which the Rust runtime sets to "ignore".
/// With it ignored, writing to a closed stdout (`strata plan … | head -1`) fails with
/// EPIPE and every `println!` panics; with the default, the process ends quietly on the
/// signal, as command-line tools do.
#[cfg(unix)]
#[allow(unsafe_code)]
fn restore_sigpipe() {
    // SAFETY: called first thing in `main`, before any other thread exists; installing the
    // default disposition for SIGPIPE touches no memory of this program.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    #[cfg(unix)]
    restore_sigpipe();
    // `-out FILE` is accepted as infrastructure-as-code tools spell it.
    let args = std::env::args_os().map(|a| match a.to_str() {
        Some("-out") => "--out".into(),
        Some(s) if s.starts_with("-out=") => format!("-{s}").into(),
        _ => a,
    });
    let cli = Cli::parse_from(args);
    let result = match cli.command {
        Command::Check(args) => args.run(),
        Command::Fmt(args) => args.run(),
        Command::Compile(args) => args.run(),
        Command::Verify(args) => args.run(),
        Command::Plan(args) => args.run(),
        Command::Apply(args) => args.run(false),
        Command::Run(args) => args.run(true),
        Command::Status(args) => args.run(),
        Command::State(args) => args.run(),
        Command::Twin(args) => args.run(),
        Command::Agent(args) => args.run(),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Ok(Outcome::Changes) => ExitCode::from(2),
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(1)
        }
    }
}
