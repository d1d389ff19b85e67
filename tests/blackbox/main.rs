//! The black-box suite: every test starts the real `sigild` binary on a free loopback port with its own temp dir
//! and talks HTTP (or signals, or the CLI) to it. One binary with one module per area, so it links once.

mod harness;

mod accounts;
mod actors;
mod admin;
mod agents;
mod api_keys;
mod cli;
mod directory;
mod errors;
mod faults;
mod fuzz_corpus;
mod hardening;
mod isolation;
mod lifecycle;
mod limits;
mod members;
mod openapi;
mod operations;
mod plugin_check;
mod plugin_faults;
mod plugin_process;
mod plugins;
mod reload;
mod seal_revocation;
mod seal_revocation_bounds;
mod seal_revocation_ltv;
mod seals;
mod secrets;
mod sessions;
mod sigil_auth;
mod signing_requests;
mod slow_clients;
mod tenants;
mod timestamping;
mod timestamping_evidence;
mod timestamping_operations;
mod timestamping_providers;
mod timestamping_records;
mod trust;
mod tsa_standins;
