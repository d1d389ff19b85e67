//! The connection loop: accepts TCP connections and serves HTTP/1.1 on each with hyper, enforcing the limits
//! that protect the daemon from slow or idle clients (`[server] header_read_timeout`, `idle_timeout`,
//! `max_connections`), and drains on shutdown. axum's own `serve` offers none of these limits.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt as _;

use crate::actors::Runtime;

/// Serves `app` on `listener` until `stop` turns true, then lets open connections finish their requests and
/// returns once they are closed. The limits are read from the current settings for each new connection, so a
/// reload applies to connections accepted after it.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    runtime: Arc<Runtime>,
    mut stop: watch::Receiver<bool>,
) {
    let open = Arc::new(AtomicUsize::new(0));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stop| *stop) => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let server = runtime.settings().1.server.clone();
        if open.load(Ordering::Acquire) >= server.max_connections {
            metrics::counter!("sigil_http_connections_refused_total").increment(1);
            connections.spawn(refuse(stream));
            continue;
        }
        let guard = OpenConnection::new(open.clone());
        let limits = Limits {
            header_read: server.header_read_timeout,
            idle: server.idle_timeout,
        };
        connections.spawn(connection(
            stream,
            peer,
            app.clone(),
            limits,
            stop.clone(),
            guard,
        ));
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// Counts an open connection for the cap while it lives.
struct OpenConnection(Arc<AtomicUsize>);

impl OpenConnection {
    fn new(open: Arc<AtomicUsize>) -> Self {
        open.fetch_add(1, Ordering::AcqRel);
        OpenConnection(open)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Clone, Copy)]
struct Limits {
    header_read: Duration,
    idle: Duration,
}

/// Over the connection cap: a short 503 in the API's error shape, then close.
async fn refuse(mut stream: TcpStream) {
    let body = r#"{"error":"too many open connections; retry later","code":"SERVICE_UNAVAILABLE","details":{}}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         retry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
    _open: OpenConnection,
) {
    let started = Instant::now();
    let activity = Arc::new(AtomicU64::new(0));
    let io = TokioIo::new(Tracked {
        inner: stream,
        started,
        activity: activity.clone(),
    });
    // Requests being worked on: a connection waiting for its handler is not idle, however long that takes.
    let (started_requests, finished_requests) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (started_count, finished_count) = (started_requests.clone(), finished_requests.clone());
    let service = app
        .map_request(move |mut request: hyper::Request<hyper::body::Incoming>| {
            started_count.fetch_add(1, Ordering::AcqRel);
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        })
        .map_response(move |response| {
            finished_count.fetch_add(1, Ordering::AcqRel);
            response
        });
    let service = TowerToHyperService::new(service);
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The header timer also runs while a kept-alive connection waits for its next request.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        // Above the router's own limit (`MAX_HEADERS`), so that most oversized requests reach it and get a
        // 431 with a body; hyper answers only the most extreme ones itself, with an empty body.
        .max_headers(4 * super::MAX_HEADERS)
        .keep_alive(true);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let mut ticker = tokio::time::interval((limits.idle / 4).max(Duration::from_millis(50)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
                return;
            }
            _ = stop.wait_for(|stop| *stop), if !stopping => {
                // Finish the request in progress, if any, then close.
                connection.as_mut().graceful_shutdown();
                stopping = true;
            }
            _ = ticker.tick() => {
                let busy = started_requests.load(Ordering::Acquire)
                    != finished_requests.load(Ordering::Acquire);
                let last = Duration::from_millis(activity.load(Ordering::Relaxed));
                if !busy && started.elapsed().saturating_sub(last) >= limits.idle {
                    tracing::debug!(%peer, "closing a connection idle for server.idle_timeout");
                    return;
                }
            }
        }
    }
}

/// A socket that records when bytes last moved in either direction (milliseconds since `started`).
struct Tracked {
    inner: TcpStream,
    started: Instant,
    activity: Arc<AtomicU64>,
}

impl Tracked {
    fn touch(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.activity.store(now, Ordering::Relaxed);
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.touch();
        }
        result
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
