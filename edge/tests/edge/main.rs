//! hotspotd served in-process over real sockets against a real SQLite file.

mod access;
mod forms;
mod fingerprint;
mod helpers;
mod payments;
mod probes;
mod sessions;
mod vouchers;
