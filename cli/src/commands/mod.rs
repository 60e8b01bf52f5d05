//! One module per command. Each `Args` struct's doc comment is the command's help text and
//! man page; each `run` calls one library function and renders its result.

// Each command is documented by its `Args` doc comment (the help text); `run` needs none.
#![allow(missing_docs)]

use clap::Subcommand;

use crate::{CliError, Ctx};

pub mod add;
pub mod bounty;
pub mod branch;
pub mod cat;
pub mod checkout;
pub mod clone;
pub mod commit;
pub mod completions;
pub mod conflicts;
pub mod dao;
pub mod diff;
pub mod fetch;
pub mod fork;
pub mod fsck;
pub mod gc;
#[cfg(feature = "p2p")]
pub mod id;
pub mod init;
pub mod lineage;
pub mod log;
pub mod market;
pub mod mcp;
pub mod merge;
pub mod mount;
pub mod pin;
pub mod pull;
pub mod push;
pub mod query;
pub mod remote;
#[cfg(feature = "p2p")]
pub mod replicate;
pub mod reset;
pub mod resolve;
pub mod run;
#[cfg(feature = "p2p")]
pub mod serve;
pub mod show;
pub mod status;
pub mod switch;
pub mod table;
pub mod tag;
pub mod train;
pub mod unmount;
pub mod verify;
#[cfg(feature = "p2p")]
pub mod where_;

/// The commands; each variant's help is its `Args` doc comment.
#[derive(Debug, Subcommand)]
pub enum Command {
    Init(init::Args),
    Add(add::Args),
    Commit(commit::Args),
    Status(status::Args),
    Log(log::Args),
    Show(show::Args),
    Diff(diff::Args),
    Checkout(checkout::Args),
    Switch(switch::Args),
    Branch(branch::Args),
    Tag(tag::Args),
    Reset(reset::Args),
    Cat(cat::Args),
    Mount(mount::Args),
    Unmount(unmount::Args),
    Verify(verify::Args),
    Fsck(fsck::Args),
    Gc(gc::Args),
    Pin(pin::PinArgs),
    Unpin(pin::UnpinArgs),
    Fork(fork::Args),
    Lineage(lineage::Args),
    Remote(remote::Args),
    Clone(clone::Args),
    Fetch(fetch::Args),
    Pull(pull::Args),
    Push(push::Args),
    #[cfg(feature = "p2p")]
    Serve(serve::Args),
    #[cfg(feature = "p2p")]
    Id(id::Args),
    #[cfg(feature = "p2p")]
    Replicate(replicate::Args),
    #[cfg(feature = "p2p")]
    Where(where_::Args),
    Merge(merge::Args),
    Conflicts(conflicts::Args),
    Resolve(resolve::Args),
    Table(table::Args),
    Query(query::Args),
    Dao(dao::Args),
    Bounty(bounty::Args),
    Train(train::Args),
    Run(run::Args),
    Mcp(mcp::Args),
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
        Command::Mount(a) => mount::run(ctx, a),
        Command::Unmount(a) => unmount::run(ctx, a),
        Command::Verify(a) => verify::run(ctx, a),
        Command::Fsck(a) => fsck::run(ctx, a),
        Command::Gc(a) => gc::run(ctx, a),
        Command::Pin(a) => pin::run_pin(ctx, a),
        Command::Unpin(a) => pin::run_unpin(ctx, a),
        Command::Fork(a) => fork::run(ctx, a),
        Command::Lineage(a) => lineage::run(ctx, a),
        Command::Remote(a) => remote::run(ctx, a),
        Command::Clone(a) => clone::run(ctx, a),
        Command::Fetch(a) => fetch::run(ctx, a),
        Command::Pull(a) => pull::run(ctx, a),
        Command::Push(a) => push::run(ctx, a),
        #[cfg(feature = "p2p")]
        Command::Serve(a) => serve::run(ctx, a),
        #[cfg(feature = "p2p")]
        Command::Id(a) => id::run(ctx, a),
        #[cfg(feature = "p2p")]
        Command::Replicate(a) => replicate::run(ctx, a),
        #[cfg(feature = "p2p")]
        Command::Where(a) => where_::run(ctx, a),
        Command::Merge(a) => merge::run(ctx, a),
        Command::Conflicts(a) => conflicts::run(ctx, a),
        Command::Resolve(a) => resolve::run(ctx, a),
        Command::Table(a) => table::run(ctx, a),
        Command::Query(a) => query::run(ctx, a),
        Command::Dao(a) => dao::run(ctx, a),
        Command::Bounty(a) => bounty::run(ctx, a),
        Command::Train(a) => train::run(ctx, a),
        Command::Run(a) => run::run(ctx, a),
        Command::Mcp(a) => mcp::run(ctx, a),
        Command::Completions(a) => completions::run(ctx, a),
    }
}
