//! One module per command. Each `Args` struct's doc comment is the command's help text and
//! man page; each `run` calls one library function and renders its result.

// Each command is documented by its `Args` doc comment (the help text); `run` needs none.
#![allow(missing_docs)]

use clap::Subcommand;

use crate::{CliError, Ctx};

pub mod add;
pub mod branch;
pub mod cat;
pub mod checkout;
pub mod commit;
pub mod completions;
pub mod diff;
pub mod fsck;
pub mod gc;
pub mod init;
pub mod log;
pub mod pin;
pub mod reset;
pub mod show;
pub mod status;
pub mod switch;
pub mod tag;
pub mod verify;

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a dataset.
    Init(init::Args),
    /// Stage files for the next commit.
    Add(add::Args),
    /// Record the staged snapshot.
    Commit(commit::Args),
    /// Show staged, unstaged and untracked changes.
    Status(status::Args),
    /// Show history.
    Log(log::Args),
    /// Show a commit and its files.
    Show(show::Args),
    /// Compare revisions (or a revision and the work tree).
    Diff(diff::Args),
    /// Check out a revision, or restore paths from one.
    Checkout(checkout::Args),
    /// Switch branches.
    Switch(switch::Args),
    /// List, create or delete branches.
    Branch(branch::Args),
    /// List, create or delete tags.
    Tag(tag::Args),
    /// Move HEAD to a revision.
    Reset(reset::Args),
    /// Stream one file of a revision to stdout.
    Cat(cat::Args),
    /// Recompute a revision's snapshot root from the stored bytes.
    Verify(verify::Args),
    /// Check every shard, chunk, manifest, pointer and ref.
    Fsck(fsck::Args),
    /// Delete shard data nothing reaches.
    Gc(gc::Args),
    /// Keep a revision's data local and safe from gc.
    Pin(pin::PinArgs),
    /// Release a pin.
    Unpin(pin::UnpinArgs),
    /// Print a shell completion script.
    Completions(completions::Args),
}

/// Runs a command; returns the exit code for success paths that still report failure
/// (e.g. `verify` finding a mismatch).
pub fn run(ctx: &Ctx, cmd: Command) -> Result<i32, CliError> {
    match cmd {
        Command::Init(a) => init::run(ctx, a),
        Command::Add(a) => add::run(ctx, a),
        Command::Commit(a) => commit::run(ctx, a),
        Command::Status(a) => status::run(ctx, a),
        Command::Log(a) => log::run(ctx, a),
        Command::Show(a) => show::run(ctx, a),
        Command::Diff(a) => diff::run(ctx, a),
        Command::Checkout(a) => checkout::run(ctx, a),
        Command::Switch(a) => switch::run(ctx, a),
        Command::Branch(a) => branch::run(ctx, a),
        Command::Tag(a) => tag::run(ctx, a),
        Command::Reset(a) => reset::run(ctx, a),
        Command::Cat(a) => cat::run(ctx, a),
        Command::Verify(a) => verify::run(ctx, a),
        Command::Fsck(a) => fsck::run(ctx, a),
        Command::Gc(a) => gc::run(ctx, a),
        Command::Pin(a) => pin::run_pin(ctx, a),
        Command::Unpin(a) => pin::run_unpin(ctx, a),
        Command::Completions(a) => completions::run(ctx, a),
    }
}
