//! Man pages generated from the clap definitions (one per command), kept in `man/`.

use clap::Command;

/// Every man page as (file name, roff bytes): `colony.1` and `colony-<verb>.1`.
pub fn render_all() -> Vec<(String, Vec<u8>)> {
    let root = crate::command();
    let mut out = Vec::new();
    render(&root, "colony", &mut out);
    out
}

fn render(cmd: &Command, name: &str, out: &mut Vec<(String, Vec<u8>)>) {
    let cmd = cmd.clone().name(name.to_string());
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut buf)
        .expect("render man page");
    out.push((format!("{name}.1"), buf));
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        render(sub, &format!("{name}-{}", sub.get_name()), out);
    }
}
