//! `sigild plugin check`: loads one plugin file outside the daemon, with the daemon's own checks (the ELF
//! completeness check, `dlopen` and the descriptor validation of [`crate::plugin_host::library`]), then calls
//! `create`, `health` and one op, and says for each answer what the daemon would make of it. For plugin authors:
//! it needs no config file, no store and no running daemon.
//!
//! The hooks run in a child process (this binary re-executed with `--in-process`), so a plugin that crashes is
//! reported as "crashed with signal N" instead of taking the tool down without a word.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::Value;
use sigil_plugin_api::{
    HostInstance, ListKeysResponse, PluginError, PluginKind, Status, TimestampResponse,
    TsaDescription, ValidateRecipientResponse,
};
use sigil_rfc3161::{HashAlgorithm, PkiStatus, TimestampRequest, TrustStore};

use crate::plugin_host::library::{self, LoadError};

/// Exit status when every check passed.
pub const EXIT_PASSED: u8 = 0;
/// Exit status when a check failed (or the plugin crashed).
pub const EXIT_FAILED: u8 = 1;
/// Exit status for a usage error (bad arguments, a file that does not exist).
pub const EXIT_USAGE: u8 = 2;

/// The request deadline the tool passes as `timeout_ms`: the default `[tsa] attempt_timeout`, as the daemon does.
fn timeout_ms() -> u64 {
    crate::config::TsaConfig::default()
        .attempt_timeout
        .as_millis() as u64
}

/// Arguments of `sigild plugin check`.
#[derive(clap::Args, Debug, Clone)]
pub struct CheckArgs {
    /// The plugin file (a shared library), anywhere on disk.
    pub file: PathBuf,
    /// The instance config as a JSON object, as the daemon passes a `[[plugins]]` entry's `config` table to
    /// `create` (default `{}`).
    #[arg(long, value_name = "JSON")]
    pub config: Option<String>,
    /// The op to call after `health` (default: the read-only op `POST /api/plugins/{name}/probe` runs:
    /// `describe`, `list_keys` or `validate_recipient`).
    #[arg(long, value_name = "NAME")]
    pub op: Option<String>,
    /// The op's request message as JSON. Without it, `describe`, `list_keys` and `validate_recipient` send
    /// what the probe sends, and `timestamp` sends a TimeStampReq built as the daemon builds it.
    #[arg(long, value_name = "JSON", requires = "op")]
    pub input: Option<String>,
    /// A PEM bundle of roots to verify a `timestamp` token against, as the daemon does with `[tsa]
    /// trust_roots_file` and a provider's `trust_roots_file`.
    #[arg(long, value_name = "PEM")]
    pub trust_roots: Option<PathBuf>,
    /// Run the plugin in this process instead of a child (for a debugger); a crash then ends the tool.
    #[arg(long)]
    pub in_process: bool,
}

/// Runs the check and answers the exit status.
pub fn run(args: &CheckArgs) -> ExitCode {
    let inputs = match Inputs::parse(args) {
        Ok(inputs) => inputs,
        Err(message) => {
            eprintln!("sigild plugin check: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if args.in_process {
        return ExitCode::from(check(&inputs));
    }
    match run_in_child() {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!(
                "sigild plugin check: cannot start a child process ({error}); checking in this process"
            );
            ExitCode::from(check(&inputs))
        }
    }
}

/// Re-executes this binary with the same arguments plus `--in-process`, output shared, and turns a death by
/// signal into a report line.
fn run_in_child() -> std::io::Result<u8> {
    use std::os::unix::process::ExitStatusExt as _;
    let exe = std::env::current_exe()?;
    let mut child = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .arg("--in-process")
        .spawn()?;
    let status = child.wait()?;
    if let Some(code) = status.code() {
        return Ok(u8::try_from(code).unwrap_or(EXIT_FAILED));
    }
    let signal = status.signal().unwrap_or(0);
    // The child died before removing its private copy.
    let prefix = format!("sigild-plugin-check-{}-", child.id());
    if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    println!(
        "FAIL  crash: the plugin crashed with signal {signal}{} during the step after the last line above",
        signal_name(signal).map_or(String::new(), |name| format!(" ({name})"))
    );
    println!(
        "      in sigild (in-process isolation) this takes the whole daemon down: a C plugin has no catch_unwind"
    );
    println!("result: FAILED (the plugin crashed)");
    Ok(EXIT_FAILED)
}

fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGTRAP => "SIGTRAP",
        _ => return None,
    })
}

/// The checked arguments.
struct Inputs {
    file: PathBuf,
    config: Vec<u8>,
    op: Option<String>,
    input: Option<Value>,
    trust_roots: Option<TrustStore>,
}

impl Inputs {
    fn parse(args: &CheckArgs) -> Result<Self, String> {
        let metadata =
            std::fs::metadata(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?;
        if !metadata.is_file() {
            return Err(format!("{} is not a regular file", args.file.display()));
        }
        let config = match &args.config {
            None => b"{}".to_vec(),
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(value @ Value::Object(_)) => value.to_string().into_bytes(),
                Ok(_) => return Err("--config must be a JSON object".into()),
                Err(error) => return Err(format!("--config is not JSON: {error}")),
            },
        };
        let input = args
            .input
            .as_deref()
            .map(serde_json::from_str::<Value>)
            .transpose()
            .map_err(|error| format!("--input is not JSON: {error}"))?;
        if let (Some(op), None) = (&args.op, &input)
            && !["describe", "timestamp", "list_keys", "validate_recipient"].contains(&op.as_str())
        {
            return Err(format!("op `{op}` needs its request message: --input JSON"));
        }
        let trust_roots = match &args.trust_roots {
            None => None,
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
                let mut store = TrustStore::new();
                let count = store
                    .add_pem_roots(&pem)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                if count == 0 {
                    return Err(format!("{} holds no certificate", path.display()));
                }
                Some(store)
            }
        };
        Ok(Self {
            file: args.file.clone(),
            config,
            op: args.op.clone(),
            input,
            trust_roots,
        })
    }
}

/// Prints the report line by line (flushed, so a crash keeps what came before) and counts failures.
#[derive(Default)]
struct Report {
    failed: usize,
    warnings: usize,
}

impl Report {
    fn line(&mut self, tag: &str, step: &str, message: impl std::fmt::Display) {
        match tag {
            "FAIL" => self.failed += 1,
            "WARN" => self.warnings += 1,
            _ => {}
        }
        println!("{tag:<5} {step}: {message}");
        let _ = std::io::stdout().flush();
    }

    fn pass(&mut self, step: &str, message: impl std::fmt::Display) {
        self.line("PASS", step, message);
    }

    fn fail(&mut self, step: &str, message: impl std::fmt::Display) {
        self.line("FAIL", step, message);
    }

    fn warn(&mut self, step: &str, message: impl std::fmt::Display) {
        self.line("WARN", step, message);
    }

    fn note(&self, message: impl std::fmt::Display) {
        println!("      {message}");
        let _ = std::io::stdout().flush();
    }

    fn finish(&self) -> u8 {
        if self.failed == 0 {
            match self.warnings {
                0 => println!("result: passed"),
                n => println!("result: passed with {n} warning(s)"),
            }
            EXIT_PASSED
        } else {
            println!("result: FAILED ({} check(s) failed)", self.failed);
            EXIT_FAILED
        }
    }
}

/// Every step, in the daemon's order. Answers the exit status.
fn check(inputs: &Inputs) -> u8 {
    let mut report = Report::default();
    println!("sigild plugin check {}", inputs.file.display());
    let Some(loaded) = load(inputs, &mut report) else {
        return report.finish();
    };
    let Some(descriptor) = loaded.library.descriptor.as_ref() else {
        report.fail("load", "the library was checked but not mapped");
        return report.finish();
    };
    let instance = match descriptor.create_instance(&inputs.config) {
        Ok(instance) => {
            report.pass("create", "an instance was created from the config");
            instance
        }
        Err(error) => {
            report.fail("create", describe_error(&error));
            if error.status == Status::InvalidInput {
                report.note("the daemon logs this and does not retry until the entry's config or the file changes");
            } else {
                report.note(
                    "the daemon logs this, serves without the instance and retries with back-off",
                );
            }
            return report.finish();
        }
    };
    match instance.health() {
        Ok(health) => report.pass(
            "health",
            match health.detail {
                Some(detail) => format!("healthy ({detail})"),
                None => "healthy".into(),
            },
        ),
        Err(error) => {
            report.fail("health", describe_error(&error));
            report.note(
                "the daemon does not use an instance whose health fails (first load or reload)",
            );
        }
    }
    call_op(inputs, &instance, &mut report);
    drop(instance);
    report.finish()
}

/// The library, and the temporary directory of its private copy (removed on drop).
struct Loaded {
    library: library::Library,
    copies: PathBuf,
}

impl Drop for Loaded {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.copies);
    }
}

/// The daemon's load: the file's directory acts as the plugin directory.
fn load(inputs: &Inputs, report: &mut Report) -> Option<Loaded> {
    let resolved = match inputs.file.canonicalize() {
        Ok(path) => path,
        Err(error) => {
            report.fail("file", error);
            return None;
        }
    };
    let (Some(dir), Some(name)) = (resolved.parent(), resolved.file_name()) else {
        report.fail("file", "not a file path");
        return None;
    };
    let name = name.to_string_lossy().into_owned();
    let copies = std::env::temp_dir().join(format!(
        "sigild-plugin-check-{}-{}",
        std::process::id(),
        hex::encode(rand::random::<[u8; 6]>())
    ));
    let outcome = library::load(dir, &name, None, &copies, true);
    let _ = std::fs::remove_dir(&copies); // empty when the load failed
    match outcome {
        Ok(library) => {
            report.pass(
                "file",
                format!(
                    "complete ELF shared object for this host, SHA-256 {}",
                    library.sha256
                ),
            );
            report.pass(
                "entry",
                format!("exports `{}`", sigil_plugin_api::SIGIL_PLUGIN_ENTRY_SYMBOL),
            );
            let Some(descriptor) = library.descriptor.as_ref() else {
                report.fail("descriptor", "the library was checked but not mapped");
                return None;
            };
            report.pass(
                "descriptor",
                format!(
                    "{} plugin `{}` version {}, ABI {}.{}, max_concurrency {}",
                    kind_name(descriptor.kind()),
                    descriptor.name(),
                    descriptor.version(),
                    sigil_plugin_api::SIGIL_PLUGIN_ABI_MAJOR,
                    descriptor.abi_minor(),
                    match descriptor.max_concurrency() {
                        0 => "0 (no bound)".to_string(),
                        n => n.to_string(),
                    }
                ),
            );
            config_hint(&name, descriptor.kind(), report);
            Some(Loaded { library, copies })
        }
        Err(error) => {
            let step = match &error {
                LoadError::File { .. } | LoadError::PinMismatch { .. } => "file",
                LoadError::NotElf { .. } => "file",
                LoadError::Library { .. } => "entry",
                LoadError::Descriptor { .. } => "descriptor",
            };
            if matches!(
                error,
                LoadError::Library { .. } | LoadError::Descriptor { .. }
            ) {
                report.pass("file", "complete ELF shared object for this host");
            }
            if matches!(error, LoadError::Descriptor { .. }) {
                report.pass(
                    "entry",
                    format!("exports `{}`", sigil_plugin_api::SIGIL_PLUGIN_ENTRY_SYMBOL),
                );
            }
            report.fail(step, &error);
            report.note("the daemon refuses this file the same way: logged, nothing loaded");
            None
        }
    }
}

/// How a config names this file, by the daemon's rules.
fn config_hint(name: &str, kind: PluginKind, report: &Report) {
    let bare = !name.starts_with('.') && name.ends_with(".so");
    if !bare {
        report.note(format!(
            "the daemon only loads files whose name does not start with `.`; name it lib<something>.so (`{name}` is not usable as is)"
        ));
        return;
    }
    report.note(format!(
        "copy it into [plugin_host] dir and declare it: [[plugins]] file = \"{name}\""
    ));
    if kind == PluginKind::TsaBackend {
        let short = name
            .strip_prefix("libsigil_")
            .and_then(|rest| rest.strip_suffix(".so"))
            .map(|rest| rest.replace('_', "-"));
        match short {
            Some(short) => report.note(format!(
                "or as a TSA provider: [[tsa_providers]] plugin = \"{short}\" (or \"{name}\")"
            )),
            None => report.note(format!(
                "or as a TSA provider: [[tsa_providers]] plugin = \"{name}\" (only libsigil_<name>.so files have a short name)"
            )),
        }
    }
}

fn kind_name(kind: PluginKind) -> &'static str {
    match kind {
        PluginKind::TsaBackend => "tsa_backend",
        PluginKind::KmsSigner => "kms_signer",
        PluginKind::PushChannel => "push_channel",
    }
}

fn describe_error(error: &PluginError) -> String {
    let mut text = format!("status {}", error.status.as_str());
    if let Some(class) = &error.class {
        text.push_str(&format!(", class {class}"));
    }
    if let Some(code) = error.http_status {
        text.push_str(&format!(", HTTP {code}"));
    }
    format!("{text}: {}", error.message)
}

/// Calls the chosen op and interprets the answer.
fn call_op(inputs: &Inputs, instance: &HostInstance, report: &mut Report) {
    let kind = instance.kind();
    let op = inputs.op.clone().unwrap_or_else(|| {
        match kind {
            PluginKind::TsaBackend => "describe",
            PluginKind::KmsSigner => "list_keys",
            PluginKind::PushChannel => "validate_recipient",
        }
        .to_string()
    });
    // The request the daemon itself would build when the author gives none.
    let mut built: Option<TimestampRequest> = None;
    let request: Value = match (&inputs.input, op.as_str()) {
        (Some(input), _) => input.clone(),
        (None, "timestamp") => {
            let digest = <sha2::Sha256 as sha2::Digest>::digest(b"sigild plugin check");
            let request = match TimestampRequest::new(HashAlgorithm::Sha256, &digest, None, true) {
                Ok(request) => request,
                Err(error) => {
                    report.fail(&op, format!("building a TimeStampReq: {error}"));
                    return;
                }
            };
            let message = serde_json::json!({
                "request_der": base64_encode(&request.der),
                "timeout_ms": timeout_ms(),
            });
            built = Some(request);
            message
        }
        (None, "validate_recipient") => serde_json::json!({ "recipient": "" }),
        (None, _) => serde_json::json!({}),
    };
    let answer = match instance.call(&op, request.to_string().as_bytes()) {
        Ok(answer) => answer,
        Err(error) => {
            report.fail(&op, describe_error(&error));
            explain_call_error(kind, &op, &error, report);
            return;
        }
    };
    match (kind, op.as_str()) {
        (PluginKind::TsaBackend, "describe") => describe(&answer, report),
        (PluginKind::TsaBackend, "timestamp") => {
            timestamp(&answer, built.as_ref(), inputs.trust_roots.as_ref(), report)
        }
        (PluginKind::KmsSigner, "list_keys") => {
            match sigil_plugin_api::decode_message::<ListKeysResponse>(&answer) {
                Ok(keys) => report.pass(&op, format!("{} key(s) listed", keys.keys.len())),
                Err(error) => report.fail(&op, format!("malformed message: {error}")),
            }
        }
        (PluginKind::PushChannel, "validate_recipient") => {
            match sigil_plugin_api::decode_message::<ValidateRecipientResponse>(&answer) {
                Ok(answer) => report.pass(
                    &op,
                    format!(
                        "valid = {}{}",
                        answer.valid,
                        answer
                            .reason
                            .map_or(String::new(), |r| format!(", reason: {r}"))
                    ),
                ),
                Err(error) => report.fail(&op, format!("malformed message: {error}")),
            }
        }
        (PluginKind::KmsSigner, "generate_key") => {
            typed::<sigil_plugin_api::GenerateKeyResponse>(&op, &answer, report)
        }
        (PluginKind::KmsSigner, "public_key") => {
            typed::<sigil_plugin_api::PublicKeyResponse>(&op, &answer, report)
        }
        (PluginKind::KmsSigner, "sign") => {
            typed::<sigil_plugin_api::SignResponse>(&op, &answer, report)
        }
        (PluginKind::KmsSigner, "schedule_deletion") => {
            typed::<sigil_plugin_api::ScheduleDeletionResponse>(&op, &answer, report)
        }
        (PluginKind::PushChannel, "send") => {
            typed::<sigil_plugin_api::SendResponse>(&op, &answer, report)
        }
        _ => match serde_json::from_slice::<Value>(&answer) {
            Ok(value) if answer.is_empty() || value.is_object() => {
                report.pass(&op, format!("answered {value}"))
            }
            Ok(value) => report.fail(&op, format!("answered {value}, which is not a JSON object")),
            Err(error) if answer.is_empty() => report.pass(&op, format!("answered {{}} ({error})")),
            Err(error) => report.fail(&op, format!("answered a malformed message: {error}")),
        },
    }
}

/// Decodes an op's response as the daemon's message type for it.
fn typed<Response: serde::de::DeserializeOwned + std::fmt::Debug>(
    op: &str,
    answer: &[u8],
    report: &mut Report,
) {
    match sigil_plugin_api::decode_message::<Response>(answer) {
        Ok(response) => report.pass(op, format!("{response:?}")),
        Err(error) => report.fail(op, format!("malformed message: {error}")),
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// What the daemon does with a failed call.
fn explain_call_error(kind: PluginKind, op: &str, error: &PluginError, report: &Report) {
    if error.status == Status::Panicked {
        report.note("the instance is poisoned: the daemon destroys it and creates a new one");
        return;
    }
    if error.status == Status::Unsupported {
        report.note(format!("op `{op}` is not implemented by this plugin"));
        return;
    }
    if kind == PluginKind::TsaBackend && op == "timestamp" {
        let (class, _, _) = crate::tsa::provider::classify(error.clone());
        report.note(format!(
            "the daemon counts a failed attempt of class `{class}` (toward the provider's circuit breaker) and fails over to the next TSA"
        ));
    }
}

fn describe(answer: &[u8], report: &mut Report) {
    match sigil_plugin_api::decode_message::<TsaDescription>(answer) {
        Ok(description) => {
            report.pass(
                "describe",
                format!(
                    "slug {:?}, name {:?}, hash_algorithms {:?}, qualified {}, policy_oid {}",
                    description.slug,
                    description.name,
                    description.hash_algorithms,
                    description.qualified,
                    description.policy_oid.as_deref().unwrap_or("(none)")
                ),
            );
            report.note(
                "informational: the daemon shows this answer at POST /api/plugins/{name}/probe only; a provider's slug, name, qualified and policy_oid come from its [[tsa_providers]] entry",
            );
        }
        Err(error) => {
            report.fail("describe", format!("malformed message: {error}"));
            report.note("POST /api/plugins/{name}/probe answers 502 BAD_GATEWAY for it");
        }
    }
}

fn timestamp(
    answer: &[u8],
    built: Option<&TimestampRequest>,
    trust_roots: Option<&TrustStore>,
    report: &mut Report,
) {
    let response = match sigil_plugin_api::decode_message::<TimestampResponse>(answer) {
        Ok(response) => response.response_der.0,
        Err(error) => {
            report.fail("timestamp", format!("malformed message: {error}"));
            report.note("the daemon counts a failed attempt of class `parse` and fails over");
            return;
        }
    };
    let parsed = match sigil_rfc3161::parse_response(&response) {
        Ok(parsed) => parsed,
        Err(error) => {
            report.fail(
                "timestamp",
                format!("response_der is not a TimeStampResp: {error}"),
            );
            report.note("the daemon counts a failed attempt of class `parse` and fails over");
            return;
        }
    };
    if !matches!(
        parsed.status,
        PkiStatus::Granted | PkiStatus::GrantedWithMods
    ) {
        report.fail(
            "timestamp",
            format!(
                "the TSA answered status {:?} (failInfo {:?}, text {:?})",
                parsed.status, parsed.failure_info, parsed.status_text
            ),
        );
        report.note("the daemon counts a failed attempt of class `parse` and fails over");
        return;
    }
    let Some(request) = built else {
        let token = parsed.token.as_ref();
        report.pass(
            "timestamp",
            format!(
                "status granted, genTime {}; not verified: the tool verifies only requests it built (omit --input)",
                token.map_or("?".into(), |t| t.gen_time.to_string())
            ),
        );
        return;
    };
    // The daemon's verification (tsa::provider::verify): every rule, then the anchors.
    let empty = TrustStore::new();
    let trust = trust_roots.unwrap_or(&empty);
    match sigil_rfc3161::verify_response(&response, &request.expectations(), trust) {
        Ok(verified) => {
            let summary = format!(
                "token verified: genTime {}, serial {}, policy {}, signer {}",
                verified.token.gen_time,
                verified.token.serial,
                verified.token.policy,
                verified.signer.subject
            );
            match (verified.trust.explanation(), trust_roots) {
                (None, _) => {
                    report.pass("timestamp", summary);
                    report.note("the daemon accepts it from a provider that has this root in its trust roots");
                }
                (Some(why), None) => {
                    report.warn("timestamp", format!("{summary}; not anchored: {why}"));
                    report.note("the daemon accepts it only if the provider's root is in [tsa] trust_roots_file or the provider's trust_roots_file (try --trust-roots)");
                }
                (Some(why), Some(_)) => {
                    report.fail("timestamp", format!("{summary}; {why}"));
                    report.note(
                        "the daemon refuses it with those roots: a failed attempt of class `parse`",
                    );
                }
            }
        }
        Err(error) => {
            report.fail("timestamp", format!("response refused: {error}"));
            report.note(
                "the daemon refuses it: a failed attempt of class `parse`, failover continues",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_follow_the_daemon_naming_rule() {
        let report = Report::default();
        // Only checks that nothing panics on odd names; the black-box tests read the lines.
        config_hint("libsigil_tsa_http.so", PluginKind::TsaBackend, &report);
        config_hint(".hidden.so", PluginKind::TsaBackend, &report);
        assert_eq!(report.failed, 0);
    }

    #[test]
    fn paths_of_missing_files_are_usage_errors() {
        let args = CheckArgs {
            file: PathBuf::from("/nonexistent/libx.so"),
            config: None,
            op: None,
            input: None,
            trust_roots: None,
            in_process: true,
        };
        assert!(Inputs::parse(&args).is_err());
    }
}
