//! Operational endpoints: liveness, readiness, Prometheus metrics, the administrators' health view, and the
//! test suite's fault injection.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::extract::{Caller, Json, OptionalJson, Query};
use crate::actors::tenant::InjectPanic;
use crate::error::{ApiError, ApiResult};

/// GET /healthz: the process is alive and serving HTTP.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// GET /readyz: the store answers, the actor system runs and, when enabled, the local TSA can sign; 503
/// otherwise.
pub async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let store = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        state.runtime.store.ping(),
    )
    .await;
    if !matches!(store, Ok(Ok(()))) {
        return Err(
            ApiError::unavailable("store not answering").with_details(json!({ "store": "down" }))
        );
    }
    let actors = state.registry.count();
    let local_tsa = match state.config().local_tsa.enabled {
        false => "disabled",
        true => {
            let ready = match state.local_tsa.get() {
                Some(tsa) => tsa.can_sign().await,
                None => Err("the local TSA is not ready".to_string()),
            };
            if let Err(reason) = ready {
                return Err(ApiError::unavailable(reason)
                    .with_details(json!({ "store": "up", "localTsa": "down" })));
            }
            "up"
        }
    };
    Ok(Json(
        json!({ "status": "ready", "store": "up", "tenantActors": actors, "localTsa": local_tsa }),
    ))
}

/// GET /metrics: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// GET /api/admin/health: instance details for administrators.
pub async fn admin_health(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    require_admin(&state, &caller).await?;
    let actors = state.registry.count();
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptimeSeconds": state.started.elapsed().as_secs(),
        "store": { "url": state.runtime.store.description(), "schemaVersion": crate::store::SCHEMA_VERSION },
        "tenantActors": actors,
        "approvals": { "node": state.approvals.node(), "liveTimers": state.approvals.live() },
        "configGeneration": state.runtime.settings().0,
    })))
}

/// GET /api/plugins: loaded plugin instances with health and counters, for administrators.
pub async fn list_plugins(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    require_admin(&state, &caller).await?;
    let statuses = state
        .plugins
        .send(crate::plugin_host::ListStatus)
        .await
        .map_err(|_| ApiError::unavailable("the plugin host is not running"))?;
    Ok(Json(
        json!({ "pluginDir": state.config().plugin_dir(), "instances": statuses }),
    ))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProbeRequest {
    recipient: Option<String>,
}

/// POST /api/plugins/{name}/probe: runs the instance's read-only diagnostic op, for administrators.
pub async fn probe_plugin(
    State(state): State<AppState>,
    caller: Caller,
    axum::extract::Path(name): axum::extract::Path<String>,
    OptionalJson(request): OptionalJson<ProbeRequest>,
) -> ApiResult<Json<Value>> {
    require_admin(&state, &caller).await?;
    let unavailable = || ApiError::unavailable("the plugin host is not running");
    let instance = state
        .plugins
        .send(crate::plugin_host::Lookup { name: name.clone() })
        .await
        .map_err(|_| unavailable())?
        .ok_or_else(|| ApiError::not_found("plugin instance"))?;
    let (generation, response) = instance
        .send(crate::plugin_host::instance::Probe { recipient: request.recipient })
        .await
        .map_err(|_| unavailable())?
        .map_err(|error| {
            ApiError::new(crate::error::ErrorKind::BadGateway, format!("plugin call failed: {}", error.message))
                .with_details(json!({ "status": error.status.as_str(), "class": error.class.map(|c| c.to_string()) }))
        })?;
    // The daemon trusts nothing a plugin returns: a response that is not a JSON message is a failed call.
    let response: Value = serde_json::from_slice(&response).map_err(|error| {
        ApiError::new(
            crate::error::ErrorKind::BadGateway,
            "plugin answered with a malformed message",
        )
        .with_details(json!({ "reason": error.to_string() }))
    })?;
    Ok(Json(
        json!({ "instance": name, "generation": generation, "response": response }),
    ))
}

/// 403 unless the caller is a signed-in instance administrator (granted with `sigild admin grant`).
pub async fn require_admin(state: &AppState, caller: &Caller) -> ApiResult<()> {
    let Caller::Session { user, .. } = caller else {
        return Err(ApiError::forbidden(
            "instance administration needs a signed-in administrator",
        ));
    };
    match state.runtime.store.user_by_id(user).await? {
        Some(user) if user.is_admin => Ok(()),
        _ => Err(ApiError::forbidden("instance administrators only")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PanicTarget {
    target: String,
}

/// POST /_test/panic?target=handler|actor (only with `testing.fault_injection`).
pub async fn inject_panic(
    State(state): State<AppState>,
    caller: Caller,
    Query(target): Query<PanicTarget>,
) -> ApiResult<StatusCode> {
    match target.target.as_str() {
        "handler" => panic!("injected panic in a request handler"),
        "actor" => {
            let tenant = caller
                .tenant()
                .ok_or_else(|| ApiError::forbidden("needs a tenant context"))?;
            let actor = state.tenant_actor(tenant).await?;
            actor
                .send(InjectPanic)
                .await
                .map_err(crate::actors::ActorError::from)??;
            Ok(StatusCode::NO_CONTENT)
        }
        _ => Err(ApiError::invalid_field(
            "target",
            "must be `handler` or `actor`",
        )),
    }
}
