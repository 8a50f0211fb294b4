//! hotspotd served in-process over real sockets against a real SQLite file.

mod abuse;
mod access;
mod branding;
mod fingerprint;
mod forms;
mod freeradius;
mod fuzz;
mod helpers;
mod payments;
mod probes;
mod radius;
mod sessions;
mod topup;
mod vouchers;
