//! Why a configuration was refused, and where: errors name the file, key and line.

use std::path::{Path, PathBuf};

use super::Config;

/// Why a configuration was refused. The message names the file, key and line where there is one.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key, or a value of the wrong type.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A value parsed but is not acceptable.
    #[error("invalid config value `{key}`: {reason}")]
    Invalid {
        /// The dotted key.
        key: &'static str,
        /// Why.
        reason: String,
    },
    /// A value of a `[[plugins]]` or `[[tsa_providers]]` entry is not acceptable, and the line that sets it was
    /// found.
    #[error("invalid config value `{key}` at {path} line {line}: {reason}")]
    InvalidAt {
        /// The dotted key.
        key: &'static str,
        /// Why.
        reason: String,
        /// The file that sets it.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
    },
    /// Plugin files the config names are not in the plugin directory (one message per file, naming the key and,
    /// where found, the line). Only `sigild check-config` reports this: the daemon itself starts without them
    /// and logs each failed load.
    #[error("{}", .0.join("\nsigild: "))]
    MissingPluginFiles(Vec<String>),
}

impl ConfigError {
    /// Adds the file and line to an [`ConfigError::Invalid`] about an entry of `[[plugins]]` or
    /// `[[tsa_providers]]`, when the offending value (the first one quoted in the reason) is set on a line of
    /// one of `sources` (file, text).
    pub(super) fn located(self, sources: &[(PathBuf, String)]) -> Self {
        let ConfigError::Invalid { key, reason } = self else {
            return self;
        };
        let value = reason.split('`').nth(1).map(str::to_string);
        let leaf = key.rsplit('.').next().unwrap_or(key);
        let entry_key = key.starts_with("plugins.") || key.starts_with("tsa_providers.");
        match value
            .filter(|_| entry_key)
            .and_then(|v| locate(sources, leaf, &v))
        {
            Some((path, line)) => ConfigError::InvalidAt {
                key,
                reason,
                path,
                line,
            },
            None => ConfigError::Invalid { key, reason },
        }
    }
}

/// The config file and the files it includes, with their text, for pointing at lines. Unreadable files are
/// left out.
pub fn source_files(path: Option<&Path>, config: &Config) -> Vec<(PathBuf, String)> {
    let Some(path) = path else {
        return Vec::new();
    };
    let base = path.parent().unwrap_or(Path::new("."));
    std::iter::once(path.to_path_buf())
        .chain(config.include.iter().map(|include| base.join(include)))
        .filter_map(|file| std::fs::read_to_string(&file).ok().map(|text| (file, text)))
        .collect()
}

/// The file and line (from 1) where `key = "value"` (or `'value'`) is written, if anywhere in `sources`.
pub fn locate(sources: &[(PathBuf, String)], key: &str, value: &str) -> Option<(PathBuf, usize)> {
    for (path, text) in sources {
        for (index, line) in text.lines().enumerate() {
            let Some(rest) = line.trim_start().strip_prefix(key) else {
                continue;
            };
            let Some(rest) = rest.trim_start().strip_prefix('=') else {
                continue;
            };
            let rest = rest.trim_start();
            if rest.starts_with(&format!("\"{value}\"")) || rest.starts_with(&format!("'{value}'"))
            {
                return Some((path.clone(), index + 1));
            }
        }
    }
    None
}

/// Turns a toml error into one line that names the key and the line, e.g.
/// "unknown field `listn`, expected one of ... (line 3, column 1)".
pub(super) fn describe_toml_error(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim().to_string();
    match error.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let column = span.start
                - text[..span.start.min(text.len())]
                    .rfind('\n')
                    .map_or(0, |i| i + 1)
                + 1;
            let snippet = text
                .get(span.clone())
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("");
            format!("{message} at line {line}, column {column} (`{snippet}`)")
        }
        None => message,
    }
}
