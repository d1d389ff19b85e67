//! `sigild`, the Sigil trust daemon: configuration, storage, actors and the HTTP front. `main.rs` only parses
//! arguments and calls [`server::run_blocking`].
#![recursion_limit = "256"]

pub mod actors;
pub mod app;
pub mod config;
pub mod credentials;
pub mod error;
pub mod http;
pub mod ids;
pub mod kms;
pub mod lane;
pub mod plugin_check;
pub mod plugin_host;
pub mod secret;
pub mod secretbox;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod text;
pub mod tsa;
pub mod wiring;
