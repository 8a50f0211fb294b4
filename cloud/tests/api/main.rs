//! The cloud service over real HTTP against a real PostgreSQL, one fresh database per test.

mod helpers;
mod migrations;
mod rls;
mod schema;
