//! The plugin host: one supervised actor per configured plugin instance, a registry that applies the
//! difference between the running instances and the config (the same path at start-up and on every reload), and
//! a file watcher that triggers reloads when a plugin file or the config changes.

pub mod frame;
pub mod instance;
pub mod library;
pub mod process;
pub mod runner;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use actix::prelude::*;
use futures::future::join_all;

use crate::config::Config;
use instance::{
    GetStatus, HostSettings, InstanceSpec, InstanceStatus, LoadFailure, PluginInstance, Refresh,
    Retire, UpdateSettings,
};

/// The registry of plugin instances.
pub struct PluginHost {
    data_dir: PathBuf,
    arbiter: ArbiterHandle,
    instances: HashMap<String, (InstanceSpec, Addr<PluginInstance>)>,
    /// Generation counters by instance name, kept after an instance is removed so that adding it back continues
    /// the numbering (generation numbers only grow while the process runs).
    generations: HashMap<String, Arc<AtomicU64>>,
    /// The plugin directory, fixed by the first config applied.
    plugin_dir: Option<PathBuf>,
}

impl PluginHost {
    /// A host whose instance actors run on `arbiter`, keeping private library copies under `data_dir`.
    pub fn new(data_dir: PathBuf, arbiter: ArbiterHandle) -> Self {
        library::remove_stale_copies(&data_dir.join("plugin-copies"));
        Self {
            data_dir,
            arbiter,
            instances: HashMap::new(),
            generations: HashMap::new(),
            plugin_dir: None,
        }
    }

    /// The settings a config asks for. The plugin directory is the one of the first config applied: it is
    /// also what the watcher watches, so like the watcher it changes at a restart only.
    fn settings_from(&mut self, config: &Config) -> HostSettings {
        HostSettings {
            plugin_dir: self
                .plugin_dir
                .get_or_insert_with(|| config.plugin_dir())
                .clone(),
            copies_dir: self.data_dir.join("plugin-copies"),
            call_timeout: config.plugin_host.call_timeout,
            max_in_flight: config.plugin_host.max_in_flight,
            health_interval: config.plugin_host.health_interval,
        }
    }
}

/// The specs the config asks for, by instance name.
pub fn wanted_instances(config: &Config) -> HashMap<String, InstanceSpec> {
    crate::wiring::plugin_instances(config)
        .iter()
        .filter(|p| p.enabled)
        .map(|p| {
            let json = serde_json::to_vec(&p.config).unwrap_or_else(|_| b"{}".to_vec());
            let spec = InstanceSpec {
                name: p.name.clone(),
                file: p.file.clone(),
                sha256: p.sha256.clone(),
                config: json,
                isolation: p.isolation,
            };
            (p.name.clone(), spec)
        })
        .collect()
}

impl Actor for PluginHost {
    type Context = Context<Self>;
}

/// Brings the running instances in line with a config: start new ones, retire removed ones, apply changed host
/// settings to the running ones in place, and let every other instance reload if its spec or its file changed.
/// Answers when every reload has finished: the serving generation, or why the instance's load failed.
#[derive(Message)]
#[rtype(result = "Vec<(String, Result<u64, LoadFailure>)>")]
pub struct Apply {
    /// The config to apply.
    pub config: Arc<Config>,
}

impl Handler<Apply> for PluginHost {
    type Result = ResponseFuture<Vec<(String, Result<u64, LoadFailure>)>>;

    fn handle(&mut self, message: Apply, _ctx: &mut Context<Self>) -> Self::Result {
        let settings = self.settings_from(&message.config);
        let wanted = wanted_instances(&message.config);

        let removed: Vec<String> = self
            .instances
            .keys()
            .filter(|name| !wanted.contains_key(*name))
            .cloned()
            .collect();
        for name in removed {
            if let Some((_, addr)) = self.instances.remove(&name) {
                tracing::info!(instance = %name, "plugin instance removed from the config; retiring it");
                addr.do_send(Retire);
            }
        }
        type Outcome = (String, Result<u64, LoadFailure>);
        let mut refreshes: Vec<futures::future::BoxFuture<'static, Outcome>> = Vec::new();
        for (name, spec) in wanted {
            if let Some((running, addr)) = self.instances.get_mut(&name) {
                // Settings first (the mailbox keeps the order), so a reload in the same pass uses them. They
                // change in place: re-creating the actor would strand every holder of its address.
                addr.do_send(UpdateSettings {
                    settings: settings.clone(),
                });
                *running = spec.clone();
                let addr = addr.clone();
                refreshes.push(Box::pin(async move {
                    let outcome = addr.send(Refresh { spec }).await.unwrap_or_else(|e| {
                        Err(LoadFailure {
                            reason: e.to_string(),
                            serving: 0,
                            retrying: false,
                        })
                    });
                    (name, outcome)
                }));
                continue;
            }
            let generations = self.generations.entry(name.clone()).or_default().clone();
            let actor_spec = spec.clone();
            let actor_settings = settings.clone();
            let addr = Supervisor::start_in_arbiter(&self.arbiter, move |_| {
                PluginInstance::new(actor_spec, actor_settings, generations)
            });
            self.instances.insert(name.clone(), (spec, addr.clone()));
            tracing::info!(instance = %name, "plugin instance starting");
            refreshes.push(Box::pin(async move {
                let _ = addr.send(instance::WaitFirstLoad).await;
                let status = addr.send(GetStatus).await;
                let outcome = match status {
                    Ok(status) if status.generation > 0 => Ok(status.generation),
                    Ok(status) => Err(LoadFailure {
                        retrying: status.retrying,
                        reason: status
                            .last_reload_error
                            .unwrap_or_else(|| "not loaded".into()),
                        serving: 0,
                    }),
                    Err(error) => Err(LoadFailure {
                        reason: error.to_string(),
                        serving: 0,
                        retrying: false,
                    }),
                };
                (name, outcome)
            }));
        }
        Box::pin(async move { join_all(refreshes).await })
    }
}

/// The address of an instance, for callers (TSA providers, signers, push channels).
#[derive(Message)]
#[rtype(result = "Option<Addr<PluginInstance>>")]
pub struct Lookup {
    /// Instance name.
    pub name: String,
}

impl Handler<Lookup> for PluginHost {
    type Result = Option<Addr<PluginInstance>>;

    fn handle(&mut self, message: Lookup, _ctx: &mut Context<Self>) -> Self::Result {
        self.instances
            .get(&message.name)
            .map(|(_, addr)| addr.clone())
    }
}

/// Status of every instance, sorted by name.
#[derive(Message)]
#[rtype(result = "Vec<InstanceStatus>")]
pub struct ListStatus;

impl Handler<ListStatus> for PluginHost {
    type Result = ResponseFuture<Vec<InstanceStatus>>;

    fn handle(&mut self, _message: ListStatus, _ctx: &mut Context<Self>) -> Self::Result {
        let addrs: Vec<_> = self
            .instances
            .values()
            .map(|(_, addr)| addr.clone())
            .collect();
        Box::pin(async move {
            let mut statuses: Vec<InstanceStatus> =
                join_all(addrs.iter().map(|addr| addr.send(GetStatus)))
                    .await
                    .into_iter()
                    .flatten()
                    .collect();
            statuses.sort_by(|a, b| a.name.cmp(&b.name));
            statuses
        })
    }
}

/// Retires every instance at shutdown.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

impl Handler<Shutdown> for PluginHost {
    type Result = ();

    fn handle(&mut self, _message: Shutdown, ctx: &mut Context<Self>) {
        for (_, (_, addr)) in self.instances.drain() {
            addr.do_send(Retire);
        }
        ctx.stop();
    }
}

/// What the watcher noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The config file changed: reload everything, as on SIGHUP.
    Config,
    /// A file in the plugin directory changed: refresh instances against the current config.
    Plugins,
}

/// Watches the plugin directory and the config file, and sends a debounced [`Change`] after each burst of events.
/// The returned watcher must be kept alive.
pub fn watch(
    plugin_dir: &std::path::Path,
    config_file: Option<&std::path::Path>,
    debounce: Duration,
    changes: tokio::sync::mpsc::UnboundedSender<Change>,
) -> notify::Result<notify::RecommendedWatcher> {
    use notify::{RecursiveMode, Watcher};
    let (raw_tx, raw_rx) = std::sync::mpsc::channel::<Change>();
    let config_name = config_file
        .and_then(|p| p.file_name())
        .map(|n| n.to_os_string());
    let config_dir = config_file
        .and_then(|p| p.parent())
        .map(|p| p.to_path_buf());
    let watched_plugin_dir = plugin_dir.to_path_buf();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, notify::EventKind::Access(_)) {
            return;
        }
        for path in &event.paths {
            let is_config = config_name
                .as_deref()
                .is_some_and(|name| path.file_name() == Some(name))
                && path.parent() == config_dir.as_deref();
            let change = if is_config {
                Change::Config
            } else if path.parent() == Some(watched_plugin_dir.as_path()) {
                Change::Plugins
            } else {
                continue;
            };
            let _ = raw_tx.send(change);
        }
    })?;
    watcher.watch(plugin_dir, RecursiveMode::NonRecursive)?;
    if let Some(dir) = config_file.and_then(|p| p.parent()) {
        let dir = if dir.as_os_str().is_empty() {
            std::path::Path::new(".")
        } else {
            dir
        };
        // Watch the directory, not the file: editors and config management replace files by renaming.
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
    }
    // Debounce on a plain thread: notify's callback thread must not block.
    std::thread::Builder::new()
        .name("sigild-plugin-watch".into())
        .spawn(move || {
            while let Ok(first) = raw_rx.recv() {
                // A config reload refreshes the plugins too, so it subsumes a plugin change in the same burst.
                let mut config = first == Change::Config;
                while let Ok(next) = raw_rx.recv_timeout(debounce) {
                    config |= next == Change::Config;
                }
                let change = if config {
                    Change::Config
                } else {
                    Change::Plugins
                };
                if changes.send(change).is_err() {
                    return;
                }
            }
        })
        .map_err(notify::Error::io)?;
    Ok(watcher)
}

/// Sends one notification through the push channel instance `name` (`send`): the channel's delivery id, or
/// why it did not go (no such instance, a transient failure, or the channel refused it for good).
pub async fn push(
    host: &Addr<PluginHost>,
    name: &str,
    recipient: String,
    payload: serde_json::Map<String, serde_json::Value>,
    idempotency_key: String,
    vapid: Option<sigil_plugin_api::VapidCredential>,
) -> Result<String, String> {
    use sigil_plugin_api::{DeliveryOutcome, SendRequest, SendResponse};
    let instance = host
        .send(Lookup {
            name: name.to_string(),
        })
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no push channel instance `{name}`"))?;
    let request = SendRequest {
        recipient,
        payload,
        idempotency_key,
        timeout_ms: None,
        vapid,
    };
    let request = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
    let answer = instance
        .send(instance::Call {
            op: sigil_plugin_api::SIGIL_OP_PUSH_SEND.to_string(),
            request,
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let response: SendResponse =
        serde_json::from_slice(&answer).map_err(|e| format!("channel answer: {e}"))?;
    match response.outcome {
        DeliveryOutcome::Failed => Err(format!(
            "refused: {}",
            response.detail.unwrap_or_else(|| "no detail".into())
        )),
        _ => Ok(response.delivery_id),
    }
}

/// Asks push channel `name` whether it can deliver to `recipient` (its `validate_recipient` op): `Ok(Ok(()))`
/// when it can, `Ok(Err(reason))` when it says why not, `Err` when the channel could not be asked.
pub async fn validate_recipient(
    host: &Addr<PluginHost>,
    name: &str,
    recipient: String,
) -> Result<Result<(), String>, String> {
    use sigil_plugin_api::ValidateRecipientResponse;
    let instance = host
        .send(Lookup {
            name: name.to_string(),
        })
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no push channel instance `{name}`"))?;
    let (_, answer) = instance
        .send(instance::Probe {
            recipient: Some(recipient),
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let response: ValidateRecipientResponse =
        serde_json::from_slice(&answer).map_err(|e| format!("channel answer: {e}"))?;
    Ok(if response.valid {
        Ok(())
    } else {
        Err(response
            .reason
            .unwrap_or_else(|| "the channel cannot deliver there".into()))
    })
}
