//! The operations behind each command, as methods on [`crate::Repo`]. Each returns a
//! report that serialises to the command's `--json` output.

pub mod add;
pub mod checkout;
pub mod clone;
pub mod commit;
pub mod fetch;
pub mod fork;
pub mod fsck;
pub mod gc;
pub mod inspect;
pub mod merge;
pub mod merge_state;
pub mod push;
pub mod refs;
pub mod remote;
pub mod resolve;
pub mod runs;
pub mod sparse;
pub mod status;
pub mod table_keys;
pub mod table_ops;
pub mod verify;
