//! Peers over iroh: `colony serve`, tickets, and peer remotes that fetch, push and pin.
//!
//! # Why our own protocol on bao-tree rather than iroh-blobs
//!
//! A shard is already a file named by the BLAKE3 hash of its bytes, and BLAKE3's hash
//! *is* the root of a bao tree. So the store can serve shards as they lie on disk:
//! the serving node computes the shard's outboard (the inner hashes of its tree in
//! 16 KiB chunk groups, about 1/256 of its size) on first request and keeps it in a
//! memory cache bounded in bytes, and streams the bao encoding of the range asked for. The asking node
//! verifies each 16 KiB group against the tree before writing it, so a lying peer is
//! caught at its first bad group and nothing unverified reaches the disk; a partial
//! file holds only verified groups, so a resumed fetch asks only for the rest.
//! iroh-blobs would give the same verification, but it wants its own store (a second
//! copy of every shard, or an import step), its own tags and GC next to ours, and it
//! says of itself that it is not production quality; history objects, pushes and pin
//! requests would need a second protocol anyway. One small protocol (ALPN
//! `colony/1`, see [`protocol`]) carries all of it over one QUIC connection.
//!
//! # Offline rules
//!
//! With `--no-relay` (and whenever a ticket names no relay) endpoints are bound with
//! no relay and no address lookup, dial the ticket's direct addresses only and never
//! wait for `online()`; the port mapper is not compiled in.
//!
//! # What a peer learns
//!
//! - A node that **serves** (`colony serve`) answers anyone holding its ticket with
//!   everything it keeps: its branches, pins and run records, the history they reach,
//!   the list of its shards and any shard. Serving is publishing; `--allow` governs
//!   only who may push and pin. What one peer can make it do is bounded
//!   ([`provider::Limits`]).
//! - A peer that you **push to or pin on** asks you, over the same connection, for what
//!   it lacks of the one commit you send: it gets that commit's history (every
//!   ancestor, with its trees and pointers) and the shards that history needs (a pin:
//!   the shards its snapshot needs; see [`crate::snapshot::shards::shards_to_push`]). Any other
//!   request (your refs, your shard list, other commits or shards) is refused. Shards go
//!   whole, so it also gets whatever other records share those shards, by hash and
//!   without history naming them.
//! - A peer you **fetch from** asks you nothing.
//!
//! Every frame read from a peer is capped ([`protocol::MAX_FRAME`],
//! [`protocol::MAX_OBJECT`]) before anything is allocated for it.
//!
//! # Test hook
//!
//! `COLONY_TEST_LIE=flip` in the environment of a debug build of `colony serve` makes
//! it flip one byte (in the middle) of every shard it sends, to test that peers catch
//! lies. Release builds do not read the variable ([`ServeOptions::lie`] is the
//! library's switch).

pub mod answer;
pub mod link;
pub mod node;
pub mod pins;
pub mod protocol;
pub mod provider;
pub mod receive;
pub mod ticket;

pub use crate::remote::peer::{PeerOptions, PeerRemote};
pub use node::load_or_create_key;
pub use provider::{Limits, ServeOptions, Serving, node_id, parse_node_id, serve};
pub use ticket::Ticket;

#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod tests;
