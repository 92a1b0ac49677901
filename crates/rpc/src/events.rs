//! The finalized-event stream (`GET /v1/events`, Server-Sent Events). Every event of every
//! applied receipt of every final block is sent once, in chain order, with the SSE id
//! `"{height}:{tx_index}:{event_index}"`, the SSE event name of the `Event` variant
//! (`coupon_redeemed`, ...) and a [`StreamEvent`] as JSON data. A client that reconnects
//! with `Last-Event-ID` continues strictly after that event, so a shop backend mirroring
//! events loses none and sees none twice.
//!
//! The stream reads one block's receipts at a time and only when the client has taken
//! everything before it: at most one block's events are buffered per client. When it is
//! caught up it sleeps on the node's head watch. A failed read ends the stream with one
//! `event: error` message (an `ErrorBody`); the client resumes with its last id.

use crate::api::{ErrorBody, NodeApi, StreamEvent};
use crate::metrics::StreamGuard;
use crate::RpcError;
use axum::response::sse;
use couponchain_runtime::{Event, Receipt};
use futures_util::Stream;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::watch;

/// A position in the event stream: `(height, tx_index, event_index)`.
pub type EventPosition = (u64, u32, u32);

/// The SSE id of an event.
pub fn event_id(height: u64, tx_index: u32, event_index: u32) -> String {
    format!("{height}:{tx_index}:{event_index}")
}

/// Parses a `Last-Event-ID` (`"h:i:e"`, three decimal integers).
pub fn parse_event_id(text: &str) -> Result<EventPosition, RpcError> {
    let bad = || {
        RpcError::bad_param(
            "Last-Event-ID",
            format!("{text:?} is not an event id of the form height:tx_index:event_index"),
        )
    };
    let mut parts = text.trim().split(':');
    let (Some(h), Some(i), Some(e), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(h) && digits(i) && digits(e)) {
        return Err(bad());
    }
    Ok((
        h.parse().map_err(|_| bad())?,
        i.parse().map_err(|_| bad())?,
        e.parse().map_err(|_| bad())?,
    ))
}

/// The SSE event name of an event: its variant's snake_case name, as in its JSON.
pub fn event_name(event: &Event) -> &'static str {
    match event {
        Event::CampaignCreated { .. } => "campaign_created",
        Event::CampaignStatusChanged { .. } => "campaign_status_changed",
        Event::CouponIssued { .. } => "coupon_issued",
        Event::CouponTransferred { .. } => "coupon_transferred",
        Event::CouponClaimed { .. } => "coupon_claimed",
        Event::CouponRedeemed { .. } => "coupon_redeemed",
        Event::CouponRevoked { .. } => "coupon_revoked",
        Event::ProposalCreated { .. } => "proposal_created",
        Event::ProposalApproved { .. } => "proposal_approved",
        Event::ProposalExecuted { .. } => "proposal_executed",
        Event::ValidatorSetScheduled { .. } => "validator_set_scheduled",
    }
}

/// Where a new stream starts: the first height to read and, within it, the
/// `(tx_index, event_index)` to continue strictly after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamStart {
    pub height: u64,
    pub after: Option<(u32, u32)>,
}

/// The start of a stream: strictly after `Last-Event-ID` if given (it wins), else
/// `from_height` (below 1 counts as 1), else the block after `head` (only new events). An
/// empty `Last-Event-ID` counts as absent.
pub fn stream_start(
    last_event_id: Option<&str>,
    from_height: Option<u64>,
    head: u64,
) -> Result<StreamStart, RpcError> {
    if let Some(id) = last_event_id.filter(|id| !id.trim().is_empty()) {
        let (height, tx, ev) = parse_event_id(id)?;
        return Ok(StreamStart {
            height,
            after: Some((tx, ev)),
        });
    }
    Ok(StreamStart {
        height: from_height.map_or(head.saturating_add(1), |h| h.max(1)),
        after: None,
    })
}

/// The events of block `height`'s receipts, in order, skipping those at or before `after`.
pub fn block_events(
    height: u64,
    receipts: &[Receipt],
    after: Option<(u32, u32)>,
) -> Vec<StreamEvent> {
    let mut out = Vec::new();
    for r in receipts {
        for (i, event) in r.events().iter().enumerate() {
            let event_index = u32::try_from(i).unwrap_or(u32::MAX);
            if after.is_some_and(|a| (r.index, event_index) <= a) {
                continue;
            }
            out.push(StreamEvent {
                id: event_id(height, r.index, event_index),
                height,
                tx: r.tx,
                tx_index: r.index,
                event_index,
                event: event.clone(),
            });
        }
    }
    out
}

/// The SSE message of one event.
pub fn to_sse(ev: &StreamEvent) -> sse::Event {
    let msg = sse::Event::default()
        .id(ev.id.clone())
        .event(event_name(&ev.event));
    match serde_json::to_string(ev) {
        Ok(json) => msg.data(json),
        Err(e) => error_message(&RpcError::Internal(format!(
            "encoding event {}: {e}",
            ev.id
        ))),
    }
}

fn error_message(e: &RpcError) -> sse::Event {
    let body: ErrorBody = e.body();
    let json = serde_json::to_string(&body)
        .unwrap_or_else(|_| r#"{"code":"internal","message":"internal error"}"#.to_string());
    sse::Event::default().event("error").data(json)
}

struct Cursor<A> {
    api: Arc<A>,
    head: watch::Receiver<u64>,
    next_height: u64,
    after: Option<(u32, u32)>,
    queue: VecDeque<StreamEvent>,
    done: bool,
    /// Becomes `true` when the server shuts down; the stream then ends.
    shutdown: Option<watch::Receiver<bool>>,
    _guard: StreamGuard,
}

impl<A> Cursor<A> {
    fn shutting_down(&self) -> bool {
        self.shutdown.as_ref().is_some_and(|s| *s.borrow())
    }
}

/// Resolves when `shutdown` turns `true` (or its sender is gone); never without one.
async fn shutdown_signalled(shutdown: Option<&mut watch::Receiver<bool>>) {
    match shutdown {
        Some(rx) => {
            let _ = rx.wait_for(|down| *down).await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// The stream of SSE messages from `start`, following `head`, until `shutdown`.
pub(crate) fn event_stream<A: NodeApi>(
    api: Arc<A>,
    head: watch::Receiver<u64>,
    start: StreamStart,
    shutdown: Option<watch::Receiver<bool>>,
    guard: StreamGuard,
) -> impl Stream<Item = Result<sse::Event, Infallible>> + Send + 'static {
    let cursor = Cursor {
        api,
        head,
        next_height: start.height,
        after: start.after,
        queue: VecDeque::new(),
        done: false,
        shutdown,
        _guard: guard,
    };
    futures_util::stream::unfold(cursor, next_message)
}

async fn next_message<A: NodeApi>(
    mut c: Cursor<A>,
) -> Option<(Result<sse::Event, Infallible>, Cursor<A>)> {
    loop {
        if let Some(ev) = c.queue.pop_front() {
            return Some((Ok(to_sse(&ev)), c));
        }
        if c.done || c.shutting_down() {
            return None;
        }
        let head = *c.head.borrow_and_update();
        if c.next_height <= head {
            let height = c.next_height;
            match crate::routes::blocking(&c.api, move |a| a.receipts(height)).await {
                Ok(receipts) => {
                    c.queue = block_events(height, &receipts, c.after.take()).into();
                    c.next_height += 1;
                }
                Err(e) => {
                    c.done = true;
                    return Some((Ok(error_message(&e)), c));
                }
            }
            continue;
        }
        // Caught up: sleep until the head moves. The server shutting down, or the node
        // dropping its head sender, ends the stream.
        tokio::select! {
            changed = c.head.changed() => {
                if changed.is_err() {
                    return None;
                }
            }
            () = shutdown_signalled(c.shutdown.as_mut()) => return None,
        }
    }
}
