//! The `sigild` command line: parse arguments, load the config, set up logging, and hand over to the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sigild::config::Overrides;
use sigild::server::ConfigSource;

/// jemalloc instead of glibc's malloc: with many worker, lane and store threads allocating, glibc's arenas cost
/// about a sixth of the daemon's CPU on the stamp path and grew its RSS with pending approvals; jemalloc raised
/// stamp-hash by 15–25 % and lowered RSS with 10,000 pending claims from 194 to 172 MB (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Exit status for an invalid configuration or invalid arguments.
const EXIT_CONFIG: u8 = 2;

#[derive(Parser)]
#[command(
    name = "sigild",
    about = "Sigil trust daemon: timestamping, seals and approvals",
    disable_version_flag = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct ConfigArgs {
    /// Config file (TOML). Without one, every setting has its default.
    #[arg(long, env = "SIGIL_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8787.
    #[arg(long, env = "SIGIL_LISTEN", global = true)]
    listen: Option<SocketAddr>,
    /// Data directory (embedded store and generated state).
    #[arg(long, env = "SIGIL_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
}

impl ConfigArgs {
    fn source(&self) -> ConfigSource {
        ConfigSource {
            path: self.config.clone(),
            overrides: Overrides {
                listen: self.listen,
                data_dir: self.data_dir.clone(),
            },
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Serve(ConfigArgs),
    /// Validate the configuration and exit (no side effects).
    CheckConfig(ConfigArgs),
    /// Print the version.
    Version,
    /// Print the OpenAPI 3.1 document of the HTTP API (what `GET /openapi.json` serves), e.g. to refresh
    /// `docs/openapi.json`: `cargo run -p sigil-daemon -- openapi > docs/openapi.json`.
    Openapi,
    /// Manage instance administrators (operators). Run it where the daemon's store is reachable; with the
    /// embedded store, stop the daemon first (the store is opened exclusively).
    Admin {
        #[command(subcommand)]
        action: AdminAction,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Internal: runs one plugin instance for its parent sigild (`isolation = "process"`).
    #[command(hide = true)]
    PluginHost {
        /// The pid of the sigild that started it.
        #[arg(long)]
        parent: u32,
        /// The parent's private copy of the plugin library.
        library: PathBuf,
    },
    /// Tools for plugin authors.
    Plugin {
        #[command(subcommand)]
        action: PluginAction,
    },
}

#[derive(Subcommand)]
enum PluginAction {
    /// Load a plugin file as the daemon would (ELF check, descriptor), call create, health and one op, and say
    /// what the daemon would make of each answer. Exit status: 0 passed, 1 a check failed, 2 usage error.
    Check(sigild::plugin_check::CheckArgs),
}

#[derive(Subcommand)]
enum AdminAction {
    /// Make the account with this email an instance administrator.
    Grant {
        /// Email of an existing account.
        email: String,
    },
    /// Withdraw instance administration from the account with this email.
    Revoke {
        /// Email of an existing account.
        email: String,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(EXIT_CONFIG)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::PluginHost { parent, library } => {
            sigild::plugin_host::runner::run(&library, parent)
        }
        Command::Openapi => {
            print!("{}", sigild::http::openapi::document_text());
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("sigild {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::CheckConfig(args) => match args.source().check() {
            Ok(config) => {
                println!(
                    "configuration ok (store: {})",
                    config.store_url().describe()
                );
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("sigild: {error}");
                ExitCode::from(EXIT_CONFIG)
            }
        },
        Command::Serve(args) => {
            let source = args.source();
            let config = match source.load() {
                Ok(config) => config,
                Err(error) => {
                    eprintln!("sigild: {error}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            let log = sigild::telemetry::init_logging(&config.log);
            match sigild::server::run_blocking(config, source, log) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    tracing::error!(error = format!("{error:#}"), "sigild failed");
                    eprintln!("sigild: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Plugin {
            action: PluginAction::Check(args),
        } => sigild::plugin_check::run(&args),
        Command::Admin { action, config } => {
            let config = match config.source().load() {
                Ok(config) => config,
                Err(error) => {
                    eprintln!("sigild: {error}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            let (email, grant) = match action {
                AdminAction::Grant { email } => (email, true),
                AdminAction::Revoke { email } => (email, false),
            };
            match admin(config, &email, grant) {
                Ok(()) => {
                    println!(
                        "{} {email}",
                        if grant {
                            "granted administration to"
                        } else {
                            "revoked administration from"
                        }
                    );
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("sigild: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn admin(config: sigild::config::Config, email: &str, grant: bool) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = sigild::store::Store::open(&config).await.with_context(|| {
            format!(
                "opening {} (is a sigild using it right now? stop it first)",
                config.store_url().describe()
            )
        })?;
        store
            .set_admin(&email.trim().to_lowercase(), grant)
            .await
            .with_context(|| format!("no account for {email}"))?;
        let closing = store.close_watch();
        drop(store);
        closing.closed(std::time::Duration::from_secs(5)).await;
        Ok(())
    })
}
