//! hotspotd served in-process over real sockets against a real SQLite file.

mod access;
mod fingerprint;
mod forms;
mod fuzz;
mod helpers;
mod payments;
mod probes;
mod radius;
mod sessions;
mod vouchers;
