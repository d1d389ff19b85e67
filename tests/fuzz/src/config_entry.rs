//! The `config` target's entry, in its own file so that a test crate which already links the daemon can
//! include it with `#[path]` instead of building the daemon a second time.

use std::path::Path;

use sigild::config::Config;

/// A `sigild.toml` as an operator writes it: parsed (errors rendered with line and column) and, when it
/// parses, validated.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::from_toml(text, Path::new("fuzz.toml")) {
        Ok(config) => {
            let _ = config.validate().map_err(|error| error.to_string());
            let _ = sigild::wiring::plugin_instances(&config);
            let _ = config.store_url().describe();
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
}
