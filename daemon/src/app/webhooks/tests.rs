//! The webhook service and dispatcher against the embedded store in memory and a local receiver.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::*;
use crate::config::Config;
use crate::ids::TenantId;
use crate::secret::Secret;
use crate::store::{NewOutboxEvent, Store};

/// One request as the receiver saw it: lower-cased header names, the exact body.
#[derive(Debug)]
struct Received {
    headers: HashMap<String, String>,
    body: String,
}

/// A tiny HTTP/1.1 receiver answering the given statuses in order (200 once they are used up), one request per
/// connection.
async fn receiver(statuses: Vec<u16>) -> (SocketAddr, mpsc::UnboundedReceiver<Received>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut statuses = statuses.into_iter();
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let status = statuses.next().unwrap_or(200);
            let mut buffer = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head_end, length) = loop {
                let n = socket.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break (None, 0);
                }
                buffer.extend_from_slice(&chunk[..n]);
                if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buffer[..end]).to_lowercase();
                    let length = head
                        .lines()
                        .find_map(|line| line.strip_prefix("content-length:"))
                        .and_then(|value| value.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    break (Some(end + 4), length);
                }
            };
            let Some(start) = head_end else { continue };
            while buffer.len() < start + length {
                let n = socket.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            let head = String::from_utf8_lossy(&buffer[..start - 4]).into_owned();
            let headers = head
                .lines()
                .skip(1)
                .filter_map(|line| line.split_once(':'))
                .map(|(name, value)| (name.trim().to_lowercase(), value.trim().to_string()))
                .collect();
            let body = String::from_utf8_lossy(&buffer[start..]).into_owned();
            let _ = tx.send(Received { headers, body });
            let answer =
                format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = socket.write_all(answer.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
    });
    (address, rx)
}

/// Polls `check` until it yields something; the timeout only bounds a hung test.
async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let polled = async {
        loop {
            if let Some(found) = check().await {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), polled)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

fn test_config(private: &[&str]) -> Config {
    let mut config = Config::default();
    config.storage.url = Some("mem://".into());
    config.webhooks.allow_private_networks = private.iter().map(|c| c.to_string()).collect();
    config.webhooks.poll_interval = Duration::from_millis(50);
    config.webhooks.timeout = Duration::from_secs(5);
    config.testing.webhook_retry_unit_ms = Some(20);
    config
}

async fn service(config: Config) -> (WebhookService, Store) {
    let store = Store::open(&config).await.expect("open mem:// store");
    let runtime = Arc::new(Runtime::new(store.clone(), config));
    let service = WebhookService::new(runtime, Arc::new(SecretBox::from_key(&[9u8; 32])));
    (service, store)
}

fn scope() -> TenantScope {
    TenantScope::authenticated(TenantId::new("t-1"))
}

fn input(url: &str, secret: &str) -> NewEndpointInput {
    NewEndpointInput {
        url: url.into(),
        events: Vec::new(),
        secret: Secret::new(secret.into()),
        auth_header: None,
        auth_value: None,
    }
}

const ALLOWED: &[&str] = &["request.approved", "request.rejected"];

#[tokio::test]
async fn endpoint_creation_validates_and_views_hide_the_secret() {
    let (service, store) = service(test_config(&[])).await;
    let owner = "service:s1";
    let secret = "0123456789abcdef-secret";
    let create = |input: NewEndpointInput| {
        let service = service.clone();
        async move {
            service
                .create_endpoint(&scope(), owner, Surface::Sigilum, input, ALLOWED)
                .await
        }
    };
    for url in [
        "ftp://example.org/x",
        "example.org/x",
        "http:///x",
        "https://user:pw@example.org/x",
        "http://127.0.0.1:8080/x",
        "http://[::1]/x",
        "http://2130706433/x",
        "http://169.254.169.254/latest",
        "http://10.1.2.3/x",
    ] {
        let error = create(input(url, secret)).await.unwrap_err();
        assert!(
            matches!(error, WebhookError::InvalidUrl(_)),
            "{url}: {error}"
        );
    }
    for (bad, field) in [
        (input("https://example.org/x", "short"), "secret"),
        (
            input("https://example.org/x", "whsec_not*base64*at*all"),
            "secret",
        ),
        (
            NewEndpointInput {
                events: vec!["request.submitted".into()],
                ..input("https://example.org/x", secret)
            },
            "events",
        ),
        (
            NewEndpointInput {
                auth_header: Some("X-Key".into()),
                ..input("https://example.org/x", secret)
            },
            "auth_value",
        ),
        (
            NewEndpointInput {
                auth_header: Some("Content-Type".into()),
                auth_value: Some(Secret::new("x".into())),
                ..input("https://example.org/x", secret)
            },
            "auth_header",
        ),
    ] {
        match create(bad).await.unwrap_err() {
            WebhookError::Validation { field: got, .. } => assert_eq!(got, field),
            other => panic!("{field}: {other}"),
        }
    }

    let created = create(NewEndpointInput {
        auth_header: Some("Authorization".into()),
        auth_value: Some(Secret::new("Bearer very-secret-token".into())),
        ..input("https://example.org/hook", secret)
    })
    .await
    .unwrap();
    assert!(
        created.id.starts_with("wh_") && created.id.len() == 19,
        "{}",
        created.id
    );
    assert_eq!(created.events, ALLOWED);
    assert!(created.active);
    let shown = serde_json::to_string(&created).unwrap();
    assert!(
        !shown.contains(secret) && !shown.contains("very-secret-token"),
        "{shown}"
    );
    // At rest the secret and the auth value are sealed.
    let stored = store
        .webhook_endpoint(&scope(), owner, &created.id)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.secret_enc.starts_with("enc:v1:"));
    assert!(!stored.secret_enc.contains(secret));
    assert!(
        stored
            .auth_value_enc
            .as_deref()
            .is_some_and(|v| v.starts_with("enc:v1:"))
    );
    assert_eq!(
        service
            .secrets
            .open_str(&stored.secret_enc, &secret_context(&created.id))
            .unwrap()
            .expose(),
        secret
    );
    // Sealed under its own row: another endpoint's context does not open it.
    assert!(
        service
            .secrets
            .open_str(&stored.secret_enc, &secret_context("wh_ffffffffffffffff"))
            .is_err()
    );

    for _ in 0..4 {
        create(input("https://example.org/hook", secret))
            .await
            .unwrap();
    }
    assert!(matches!(
        create(input("https://example.org/hook", secret))
            .await
            .unwrap_err(),
        WebhookError::LimitReached
    ));
    service
        .delete_endpoint(&scope(), owner, &created.id)
        .await
        .unwrap();
    assert!(matches!(
        service.delete_endpoint(&scope(), owner, &created.id).await,
        Err(WebhookError::NotFound(_))
    ));
    assert_eq!(
        service.list_endpoints(&scope(), owner).await.unwrap().len(),
        4
    );
    create(input("https://example.org/hook", secret))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatcher_signs_retries_records_every_attempt_and_refuses_private_addresses() {
    let (address, mut received) = receiver(vec![500, 200]).await;
    let (service, store) = service(test_config(&["127.0.0.0/8"])).await;
    let secret = "0123456789abcdef-receiver-secret";
    let endpoint = service
        .create_endpoint(
            &scope(),
            "service:s1",
            Surface::Sigilum,
            NewEndpointInput {
                auth_header: Some("X-Api-Key".into()),
                auth_value: Some(Secret::new("k-123".into())),
                ..input(&format!("http://{address}/hook"), secret)
            },
            ALLOWED,
        )
        .await
        .unwrap();
    // An endpoint on a private address the policy does not admit, recorded directly (creation refuses its
    // literal address); its deliveries must be refused at connection time.
    let private = "wh_00000000000000aa";
    store
        .create_webhook_endpoint(
            &scope(),
            &crate::store::NewWebhookEndpoint {
                uid: private.into(),
                owner: "service:s2".into(),
                surface: "standard".into(),
                url: "http://10.0.0.1:9/hook".into(),
                events: vec!["request.approved".into()],
                secret_enc: service.secrets.seal_str(secret, &secret_context(private)),
                auth_header: None,
                auth_value_enc: None,
            },
            MAX_ACTIVE_ENDPOINTS,
        )
        .await
        .unwrap();

    let body = r#"{"event":"request.approved","timestamp":"2026-01-01T00:00:00.000Z","data":{"claim_id":"cl_1"}}"#;
    let event = NewOutboxEvent {
        id: NewOutboxEvent::new_id(),
        tenant: TenantId::new("t-1"),
        owner: "service:s1".into(),
        topic: "request.approved".into(),
        body: body.into(),
        signature: None,
    };
    store.enqueue_event(&event).await.unwrap();
    store
        .enqueue_event(&NewOutboxEvent {
            id: NewOutboxEvent::new_id(),
            owner: "service:s2".into(),
            ..event.clone()
        })
        .await
        .unwrap();
    let dispatcher = service.spawn_dispatcher("test-node".into());
    service.notify().notify_one();

    let scope = scope();
    let delivered = wait_for("the retried delivery", || {
        let service = service.clone();
        let (scope, id) = (scope.clone(), endpoint.id.clone());
        async move {
            let (deliveries, _) = service
                .deliveries(&scope, "service:s1", &id, 10, 0)
                .await
                .ok()?;
            deliveries.into_iter().find(|d| d.state == "delivered")
        }
    })
    .await;
    assert_eq!(delivered.event_id, event.id);
    assert_eq!(delivered.event, "request.approved");
    assert_eq!(delivered.attempts, 2);
    let statuses: Vec<Option<i64>> = delivered.attempt_log.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(500), Some(200)]);
    assert_eq!(delivered.attempt_log[0].error.as_deref(), Some("HTTP 500"));
    assert!(delivered.attempt_log[1].error.is_none());
    assert_eq!(delivered.last_status, Some(200));
    assert!(delivered.next_attempt_at.is_none());

    let mut requests = Vec::new();
    for _ in 0..2 {
        requests.push(
            tokio::time::timeout(Duration::from_secs(10), received.recv())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let key = signing::standard_key(secret).unwrap();
    for request in &requests {
        let h = &request.headers;
        assert_eq!(request.body, body, "the exact body");
        // The same id on every attempt: receivers deduplicate on it.
        assert_eq!(h["webhook-id"], event.id);
        let timestamp: i64 = h["webhook-timestamp"].parse().unwrap();
        assert_eq!(
            h["webhook-signature"],
            signing::standard_signature(&key, &event.id, timestamp, body)
        );
        assert_eq!(
            h["x-sigilum-signature"],
            signing::sigilum_signature(secret, body)
        );
        assert!(h["x-sigilum-signature"].starts_with("sha256="));
        assert_eq!(h["x-sigilum-event"], "request.approved");
        assert_eq!(h["x-sigilum-webhook-id"], endpoint.id);
        assert_eq!(h["x-api-key"], "k-123");
        assert_eq!(h["content-type"], "application/json");
    }

    // Redelivery: queued again with its attempts kept, and a new attempt recorded.
    let queued = service
        .redeliver(&scope, "service:s1", &endpoint.id, &delivered.id)
        .await
        .unwrap();
    assert_eq!(queued.state, "pending");
    assert_eq!(queued.attempts, 2);
    let again = wait_for("the redelivery", || {
        let service = service.clone();
        let (scope, id) = (scope.clone(), endpoint.id.clone());
        async move {
            let (deliveries, _) = service
                .deliveries(&scope, "service:s1", &id, 10, 0)
                .await
                .ok()?;
            deliveries
                .into_iter()
                .find(|d| d.state == "delivered" && d.attempts == 3)
        }
    })
    .await;
    assert_eq!(again.attempt_log.len(), 3);
    let third = tokio::time::timeout(Duration::from_secs(10), received.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(third.headers["webhook-id"], event.id);

    // The private address: refused before any connection, and recorded.
    let refused = wait_for("the refused attempt", || {
        let service = service.clone();
        let scope = scope.clone();
        async move {
            let (deliveries, _) = service
                .deliveries(&scope, "service:s2", private, 10, 0)
                .await
                .ok()?;
            deliveries.into_iter().find(|d| d.attempts >= 1)
        }
    })
    .await;
    let attempt = &refused.attempt_log[0];
    assert_eq!(attempt.status, None);
    let error = attempt.error.as_deref().unwrap_or_default();
    assert!(
        error.contains("refused") && error.contains("10.0.0.1"),
        "{error}"
    );
    assert!(
        ["pending", "delivering"].contains(&refused.state.as_str()),
        "retried on schedule: {}",
        refused.state
    );
    assert!(matches!(
        service
            .redeliver(&scope, "service:s1", private, &refused.id)
            .await,
        Err(WebhookError::NotFound(_))
    ));
    dispatcher.abort();
}
