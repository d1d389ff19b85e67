//! The outbox dispatcher: every `poll_interval` (or at once when poked through [`WebhookService::notify`]) it
//! fans new events out into deliveries, claims due deliveries with a lease (up to the free delivery slots), and
//! delivers each on the blocking pool through a ureq agent whose resolver admits only addresses the policy
//! allows, with no redirects and no proxy. Every attempt is recorded; a failure is retried after 5, 60, 120,
//! 240, 480 minutes and then doubling, while within 24 hours of the event; after that the delivery is failed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::{Surface, WebhookService, auth_context, secret_context, signing};
use crate::store::{AttemptOutcome, WebhookAttempt, WebhookDelivery, now_ms};

/// The retry schedule's unit in production: one minute.
const MINUTE_MS: u64 = 60_000;
/// Retries happen while within this many units (24 h) of the event.
const WINDOW_UNITS: u64 = 24 * 60;
/// Events fanned out per round.
const FAN_OUT_BATCH: usize = 100;
/// A round looks for new events created this recently (ms) or later: an event commits well within this after
/// its `created_at` is taken.
const RECENT_EVENTS_MS: i64 = 10_000;
/// How often a round looks for new events whatever their age (an event whose fan-out failed, or one that took
/// longer than [`RECENT_EVENTS_MS`] to commit), and the first round always does.
const ALL_EVENTS_EVERY: Duration = Duration::from_secs(60);
/// Longest failure text kept per attempt.
const MAX_ERROR_CHARS: usize = 500;

/// The delay, in schedule units (minutes), before the attempt after `attempts_made` failed ones: 5, 60, 120,
/// 240, 480, then doubling.
pub fn retry_delay_units(attempts_made: u32) -> u64 {
    match attempts_made {
        0 | 1 => 5,
        2 => 60,
        3 => 120,
        4 => 240,
        n => 480u64.saturating_mul(1u64 << (n - 5).min(40)),
    }
}

/// When to try again after `attempts_made` failed attempts, or `None` when that would be past 24 h (in units)
/// after the event.
pub fn next_attempt_at(
    event_created_at: i64,
    attempts_made: u32,
    now: i64,
    unit_ms: u64,
) -> Option<i64> {
    let delay = retry_delay_units(attempts_made).saturating_mul(unit_ms);
    let at = now.saturating_add(i64::try_from(delay).unwrap_or(i64::MAX));
    let deadline = event_created_at
        .saturating_add(i64::try_from(WINDOW_UNITS.saturating_mul(unit_ms)).unwrap_or(i64::MAX));
    (at <= deadline).then_some(at)
}

/// The dispatcher loop; runs until its task is aborted.
pub async fn run(service: WebhookService, node: String) {
    let max_concurrent = service.runtime.settings().1.webhooks.max_concurrent;
    let slots = Arc::new(Semaphore::new(max_concurrent));
    let mut agent: Option<(u64, ureq::Agent)> = None;
    tracing::info!(%node, max_concurrent, "webhook dispatcher started");
    // Deliveries this node's crashed predecessor was making are retried now, not after their lease.
    match service
        .runtime
        .store
        .release_delivery_leases_of_node_all_tenants(&node, now_ms())
        .await
    {
        Ok(0) => {}
        Ok(count) => tracing::info!(count, "took back deliveries interrupted by a restart"),
        Err(error) => {
            tracing::warn!(%error, "could not take back interrupted deliveries; they return after their lease")
        }
    }
    let mut all_events_at: Option<tokio::time::Instant> = None;
    // Where the last round stopped when it found a full batch: the next one carries on from there.
    let mut backlog_from: Option<i64> = None;
    loop {
        let (generation, config) = service.runtime.settings();
        if agent.as_ref().is_none_or(|(g, _)| *g != generation) {
            agent = Some((generation, build_agent(&config.webhooks)));
        }
        let client = agent.as_ref().map(|(_, a)| a.clone()).expect("built above");
        let since = if all_events_at.is_none_or(|at| at.elapsed() >= ALL_EVENTS_EVERY) {
            all_events_at = Some(tokio::time::Instant::now());
            0
        } else {
            let recent = now_ms() - RECENT_EVENTS_MS;
            backlog_from.map_or(recent, |from| from.min(recent))
        };
        match round(&service, &node, &slots, &client, since).await {
            Ok(next) => backlog_from = next,
            Err(error) => {
                tracing::warn!(%error, "webhook dispatch round failed; retrying at the next poll")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(config.webhooks.poll_interval) => {}
            _ = service.notify.notified() => {}
        }
    }
}

/// A ureq agent that connects only to addresses `config`'s policy admits, follows no redirect, ignores proxy
/// variables and gives up after `timeout`.
pub fn build_agent(config: &crate::config::WebhooksConfig) -> ureq::Agent {
    guarded_agent(config.address_policy(), config.timeout)
}

/// A ureq agent that connects only to addresses `policy` admits (checked after resolution), follows no
/// redirect, ignores proxy variables, treats every status as an answer and gives up after `timeout`. Every
/// client-steerable outbound call of the daemon (webhook deliveries, seal revocation fetches) goes through it.
pub fn guarded_agent(policy: sigil_netpolicy::AddressPolicy, timeout: Duration) -> ureq::Agent {
    let agent_config = ureq::Agent::config_builder()
        // Every status is an outcome to record, not an error.
        .http_status_as_error(false)
        // A redirect would send a signed delivery to a host no rule has checked.
        .max_redirects(0)
        // Where deliveries go is decided by the endpoint and the policy, not by proxy environment variables.
        .proxy(None)
        .timeout_global(Some(timeout))
        .user_agent(concat!("sigild/", env!("CARGO_PKG_VERSION")))
        .build();
    ureq::Agent::with_parts(
        agent_config,
        ureq::unversioned::transport::DefaultConnector::default(),
        sigil_netpolicy::guard::GuardedResolver::new(policy),
    )
}

async fn round(
    service: &WebhookService,
    node: &str,
    slots: &Arc<Semaphore>,
    agent: &ureq::Agent,
    since: i64,
) -> Result<Option<i64>, crate::store::StoreError> {
    let store = &service.runtime.store;
    let config = service.runtime.settings().1;
    let events = store.new_events_all_tenants(FAN_OUT_BATCH, since).await?;
    // A full batch: more may wait, from the last one's time on.
    let backlog_from = (events.len() >= FAN_OUT_BATCH)
        .then(|| events.last().map(|event| event.created_at))
        .flatten();
    for event in events {
        // One event that cannot be fanned out now must not hold up the others or the due deliveries.
        if let Err(error) = store.fan_out_event_all_tenants(&event, now_ms()).await {
            tracing::warn!(%error, event = %event.uid, "cannot fan out an outbox event; retrying at the next poll");
        }
    }
    let free = slots.available_permits();
    if free == 0 {
        return Ok(backlog_from);
    }
    // The lease outlives an attempt with room to record it; a crashed node's rows come back after it.
    let lease_ms =
        i64::try_from(config.webhooks.timeout.as_millis() * 2).unwrap_or(i64::MAX) + 30_000;
    let claimed = store
        .claim_due_deliveries_all_tenants(node, now_ms(), lease_ms, free)
        .await?;
    // Every slot taken: more may be due, so a finished delivery starts the next round at once.
    let saturated = claimed.len() >= free;
    for delivery in claimed {
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            break;
        };
        let service = service.clone();
        let node = node.to_string();
        let agent = agent.clone();
        tokio::spawn(async move {
            deliver(&service, &node, &agent, delivery).await;
            drop(permit);
            if saturated {
                service.notify.notify_one();
            }
        });
    }
    Ok(backlog_from)
}

/// What one HTTP attempt came to.
enum Sent {
    Status(u16),
    Failed(String),
}

async fn deliver(
    service: &WebhookService,
    node: &str,
    agent: &ureq::Agent,
    delivery: WebhookDelivery,
) {
    let store = &service.runtime.store;
    let config = service.runtime.settings().1;
    let endpoint = match store.webhook_endpoint_any_tenant(&delivery.endpoint).await {
        Ok(Some(endpoint)) if endpoint.active => endpoint,
        Ok(_) => {
            let _ = store
                .abandon_delivery_all_tenants(&delivery, node, "endpoint deleted")
                .await;
            metrics::counter!("sigil_webhook_deliveries_total", "outcome" => "abandoned")
                .increment(1);
            return;
        }
        Err(error) => {
            // The lease expires and the delivery is claimed again.
            tracing::warn!(%error, delivery = %delivery.uid, "cannot read a webhook endpoint");
            return;
        }
    };
    let event = match store.outbox_event_any_tenant(&delivery.event).await {
        Ok(Some(event)) => event,
        Ok(None) => {
            let _ = store
                .abandon_delivery_all_tenants(&delivery, node, "event missing")
                .await;
            metrics::counter!("sigil_webhook_deliveries_total", "outcome" => "abandoned")
                .increment(1);
            return;
        }
        Err(error) => {
            tracing::warn!(%error, delivery = %delivery.uid, "cannot read an outbox event");
            return;
        }
    };

    let started_at = now_ms();
    let started = Instant::now();
    let secrets = &service.secrets;
    let secret = secrets.open_str(&endpoint.secret_enc, &secret_context(&endpoint.uid));
    let auth_value = match (&endpoint.auth_header, &endpoint.auth_value_enc) {
        (Some(_), Some(sealed)) => Some(secrets.open_str(sealed, &auth_context(&endpoint.uid))),
        _ => None,
    };
    let sent = match (secret, auth_value.transpose()) {
        (Ok(secret), Ok(auth_value)) => {
            let timestamp = started_at / 1000;
            let secret = secret.into_inner();
            let key = signing::standard_key(&secret).unwrap_or_else(|| secret.as_bytes().to_vec());
            let surface = Surface::parse(&endpoint.surface);
            let mut headers: Vec<(String, String)> = vec![
                ("Content-Type".into(), "application/json".into()),
                ("webhook-id".into(), event.uid.clone()),
                ("webhook-timestamp".into(), timestamp.to_string()),
            ];
            if surface != Surface::Connect {
                headers.push((
                    "webhook-signature".into(),
                    signing::standard_signature(&key, &event.uid, timestamp, &event.body),
                ));
            }
            match surface {
                Surface::Sigilum => {
                    headers.push(("X-Sigilum-Event".into(), event.topic.clone()));
                    headers.push(("X-Sigilum-Webhook-Id".into(), endpoint.uid.clone()));
                    headers.push((
                        "X-Sigilum-Signature".into(),
                        signing::sigilum_signature(&secret, &event.body),
                    ));
                }
                Surface::SigilAuth => {
                    // What the Sigil Auth Go SDK verifies: `v1,<hex HMAC(secret, "<ts>.<body>")>`.
                    headers.push(("X-Sigil-Event".into(), event.topic.clone()));
                    headers.push(("X-Sigil-Timestamp".into(), timestamp.to_string()));
                    headers.push((
                        "X-Sigil-Signature".into(),
                        signing::sigil_auth_signature(&secret, timestamp, &event.body),
                    ));
                }
                Surface::Standard => {}
                Surface::Connect => {
                    // The app holds no shared secret: the daemon's public-key signature, made with the result.
                    if let Some(signature) = &event.signature {
                        headers.push(("Sigil-Signature".into(), signature.clone()));
                    }
                }
            }
            if let (Some(name), Some(value)) = (&endpoint.auth_header, auth_value) {
                headers.push((name.clone(), value.into_inner()));
            }
            let agent = agent.clone();
            let url = endpoint.url.clone();
            let body = event.body.clone();
            let timeout = config.webhooks.timeout;
            tokio::task::spawn_blocking(move || send(&agent, &url, headers, body, timeout))
                .await
                .unwrap_or_else(|_| Sent::Failed("the delivery task panicked".into()))
        }
        _ => Sent::Failed(
            "cannot decrypt the endpoint's secret (is this node's secrets key the one that encrypted it?)".into(),
        ),
    };
    let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);

    let (status, error) = match &sent {
        Sent::Status(code) if (200..300).contains(code) => (Some(i64::from(*code)), None),
        Sent::Status(code) => (Some(i64::from(*code)), Some(format!("HTTP {code}"))),
        Sent::Failed(message) => (None, Some(message.chars().take(MAX_ERROR_CHARS).collect())),
    };
    let unit_ms = config
        .testing
        .webhook_retry_unit_ms
        .unwrap_or(MINUTE_MS)
        .max(1);
    let attempts_made = u32::try_from(delivery.attempts + 1).unwrap_or(u32::MAX);
    let outcome = if error.is_none() {
        AttemptOutcome::Delivered
    } else {
        match next_attempt_at(delivery.event_created_at, attempts_made, now_ms(), unit_ms) {
            Some(at) => AttemptOutcome::RetryAt(at),
            None => AttemptOutcome::Failed,
        }
    };
    let label = match outcome {
        AttemptOutcome::Delivered => "delivered",
        AttemptOutcome::RetryAt(_) => "retry",
        AttemptOutcome::Failed => "failed",
    };
    metrics::counter!("sigil_webhook_deliveries_total", "outcome" => label).increment(1);
    if let Some(error) = &error {
        tracing::info!(delivery = %delivery.uid, endpoint = %endpoint.uid, attempt = attempts_made, %error, outcome = label, "webhook attempt failed");
    }
    let attempt = WebhookAttempt {
        delivery: delivery.uid.clone(),
        at: started_at,
        status,
        error,
        duration_ms,
    };
    match store
        .finish_delivery_attempt_all_tenants(&delivery, node, &attempt, outcome)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(delivery = %delivery.uid, "webhook lease lost before the attempt was recorded")
        }
        Err(error) => {
            tracing::warn!(%error, delivery = %delivery.uid, "cannot record a webhook attempt; it will be retried")
        }
    }
}

/// One POST, on a blocking thread. The response body is not read: the status is the receiver's whole answer.
fn send(
    agent: &ureq::Agent,
    url: &str,
    headers: Vec<(String, String)>,
    body: String,
    timeout: Duration,
) -> Sent {
    let mut request = agent
        .post(url)
        .config()
        .timeout_global(Some(timeout))
        .build();
    for (name, value) in headers {
        request = request.header(name, value);
    }
    match request.send(body.as_bytes()) {
        Ok(response) => Sent::Status(response.status().as_u16()),
        Err(error) => match sigil_netpolicy::guard::refusal(&error) {
            Some(refused) => Sent::Failed(format!(
                "refused: {refused}; [webhooks] allow_private_networks can admit private networks"
            )),
            None => Sent::Failed(error.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_5_60_120_240_480_then_doubling() {
        let delays: Vec<u64> = (1..=8).map(retry_delay_units).collect();
        assert_eq!(delays, [5, 60, 120, 240, 480, 960, 1920, 3840]);
        assert!(retry_delay_units(200) >= 3840);
    }

    #[test]
    fn retries_stop_24_hours_after_the_event() {
        let minute = 60_000u64;
        let created = 1_000_000;
        // After the first failure, right away: in 5 minutes.
        assert_eq!(
            next_attempt_at(created, 1, created, minute),
            Some(created + 5 * 60_000)
        );
        // The cumulative schedule 5+60+120+240+480 = 905 minutes fits in 24 h; the next 960 would not.
        let mut now = created;
        let mut attempts = 0;
        while let Some(at) = next_attempt_at(created, attempts + 1, now, minute) {
            now = at;
            attempts += 1;
        }
        assert_eq!(attempts, 5);
        assert_eq!(now, created + 905 * 60_000);
        // A redelivery long after the window gets one attempt and no retry.
        let late = created + 48 * 3_600_000;
        assert_eq!(next_attempt_at(created, 1, late, minute), None);
        // The test unit scales everything.
        assert_eq!(next_attempt_at(0, 1, 0, 20), Some(100));
    }
}
