//! The bounded queue between the socket and whoever consumes the events.
//!
//! Nothing is ever dropped here. When the queue is full the session stops reading from the
//! socket (TCP then pushes back on Asterisk) until the consumer catches up; see
//! [`Connection`](crate::Connection) for what that does to keep-alive and action deadlines.
//!
//! How far behind the consumer is, is measured here: the queue depth and the age of the
//! oldest event still waiting ([`QueueProbe`]).

use crate::message::Message;
use crate::status::Disconnect;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;

/// What the event stream yields, in wire order.
#[derive(Clone, Debug)]
pub enum SessionEvent {
    /// A session was established (login accepted). Every [`SessionEvent::Event`] that
    /// follows, up to the matching [`SessionEvent::Disconnected`], belongs to this session.
    Connected {
        /// Session number, from 1, one more for every successful login of a client.
        session: u64,
        /// The AMI protocol version of the banner (`11.0.0` on Asterisk 22).
        protocol_version: String,
        /// Asterisk's own version (`22.10.1`), when the user may ask for it.
        asterisk_version: Option<String>,
        /// When the login was accepted.
        at: SystemTime,
    },
    /// An `Event:` message, exactly as read: live events, items of action lists, events
    /// carrying an `ActionID` (`OriginateResponse`, …). Responses never come here.
    Event(Message),
    /// The session ended; no more events of it will follow.
    Disconnected {
        /// The session that ended.
        session: u64,
        /// Why.
        reason: Disconnect,
        /// When the end was noticed.
        at: SystemTime,
    },
}

struct Item {
    event: SessionEvent,
    received_at: SystemTime,
}

/// State shared by both ends: when each queued event arrived, oldest first.
#[derive(Default)]
struct Shared {
    arrivals: Mutex<VecDeque<Instant>>,
}

impl Shared {
    fn arrivals(&self) -> std::sync::MutexGuard<'_, VecDeque<Instant>> {
        // A panic while holding this lock cannot leave the deque inconsistent (every
        // operation on it is a single push or pop), so a poisoned lock is still usable.
        self.arrivals.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Creates a queue holding at most `capacity` events (at least one).
pub(crate) fn channel(capacity: usize) -> (EventSender, EventStream) {
    let capacity = capacity.max(1);
    let (tx, rx) = mpsc::channel(capacity);
    let shared = Arc::new(Shared::default());
    (
        EventSender {
            tx,
            shared: shared.clone(),
            capacity,
        },
        EventStream {
            rx,
            shared,
            last_received_at: None,
        },
    )
}

/// Why an event could not be queued right away.
pub(crate) enum PushError {
    /// The queue is full: pause reading and wait for space.
    Full(SessionEvent),
    /// The consumer is gone: there is nobody to deliver to.
    Closed,
}

/// The session's end of the queue.
#[derive(Clone)]
pub(crate) struct EventSender {
    tx: mpsc::Sender<Item>,
    shared: Arc<Shared>,
    capacity: usize,
}

impl EventSender {
    /// Queues `event` if there is room.
    pub(crate) fn try_push(&self, event: SessionEvent) -> Result<(), PushError> {
        // The arrival is recorded before the item can be seen, so the consumer never pops
        // an arrival that is not there yet (one producer at a time).
        let now = Instant::now();
        self.shared.arrivals().push_back(now);
        let item = Item {
            event,
            received_at: SystemTime::now(),
        };
        match self.tx.try_send(item) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.shared.arrivals().pop_back();
                match e {
                    mpsc::error::TrySendError::Full(item) => Err(PushError::Full(item.event)),
                    mpsc::error::TrySendError::Closed(_) => Err(PushError::Closed),
                }
            }
        }
    }

    /// Waits until there is room. `false` when the consumer is gone.
    /// Cancel-safe: a cancelled wait reserves nothing.
    pub(crate) async fn wait_for_room(&self) -> bool {
        match self.tx.reserve().await {
            // Dropping the permit gives the slot back; the caller pushes right after, and
            // being the only producer, finds it free.
            Ok(_permit) => true,
            Err(_) => false,
        }
    }

    /// Queues `event`, waiting for room. Returns `false` (and drops the event) only when
    /// the consumer is gone.
    pub(crate) async fn push(&self, mut event: SessionEvent) -> bool {
        loop {
            match self.try_push(event) {
                Ok(()) => return true,
                Err(PushError::Closed) => return false,
                Err(PushError::Full(back)) => {
                    event = back;
                    if !self.wait_for_room().await {
                        return false;
                    }
                }
            }
        }
    }

    /// A read-only view for statistics.
    pub(crate) fn probe(&self) -> QueueProbe {
        QueueProbe {
            shared: self.shared.clone(),
            capacity: self.capacity,
        }
    }
}

/// Looks at the queue without touching it: how full, how old.
#[derive(Clone)]
pub struct QueueProbe {
    shared: Arc<Shared>,
    capacity: usize,
}

impl QueueProbe {
    /// Events waiting for the consumer.
    pub fn depth(&self) -> usize {
        self.shared.arrivals().len()
    }

    /// How many events the queue holds at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How long the oldest waiting event has been waiting: the consumer's lag.
    pub fn oldest_age(&self) -> Option<Duration> {
        self.shared.arrivals().front().map(|t| t.elapsed())
    }
}

/// The consumer's end: [`SessionEvent`]s in wire order. Also a [`futures::Stream`].
///
/// Drain it steadily: while it is full, the session reads nothing from Asterisk — not even
/// the responses that [`send`](crate::ClientHandle::send) is waiting for. So never await a
/// `send` from the task that drains this stream while holding events unconsumed.
pub struct EventStream {
    rx: mpsc::Receiver<Item>,
    shared: Arc<Shared>,
    last_received_at: Option<SystemTime>,
}

impl EventStream {
    /// The next event; `None` once the client or connection is gone and everything it
    /// queued has been taken.
    pub async fn recv(&mut self) -> Option<SessionEvent> {
        std::future::poll_fn(|cx| self.poll_next_event(cx)).await
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<SessionEvent> {
        let item = self.rx.try_recv().ok()?;
        Some(self.took(item))
    }

    fn poll_next_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<SessionEvent>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(item)) => Poll::Ready(Some(self.took(item))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn took(&mut self, item: Item) -> SessionEvent {
        self.shared.arrivals().pop_front();
        self.last_received_at = Some(item.received_at);
        item.event
    }

    /// When the event last returned was read from the socket (wall clock). For events
    /// without a `Timestamp:` header this is the best time there is; it is earlier than
    /// "now" by however long the event waited in the queue.
    pub fn last_received_at(&self) -> Option<SystemTime> {
        self.last_received_at
    }
}

impl futures::Stream for EventStream {
    type Item = SessionEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SessionEvent>> {
        self.get_mut().poll_next_event(cx)
    }
}
