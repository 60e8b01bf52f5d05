//! The `colony` command line: parses arguments, calls one library function per command,
//! and renders the result for people or, with `--json`, for programs.

pub mod commands;
pub mod error;
pub mod man;
pub mod output;
pub mod progress;

use std::path::PathBuf;

use clap::{CommandFactory, Parser};

pub use commands::Command;
pub use error::CliError;

/// colony versions multi-terabyte datasets the way git versions code.
///
/// Data is split into content-defined chunks, stored once, packed into compressed shards
/// and verified against BLAKE3 on every read. History lives in a git repository inside
/// `.colony/` that real `git` can read. Every commit records a snapshot root: one BLAKE3
/// hash over the whole tree that anyone can recompute from the data.
#[derive(Debug, Parser)]
#[command(
    name = "colony",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Run as if started in DIR.
    #[arg(short = 'C', id = "chdir", global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Print one JSON document on stdout instead of text (no colour, no progress).
    #[arg(long, global = true)]
    pub json: bool,
    /// Print nothing but errors, and no progress bars.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Everything a command needs besides its own arguments.
pub struct Ctx {
    /// The directory the command works from.
    pub cwd: PathBuf,
    /// `--json` was given.
    pub json: bool,
    /// `--quiet` was given.
    pub quiet: bool,
}

impl Ctx {
    /// Opens the dataset containing `cwd`, with progress bars when appropriate.
    pub fn open(&self, access: colony_store::Access) -> Result<colony_store::Repo, CliError> {
        Ok(self.open_in(&self.cwd, access)?)
    }

    /// Opens the dataset containing `dir` as [`Ctx::open`] does, for callers that open it
    /// more than once (and want the store's error).
    pub fn open_in(
        &self,
        dir: &std::path::Path,
        access: colony_store::Access,
    ) -> colony_store::Result<colony_store::Repo> {
        let quiet = self.quiet || self.json;
        let mut repo = colony_store::Repo::discover(dir, access, &|holder| {
            if !quiet {
                eprintln!("waiting for another colony process to finish ({holder}) …");
            }
        })?;
        if !quiet {
            repo.set_progress(std::sync::Arc::new(progress::Bars::new()));
        }
        Ok(repo)
    }
}

/// Parses the command line, runs the command and returns the process exit code.
pub fn run() -> i32 {
    exit_quietly_when_output_closes();
    let cli = Cli::parse();
    let cwd = match &cli.dir {
        Some(d) => d.clone(),
        None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
    };
    let ctx = Ctx {
        cwd,
        json: cli.json,
        quiet: cli.quiet,
    };
    match commands::run(&ctx, cli.command) {
        Ok(code) => code,
        Err(e) => {
            e.render(ctx.json);
            e.exit_code()
        }
    }
}

/// A reader that stops early (`colony log | head`) closes the pipe, and the next print
/// panics with a broken pipe (Rust ignores SIGPIPE). That is a normal end, not a crash:
/// exit at once with 141 (128 + SIGPIPE, what the shell reports for git in that case) and
/// no message. Every other panic keeps the default report.
fn exit_quietly_when_output_closes() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("Broken pipe") || msg.contains("BrokenPipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// The clap command tree (for completions and man pages).
pub fn command() -> clap::Command {
    Cli::command()
}
