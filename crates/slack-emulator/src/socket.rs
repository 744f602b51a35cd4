//! The Socket Mode link: a websocket listener on its own port (tokio-tungstenite directly, so
//! only one tungstenite version is in the build). Tickets from `apps.connections.open` are
//! single-use; each socket gets `hello`, at most `max_sockets` are open at once.

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{
    Callback, ErrorResponse, Request, Response,
};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::WebSocketStream;

use super::faults::DisconnectReason;
use super::log::LogKind;
use super::shared::Shared;
use super::state::{Outbound, Socket};

/// How long a socket that was told to disconnect may still send acks before we hang up.
const DISCONNECT_GRACE: Duration = Duration::from_millis(500);

/// Accepts websocket connections until the emulator shuts down.
pub(crate) async fn serve(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Accept errors (e.g. too many open files) are transient; keep serving.
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = connection(Arc::clone(&shared), stream);
        shared.spawn(connection);
    }
}

async fn connection(shared: Arc<Shared>, stream: TcpStream) {
    let check_ticket = TicketCheck(Arc::clone(&shared));
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, check_ticket).await else {
        return;
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let registered = shared.update(|st| {
        let open = st.sockets.len();
        if open >= shared.config.max_sockets {
            return Err(open + 1);
        }
        let id = st.next_socket_id;
        st.next_socket_id += 1;
        st.sockets.insert(
            id,
            Socket {
                tx,
                hello_sent: false,
                closing: false,
            },
        );
        Ok((id, open + 1))
    });
    match registered {
        Ok((id, count)) => run(&shared, ws, id, count, rx).await,
        Err(count) => refuse(&shared, ws, count).await,
    }
}

/// Lets the websocket upgrade through only with a valid ticket; otherwise answers 401.
struct TicketCheck(Arc<Shared>);

impl Callback for TicketCheck {
    fn on_request(self, request: &Request, response: Response) -> Result<Response, ErrorResponse> {
        let shared = &self.0;
        match shared.update(|st| consume_ticket(shared, st, request)) {
            Ok(()) => Ok(response),
            Err(why) => {
                let mut rejection = ErrorResponse::new(Some(why.to_owned()));
                *rejection.status_mut() = StatusCode::UNAUTHORIZED;
                Err(rejection)
            }
        }
    }
}

/// Checks and spends the `ticket` of an upgrade request.
fn consume_ticket(
    shared: &Shared,
    st: &mut super::state::State,
    request: &Request,
) -> Result<(), &'static str> {
    let uri = request.uri();
    let query = uri.query().unwrap_or_default();
    let param = |name: &str| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let outcome = if !uri.path().starts_with("/link") {
        Err("unknown path")
    } else if param("app_id").is_some_and(|a| a != shared.config.app_id) {
        Err("wrong app_id")
    } else {
        match param("ticket").and_then(|t| st.tickets.remove(&t)) {
            None => Err("unknown or already used ticket"),
            Some(minted) if minted.elapsed() > shared.config.ticket_ttl => Err("expired ticket"),
            Some(_) => Ok(()),
        }
    };
    if let Err(why) = outcome {
        st.log(LogKind::Socket, format!("socket upgrade refused: {why}"));
    }
    outcome
}

async fn run(
    shared: &Shared,
    ws: WebSocketStream<TcpStream>,
    id: u64,
    count: usize,
    mut rx: mpsc::UnboundedReceiver<Outbound>,
) {
    let (mut sink, mut stream) = ws.split();
    let hello = json!({
        "type": "hello",
        "num_connections": count,
        "debug_info": {
            "host": "applink-emulator",
            "started": chrono::Utc::now().format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
            "build_number": 112,
            "approximate_connection_time": 18060,
        },
        "connection_info": {"app_id": shared.config.app_id},
    });
    let sent = sink.send(Frame::text(hello.to_string())).await;
    shared.update(|st| {
        if let Some(socket) = st.sockets.get_mut(&id) {
            socket.hello_sent = sent.is_ok();
        }
        if sent.is_ok() {
            st.hellos_sent += 1;
        }
        st.log(
            LogKind::Socket,
            format!("socket #{id} connected, hello sent ({count} open)"),
        );
    });
    let ended = loop {
        tokio::select! {
            outbound = rx.recv() => match outbound {
                Some(Outbound::Text(text)) => {
                    if sink.send(Frame::text(text)).await.is_err() {
                        break "send failed";
                    }
                }
                Some(Outbound::Disconnect(text)) => {
                    let _ = sink.send(Frame::text(text)).await;
                    let _ = sink.close().await;
                    drain(shared, id, &mut stream).await;
                    break "told to disconnect";
                }
                // Dropping both halves closes the TCP connection without a close frame.
                Some(Outbound::Drop) => break "dropped abruptly",
                None => break "emulator stopped",
            },
            frame = stream.next() => match frame {
                Some(Ok(Frame::Text(text))) => shared.on_client_frame(id, text.as_str()),
                Some(Ok(Frame::Close(_))) => break "closed by client",
                // Pings are answered by tungstenite itself; pongs and binary need nothing.
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break "connection lost",
            },
        }
    };
    shared.update(|st| {
        st.sockets.remove(&id);
        let open = st.sockets.len();
        st.log(
            LogKind::Socket,
            format!("socket #{id} closed: {ended} ({open} open)"),
        );
    });
}

/// After a `disconnect`, keep reading acks for a short while, until the client closes.
async fn drain<S>(shared: &Shared, id: u64, stream: &mut S)
where
    S: futures_util::Stream<Item = Result<Frame, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let reading = async {
        while let Some(Ok(frame)) = stream.next().await {
            match frame {
                Frame::Text(text) => shared.on_client_frame(id, text.as_str()),
                Frame::Close(_) => break,
                _ => {}
            }
        }
    };
    let _ = tokio::time::timeout(DISCONNECT_GRACE, reading).await;
}

/// The socket beyond the limit gets `too_many_websockets` and is closed.
async fn refuse(shared: &Shared, mut ws: WebSocketStream<TcpStream>, count: usize) {
    let refusal = json!({
        "type": "disconnect",
        "reason": DisconnectReason::TooManyWebsockets.as_str(),
        "num_connections": count,
        "debug_info": {"host": "applink-emulator"},
        "connection_info": {"app_id": shared.config.app_id},
    });
    let _ = ws.send(Frame::text(refusal.to_string())).await;
    let _ = ws.close(None).await;
    shared.update(|st| {
        st.log(
            LogKind::Socket,
            format!("socket refused: too_many_websockets ({count} attempted)"),
        );
    });
}

/// The `disconnect` frame for `reason`.
pub(crate) fn disconnect_frame(reason: DisconnectReason) -> String {
    json!({
        "type": "disconnect",
        "reason": reason.as_str(),
        "debug_info": {"host": "applink-emulator"},
    })
    .to_string()
}
