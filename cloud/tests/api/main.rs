//! The cloud service over real HTTP against a real PostgreSQL, one fresh database per test.

mod demo;
mod functions;
mod helpers;
mod migrations;
mod mpesa;
mod operators;
mod radius;
mod rls;
mod schema;
