//! Our Socket Mode client.
//!
//! slack-morphism's listener handles the envelopes of one socket strictly one after another
//! and reconnects at a fixed interval with no jitter and no regard for the disconnect
//! reason. We need envelopes handled concurrently (an ack waits for a database commit, and
//! one slow commit must not hold up every click behind it), backoff with jitter, and
//! `link_disabled` treated as "stop hammering Slack". So this one piece is ours; the Web API
//! client and the models stay slack-morphism's.
//!
//! Each connection: `apps.connections.open` → websocket → `hello` → envelopes, each handled
//! in its own task whose result becomes the ack, sent on the same socket.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::{FutureExt, SinkExt, StreamExt};
use prometheus_client::metrics::histogram::Histogram;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{sleep, timeout, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, info_span, warn, Instrument};

use super::backoff::Backoff;
use super::envelope::{ack_frame, parse_frame, Envelope, Frame};

/// Handles one envelope; the value it returns is the ack's payload.
pub type Handler = Arc<dyn Fn(Envelope) -> BoxFuture<'static, Option<Value>> + Send + Sync>;
/// Calls `apps.connections.open` and returns the websocket URL.
pub type Opener = Arc<dyn Fn() -> BoxFuture<'static, Result<String, OpenError>> + Send + Sync>;

/// Why `apps.connections.open` gave no URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// Worth retrying with backoff: network trouble, a Slack outage, a rate limit.
    Retry(String),
    /// The app token is wrong or revoked: no retry can succeed, so the sockets stop.
    Fatal(String),
}

#[derive(Debug, Clone)]
pub struct SocketConfig {
    pub connections: usize,
    pub ping_interval: Duration,
    /// No pong for this long and the socket is presumed dead.
    pub pong_timeout: Duration,
    /// Slack wants an ack within 3 s; past this the handler is abandoned and a bare ack sent.
    pub handler_timeout: Duration,
    /// On shutdown or disconnect, how long in-flight envelopes may take to finish.
    pub drain_timeout: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl Default for SocketConfig {
    fn default() -> Self {
        SocketConfig {
            connections: 2,
            ping_interval: Duration::from_secs(10),
            pong_timeout: Duration::from_secs(35),
            handler_timeout: Duration::from_millis(2800),
            drain_timeout: Duration::from_secs(3),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
        }
    }
}

/// What readiness and metrics read.
#[derive(Debug)]
pub struct SocketStatus {
    connected: AtomicUsize,
    reconnects: AtomicU64,
    envelopes: AtomicU64,
    app_id: Mutex<Option<String>>,
    ack_latency: Histogram,
}

impl SocketStatus {
    /// `ack_latency` observes envelope-received → ack-queued, in seconds.
    pub fn new(ack_latency: Histogram) -> Self {
        SocketStatus {
            connected: AtomicUsize::new(0),
            reconnects: AtomicU64::new(0),
            envelopes: AtomicU64::new(0),
            app_id: Mutex::new(None),
            ack_latency,
        }
    }

    pub fn connected(&self) -> usize {
        self.connected.load(Ordering::Relaxed)
    }

    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }

    pub fn envelopes(&self) -> u64 {
        self.envelopes.load(Ordering::Relaxed)
    }

    /// Our app id as Slack's `hello` gave it; envelopes for another app are refused.
    pub fn app_id(&self) -> Option<String> {
        self.app_id.lock().ok().and_then(|a| a.clone())
    }
}

/// Runs `config.connections` sockets until `shutdown` is cancelled and every in-flight
/// envelope has been acked (or `drain_timeout` has passed). Ends early with the reason only
/// when Slack refuses the app token: every other failure is retried with backoff.
pub async fn run(
    config: SocketConfig,
    open: Opener,
    handler: Handler,
    status: Arc<SocketStatus>,
    shutdown: CancellationToken,
) -> Result<(), String> {
    let mut sockets = JoinSet::new();
    for index in 0..config.connections.max(1) {
        let (config, open, handler, status, shutdown) = (
            config.clone(),
            open.clone(),
            handler.clone(),
            status.clone(),
            shutdown.clone(),
        );
        sockets.spawn(
            connection_loop(config, open, handler, status, shutdown)
                .instrument(info_span!("socket", connection = index)),
        );
    }
    while let Some(ended) = sockets.join_next().await {
        match ended {
            Ok(Ok(())) => {}
            Ok(Err(fatal)) => return Err(fatal),
            Err(e) if e.is_panic() => return Err(format!("a socket connection panicked: {e}")),
            Err(_) => {}
        }
    }
    Ok(())
}

#[derive(Debug)]
enum SessionEnd {
    Shutdown,
    Disconnect(String),
    Closed,
    Failed(String),
}

async fn connection_loop(
    config: SocketConfig,
    open: Opener,
    handler: Handler,
    status: Arc<SocketStatus>,
    shutdown: CancellationToken,
) -> Result<(), String> {
    let mut backoff = Backoff::new(config.backoff_min, config.backoff_max);
    let mut first = true;
    loop {
        if !first {
            status.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        first = false;
        let end = match open().await {
            Err(OpenError::Fatal(e)) => {
                error!(error.message = %e, "Slack refused the app token at apps.connections.open; check SLACK_APP_TOKEN");
                return Err(format!("apps.connections.open refused the app token: {e}"));
            }
            Err(OpenError::Retry(e)) => {
                SessionEnd::Failed(format!("apps.connections.open failed: {e}"))
            }
            Ok(url) => {
                // Nagle off: an ack is one small frame, and held back behind an earlier one
                // not yet acknowledged it would wait for Slack's next packet (tens of ms).
                let nodelay = true;
                match tokio_tungstenite::connect_async_with_config(url.as_str(), None, nodelay)
                    .await
                {
                    Err(e) => SessionEnd::Failed(format!("websocket connect failed: {e}")),
                    Ok((ws, _)) => {
                        session(ws, &config, &handler, &status, &shutdown, &mut backoff).await
                    }
                }
            }
        };
        let delay = match &end {
            SessionEnd::Shutdown => return Ok(()),
            SessionEnd::Disconnect(reason) if reason == "too_many_websockets" => {
                warn!(reason, "Slack has more than 10 sockets for this app: too many replicas or connections per replica; backing off");
                backoff.next_delay()
            }
            SessionEnd::Disconnect(reason) if reason == "link_disabled" => {
                error!(reason, "Slack disabled Socket Mode for this app; enable it in the app settings. Retrying with backoff");
                backoff.next_delay()
            }
            SessionEnd::Disconnect(reason) => {
                info!(reason, "Slack asked us to reconnect");
                Duration::ZERO
            }
            SessionEnd::Closed => {
                warn!("socket closed by peer; reconnecting");
                backoff.next_delay()
            }
            SessionEnd::Failed(e) => {
                let d = backoff.next_delay();
                warn!(error.message = %e, retry_in_ms = d.as_millis() as u64, attempt = backoff.attempts(), "socket mode connection failed");
                d
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = sleep(delay) => {}
        }
    }
}

async fn session<S>(
    ws: tokio_tungstenite::WebSocketStream<S>,
    config: &SocketConfig,
    handler: &Handler,
    status: &Arc<SocketStatus>,
    shutdown: &CancellationToken,
    backoff: &mut Backoff,
) -> SessionEnd
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut write, mut read) = ws.split();
    let (ack_tx, mut ack_rx) = mpsc::channel::<String>(1024);
    let mut inflight: JoinSet<()> = JoinSet::new();
    let mut ping = tokio::time::interval(config.ping_interval);
    ping.reset();
    let mut last_pong = Instant::now();
    let mut greeted = false;

    let end = loop {
        tokio::select! {
            biased;
            Some(ack) = ack_rx.recv() => {
                if let Err(e) = write.send(Message::Text(ack.into())).await {
                    break SessionEnd::Failed(format!("sending an ack failed: {e}"));
                }
            }
            _ = shutdown.cancelled() => break SessionEnd::Shutdown,
            frame = read.next() => match frame {
                Some(Ok(Message::Text(text))) => match parse_frame(text.as_str()) {
                    Frame::Hello { app_id, num_connections } => {
                        if !greeted {
                            greeted = true;
                            status.connected.fetch_add(1, Ordering::Relaxed);
                        }
                        if let (Some(id), Ok(mut slot)) = (app_id, status.app_id.lock()) {
                            *slot = Some(id);
                        }
                        backoff.reset();
                        info!(num_connections, "socket mode connected");
                    }
                    Frame::Disconnect { reason } => break SessionEnd::Disconnect(reason),
                    Frame::Envelope(envelope) => {
                        status.envelopes.fetch_add(1, Ordering::Relaxed);
                        inflight.spawn(handle(envelope, handler.clone(), ack_tx.clone(), config.handler_timeout, status.clone()));
                    }
                    Frame::Unreadable(why) => warn!(why, "dropped an unreadable socket frame"),
                },
                Some(Ok(Message::Pong(_))) => last_pong = Instant::now(),
                Some(Ok(Message::Close(_))) | None => break SessionEnd::Closed,
                Some(Ok(_)) => {}
                Some(Err(e)) => break SessionEnd::Failed(format!("socket read failed: {e}")),
            },
            _ = ping.tick() => {
                if last_pong.elapsed() > config.pong_timeout {
                    break SessionEnd::Failed("no pong from Slack; the socket is presumed dead".into());
                }
                if write.send(Message::Ping(Vec::new().into())).await.is_err() {
                    break SessionEnd::Failed("sending a ping failed".into());
                }
            }
            Some(_) = inflight.join_next(), if !inflight.is_empty() => {}
        }
    };

    // Envelopes already taken on this socket still get their ack on it while it is open:
    // an interactive envelope that is not acked is never redelivered.
    if !matches!(end, SessionEnd::Failed(_) | SessionEnd::Closed) {
        let deadline = Instant::now() + config.drain_timeout;
        drop(ack_tx);
        loop {
            tokio::select! {
                ack = ack_rx.recv() => match ack {
                    Some(ack) => { let _ = write.send(Message::Text(ack.into())).await; }
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline) => {
                    warn!(left = inflight.len(), "gave up waiting for in-flight envelopes");
                    break;
                }
            }
        }
        let _ = write.send(Message::Close(None)).await;
    }
    inflight.abort_all();
    if greeted {
        status.connected.fetch_sub(1, Ordering::Relaxed);
    }
    debug!(?end, "socket session ended");
    end
}

/// Runs one handler with a deadline and a panic guard, then queues its ack.
async fn handle(
    envelope: Envelope,
    handler: Handler,
    acks: mpsc::Sender<String>,
    limit: Duration,
    status: Arc<SocketStatus>,
) {
    let received = Instant::now();
    let user = envelope
        .payload
        .pointer("/user/id")
        .or_else(|| envelope.payload.get("user_id"))
        .and_then(serde_json::Value::as_str)
        .unwrap_or("-")
        .to_string();
    let span = info_span!(
        "envelope",
        envelope_id = %envelope.envelope_id,
        kind = ?envelope.kind,
        user = %user,
        request = tracing::field::Empty
    );
    let ack_to = envelope.ack_to();
    let work = std::panic::AssertUnwindSafe(handler(envelope)).catch_unwind();
    let payload = match timeout(limit, work).instrument(span.clone()).await {
        Ok(Ok(payload)) => payload,
        Ok(Err(_)) => {
            span.in_scope(|| error!("the envelope handler panicked; acking without a payload"));
            None
        }
        Err(_) => {
            span.in_scope(|| {
                error!(
                    limit_ms = limit.as_millis() as u64,
                    "the envelope handler ran out of time; acking without a payload"
                )
            });
            None
        }
    };
    status.ack_latency.observe(received.elapsed().as_secs_f64());
    let _ = acks.send(ack_frame(&ack_to, payload)).await;
}
