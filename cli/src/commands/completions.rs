use crate::{CliError, Ctx};

/// Print a completion script for a shell, e.g. `colony completions bash > /etc/bash_completion.d/colony`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell.
    pub shell: clap_complete::Shell,
}

pub fn run(_ctx: &Ctx, args: Args) -> Result<i32, CliError> {
    let mut cmd = crate::command();
    clap_complete::generate(args.shell, &mut cmd, "colony", &mut std::io::stdout());
    Ok(0)
}
