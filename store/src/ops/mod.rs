//! The operations behind each command, as methods on [`crate::Repo`]. Each returns a
//! report that serialises to the command's `--json` output.

pub mod add;
pub mod checkout;
pub mod commit;
pub mod fsck;
pub mod gc;
pub mod inspect;
pub mod refs;
pub mod status;
pub mod verify;
