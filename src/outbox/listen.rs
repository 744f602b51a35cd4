//! Wake-ups for the worker from `NOTIFY`s sent by committing transactions.

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::store::OUTBOX_CHANNEL;

/// Turns [`OUTBOX_CHANNEL`] notifications into wake-ups, reading them as they come, even
/// while the worker is busy draining. A listening backend delivers a notification inside a
/// transaction of its own; if the client stops reading and the socket fills, the backend
/// blocks there holding its snapshot, and Postgres can vacuum no outbox row delivered since.
/// (Read only between drains, a burst of 100,000 clicks did that: dead index entries piled up
/// in the pending indexes and a claim took 139 ms.) Many notifications make one wake-up.
pub(super) async fn listen(
    pool: &PgPool,
    heard: impl Fn(bool),
    shutdown: &CancellationToken,
    retry: Duration,
) {
    let mut listener = loop {
        let connected = async {
            let mut l = PgListener::connect_with(pool).await?;
            l.listen(OUTBOX_CHANNEL).await?;
            Ok::<_, sqlx::Error>(l)
        };
        match connected.await {
            Ok(l) => break l,
            Err(e) => {
                warn!(error.message = %e, "outbox: cannot LISTEN yet; polling meanwhile");
                if stopped_while_waiting(shutdown, retry).await {
                    return;
                }
            }
        }
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            got = listener.try_recv() => match got {
                Ok(Some(_)) => heard(true),
                // The connection was lost; the next call reconnects and re-listens. Anything
                // notified meanwhile is found by a drain.
                Ok(None) => heard(false),
                Err(e) => {
                    warn!(error.message = %e, "outbox: LISTEN connection failed; polling meanwhile");
                    if stopped_while_waiting(shutdown, retry).await {
                        return;
                    }
                }
            }
        }
    }
}

/// Waits before the listener tries again (at least a second, so a database that refuses
/// connections is not hammered); `true` when shutdown came first.
async fn stopped_while_waiting(shutdown: &CancellationToken, retry: Duration) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => true,
        _ = tokio::time::sleep(retry.max(Duration::from_secs(1))) => false,
    }
}
