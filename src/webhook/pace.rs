//! What a receiver bounds while a delivery is not yet verified: the pace of its body, and the
//! bytes all such deliveries hold together.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_core::Stream;
use tokio::sync::futures::OwnedNotified;
use tokio::sync::Notify;
use tokio::time::Sleep;

use crate::driver::BoxError;
use crate::error::{Error, ErrorKind, Limit};

/// The unverified bytes of every delivery being received, bounded in total.
///
/// A delivery holds a [`Ticket`] while it is read; each chunk of its body is counted on it
/// before it goes on. When a chunk does not fit:
///
/// 1. a delivery that has made no progress for [`STALLED`] or more (the stalest) is told to end
///    ([`Ticket::evicted`]), and the chunk waits for the room it frees;
/// 2. else, when the chunk's delivery is the oldest one held, the youngest other is told to
///    end, so that the oldest always finishes;
/// 3. else the chunk waits for room (its connection is not read meanwhile), as deliveries
///    ahead of it finish.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: u64,
    state: Mutex<State>,
    /// Woken when bytes are released.
    freed: Arc<Notify>,
    next: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    used: u64,
    holders: HashMap<u64, Holder>,
}

#[derive(Debug)]
struct Holder {
    started: Instant,
    bytes: u64,
    last_progress: Instant,
    evict: Arc<Notify>,
}

/// How long without a byte makes a delivery stalled, the first to make room.
pub(crate) const STALLED: Duration = Duration::from_secs(1);

/// What [`Budget::reserve`] did.
enum Reserved {
    Done,
    /// Another delivery was told to make room: wait for it.
    Wait,
    /// Nothing can make room: this delivery alone is over the budget.
    Never,
}

impl Budget {
    pub(crate) fn new(limit: u64) -> Budget {
        Budget {
            limit,
            state: Mutex::new(State::default()),
            freed: Arc::new(Notify::new()),
            next: AtomicU64::new(0),
        }
    }

    /// A ticket for one delivery, holding no bytes yet.
    pub(crate) fn ticket(self: &Arc<Self>) -> Ticket {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let evict = Arc::new(Notify::new());
        self.lock().holders.insert(
            id,
            Holder {
                started: Instant::now(),
                bytes: 0,
                last_progress: Instant::now(),
                evict: Arc::clone(&evict),
            },
        );
        Ticket {
            budget: Arc::clone(self),
            id,
            evict,
        }
    }

    /// Bytes held by deliveries not yet verified, right now.
    pub(crate) fn used(&self) -> u64 {
        self.lock().used
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn reserve(&self, id: u64, n: u64) -> Reserved {
        let mut state = self.lock();
        if state.used + n <= self.limit {
            state.used += n;
            if let Some(holder) = state.holders.get_mut(&id) {
                holder.bytes += n;
                holder.last_progress = Instant::now();
            }
            return Reserved::Done;
        }
        let others = || {
            state
                .holders
                .iter()
                .filter(move |(other, holder)| **other != id && holder.bytes > 0)
        };
        if others().next().is_none() {
            return Reserved::Never;
        }
        let stalled = others()
            .filter(|(_, holder)| holder.last_progress.elapsed() >= STALLED)
            .min_by_key(|(_, holder)| holder.last_progress);
        let started = state.holders.get(&id).map(|holder| holder.started);
        let oldest = others().all(|(_, holder)| Some(holder.started) > started);
        let victim = stalled.or_else(|| {
            oldest
                .then(|| others().max_by_key(|(_, holder)| holder.started))
                .flatten()
        });
        if let Some((_, holder)) = victim {
            holder.evict.notify_one();
        }
        Reserved::Wait
    }

    fn release(&self, id: u64) {
        let mut state = self.lock();
        if let Some(holder) = state.holders.remove(&id) {
            state.used -= holder.bytes;
        }
        drop(state);
        self.freed.notify_waiters();
    }
}

/// One delivery's share of the [`Budget`], released when dropped (the delivery verified,
/// refused or cut).
#[derive(Debug)]
pub(crate) struct Ticket {
    budget: Arc<Budget>,
    id: u64,
    evict: Arc<Notify>,
}

impl Ticket {
    /// Resolves when another delivery needs this one's room: the delivery is then to end.
    pub(crate) async fn evicted(&self) {
        self.evict.notified().await;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.budget.release(self.id);
    }
}

/// How slowly a body may come: at least `bytes_per_second` on average over every `window`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MinRate {
    pub(crate) bytes_per_second: u64,
    pub(crate) window: Duration,
}

impl MinRate {
    fn least(&self) -> u64 {
        let bytes = u128::from(self.bytes_per_second) * self.window.as_millis() / 1000;
        u64::try_from(bytes).unwrap_or(u64::MAX)
    }
}

/// A delivery's body, paced and counted: it fails when a window passes with fewer bytes than
/// the minimum rate asks for ([`ErrorKind::Timeout`]), and each chunk waits for its room in
/// the budget (or fails, [`ErrorKind::LimitExceeded`], when this delivery alone is over it).
pub(crate) struct Paced<'t, S> {
    inner: Pin<Box<S>>,
    rate: MinRate,
    window_bytes: u64,
    window_end: Pin<Box<Sleep>>,
    ticket: &'t Ticket,
    /// A chunk waiting for room in the budget, and the wait for a release.
    held: Option<(Bytes, Pin<Box<OwnedNotified>>)>,
    /// While a chunk waits: when to look again (a delivery may have stalled meanwhile).
    recheck: Pin<Box<Sleep>>,
}

impl<'t, S> Paced<'t, S> {
    pub(crate) fn new(inner: S, rate: MinRate, ticket: &'t Ticket) -> Self {
        Paced {
            inner: Box::pin(inner),
            rate,
            window_bytes: 0,
            window_end: Box::pin(tokio::time::sleep(rate.window)),
            ticket,
            held: None,
            recheck: Box::pin(tokio::time::sleep(Duration::ZERO)),
        }
    }

    /// Counts `chunk` in the budget: `Ready(Ok)` once it fits.
    fn place(
        &mut self,
        cx: &mut Context<'_>,
        chunk: Bytes,
        mut wait: Option<Pin<Box<OwnedNotified>>>,
    ) -> Poll<Result<Bytes, BoxError>> {
        let budget = &self.ticket.budget;
        loop {
            // Enabled before trying, so that a release in between is not missed.
            let mut waiting = wait.take().unwrap_or_else(|| {
                let mut waiting = Box::pin(Arc::clone(&budget.freed).notified_owned());
                waiting.as_mut().enable();
                waiting
            });
            match budget.reserve(self.ticket.id, chunk.len() as u64) {
                Reserved::Done => return Poll::Ready(Ok(chunk)),
                Reserved::Never => {
                    let err = Error::limit_exceeded(Limit::UnverifiedBytes, budget.limit);
                    return Poll::Ready(Err(Box::new(err)));
                }
                Reserved::Wait => {
                    if waiting.as_mut().poll(cx).is_ready() {
                        continue;
                    }
                    if self.recheck.is_elapsed() {
                        let next = tokio::time::Instant::now() + STALLED / 4;
                        self.recheck.as_mut().reset(next);
                    }
                    if self.recheck.as_mut().poll(cx).is_ready() {
                        continue;
                    }
                    self.held = Some((chunk, waiting));
                    return Poll::Pending;
                }
            }
        }
    }
}

impl<S, E> Stream for Paced<'_, S>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: Into<BoxError>,
{
    type Item = Result<Bytes, BoxError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some((chunk, waiting)) = this.held.take() {
            return this.place(cx, chunk, Some(waiting)).map(Some);
        }
        if this.window_end.as_mut().poll(cx).is_ready() {
            if this.rate.bytes_per_second > 0 && this.window_bytes < this.rate.least() {
                let err = Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "the body came slower than {} bytes a second over {} ms",
                        this.rate.bytes_per_second,
                        this.rate.window.as_millis()
                    ),
                )
                .with_http_status(408);
                return Poll::Ready(Some(Err(Box::new(err))));
            }
            this.window_bytes = 0;
            let next = tokio::time::Instant::now() + this.rate.window;
            this.window_end.as_mut().reset(next);
            // Polled again so that the new deadline wakes this task.
            let _ = this.window_end.as_mut().poll(cx);
        }
        match ready!(this.inner.as_mut().poll_next(cx)) {
            Some(Ok(chunk)) => {
                this.window_bytes += chunk.len() as u64;
                this.place(cx, chunk, None).map(Some)
            }
            Some(Err(e)) => Poll::Ready(Some(Err(e.into()))),
            None => Poll::Ready(None),
        }
    }
}
