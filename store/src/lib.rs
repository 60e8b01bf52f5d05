//! colony store
