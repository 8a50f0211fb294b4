//! The cloud service over real HTTP against a real PostgreSQL, one fresh database per test.

mod bad_input;
mod console;
mod console_pages;
mod demo;
mod failover;
mod freeradius;
mod functions;
mod fuzz;
mod helpers;
mod maintenance;
mod migrations;
mod mpesa;
mod openapi;
mod operators;
mod payments;
mod radius;
mod radius_dynauth;
mod radius_server;
mod resources;
mod revenue_days;
mod rls;
mod schema;
mod session_days;
mod sessions;
mod shed;
mod sync;
