//! The auth rules of authd. Depends only on `auth-ports` and small pure crates: no I/O,
//! no runtime, no database; everything it needs from the world comes through a port.

pub mod permission;
