//! The `colony` binary; everything lives in the `colony_cli` library.
fn main() {
    std::process::exit(colony_cli::run());
}
