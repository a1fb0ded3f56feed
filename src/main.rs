//! The `strata` command line: parses arguments, dispatches to one subcommand, maps the
//! outcome to an exit code. Everything a library user would need lives in the crates.

// Standard output goes through `out!`/`outln!` (defined before the modules that use
// them). `print!`/`println!` panic on a closed stdout (`strata plan … | head -1`): Rust
// ignores SIGPIPE, so the write fails with EPIPE. Restoring the default disposition is no
// cure here: the agents, the twin and apply talk gRPC over sockets written with `writev`,
// which raises SIGPIPE too, so a client going away would kill `strata twin up`, and an
// agent going away would kill an apply between prepare and commit.

/// `print!` that ends the process quietly when stdout is closed.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::write_stdout(format_args!($($arg)*))
    };
}

/// `println!` that ends the process quietly when stdout is closed.
macro_rules! outln {
    () => {
        $crate::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod cmd;
mod render;
mod report;

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
    Diff(cmd::diff::Args),
    Graph(cmd::graph::Args),
    Apply(cmd::apply::Args),
    /// Apply, then watch telemetry and repair drift until interrupted.
    Run(cmd::apply::Args),
    Status(cmd::status::Args),
    State(cmd::state::Args),
    Twin(cmd::twin::Args),
    Agent(cmd::agent::Args),
    Kme(cmd::kme::Args),
}

/// Exit status when stdout was closed under us: what a shell reports for a process ended
/// by SIGPIPE (128 + 13), as for any command-line tool whose reader went away.
const EXIT_STDOUT_CLOSED: i32 = 141;

/// Writes to stdout; when the reader has gone away, ends the process at once with
/// [`EXIT_STDOUT_CLOSED`] and without a word, as SIGPIPE would.
fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    if let Err(e) = std::io::stdout().lock().write_fmt(args) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(EXIT_STDOUT_CLOSED);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

/// What a subcommand tells `main` about how it went.
pub enum Outcome {
    /// Success (exit 0).
    Ok,
    /// The input was checked and found wanting (exit 1).
    Failed,
    /// Success with changes to report (exit 2, for `--detailed-exitcode`).
    Changes,
    /// The network answered, and some intent is not met (exit 3, `status`).
    NotMet,
}

fn main() -> ExitCode {
    // `-out FILE` is accepted as infrastructure-as-code tools spell it.
    let args = std::env::args_os().map(|a| match a.to_str() {
        Some("-out") => "--out".into(),
        Some(s) if s.starts_with("-out=") => format!("-{s}").into(),
        _ => a,
    });
    // Usage errors exit 1 like any other error (clap's own is 2, which `plan
    // --detailed-exitcode` uses for "changes"); help and version print and exit 0.
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::Check(args) => args.run(),
        Command::Fmt(args) => args.run(),
        Command::Compile(args) => args.run(),
        Command::Verify(args) => args.run(),
        Command::Plan(args) => args.run(),
        Command::Diff(args) => args.run(),
        Command::Graph(args) => args.run(),
        Command::Apply(args) => args.run(false),
        Command::Run(args) => args.run(true),
        Command::Status(args) => args.run(),
        Command::State(args) => args.run(),
        Command::Twin(args) => args.run(),
        Command::Agent(args) => args.run(),
        Command::Kme(args) => args.run(),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Ok(Outcome::Changes) => ExitCode::from(2),
        Ok(Outcome::NotMet) => ExitCode::from(3),
        Err(err) => {
            // `{:#}` prints the causes too: "cannot read `x`: it is a FIFO …".
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every subcommand says what it does in one line, and every argument and option says
    /// what it takes, down to the last nested subcommand.
    #[test]
    fn every_command_and_argument_explains_itself() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for sub in cmd.get_subcommands() {
                let here = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() {
                    missing.push(format!("`{here}` has no description"));
                }
                for arg in sub.get_arguments() {
                    let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                    if !builtin && arg.get_help().is_none() {
                        missing.push(format!("`{here}` argument `{}` has no help", arg.get_id()));
                    }
                }
                walk(sub, &here, missing);
            }
        }
        let cmd = Cli::command();
        cmd.clone().debug_assert();
        let mut missing = Vec::new();
        walk(&cmd, "strata", &mut missing);
        missing.retain(|m| !m.starts_with("`strata help"));
        assert!(missing.is_empty(), "{missing:#?}");
    }

    /// The commands that print results take `--format human|json`, and `--json` as before.
    #[test]
    fn results_take_format_and_json() {
        let cmd = Cli::command();
        for name in ["compile", "plan", "verify", "apply", "run", "status"] {
            let sub = cmd.find_subcommand(name).unwrap();
            for flag in ["format", "json"] {
                assert!(
                    sub.get_arguments().any(|a| a.get_long() == Some(flag)),
                    "{name} --{flag}"
                );
            }
        }
        for name in ["compile", "plan"] {
            let sub = cmd.find_subcommand(name).unwrap();
            assert!(
                sub.get_arguments().any(|a| a.get_short() == Some('o')),
                "{name} -o"
            );
        }
    }
}
