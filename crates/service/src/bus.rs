//! The bus: one broadcast channel that every pipeline publishes its tracker's updates on,
//! and that any number of live consumers (WebSocket, SSE, NATS…) subscribe to.
//!
//! A `tokio::sync::broadcast` channel is a ring buffer: publishing never waits, whatever
//! the subscribers do. A subscriber that falls more than the ring's capacity behind loses
//! the oldest messages and is told how many it missed ([`Received::Lagged`]); it can then
//! re-read the state from the snapshots. That is the only place in switchboard where data
//! may be dropped, and it is dropped per subscriber, never for the pipeline or the store.
//!
//! The store does *not* sit behind this bus: completed calls go from the pipeline straight
//! to the store writer (see [`crate::sink`]), because a lagging subscriber may lose
//! messages and a call record must never be lost.

use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::broadcast;
use tracker::Update;

/// What travels on the bus.
#[derive(Debug)]
pub struct BusMessage {
    /// The PBX it comes from (the `name` of its `[[servers]]` entry).
    pub server: Arc<str>,
    /// When the pipeline published it.
    pub at: SystemTime,
    /// What happened.
    pub kind: BusKind,
}

/// The two kinds of news a pipeline publishes.
// Built once per update and shared behind an `Arc`: boxing the big variant would only add
// an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum BusKind {
    /// A change of calls, extensions or queues, as the tracker reported it.
    Update(Update),
    /// The AMI session's state changed (connected, disconnected, stopped…); the
    /// current status is in [`crate::Supervisor::statuses`].
    Session(crate::status::ConnectionState),
}

/// The sending side, cloned into every pipeline.
#[derive(Clone, Debug)]
pub struct Bus {
    tx: broadcast::Sender<Arc<BusMessage>>,
}

/// What a subscriber gets.
#[derive(Debug)]
pub enum Received {
    /// The next message.
    Message(Arc<BusMessage>),
    /// This many messages were overwritten before this subscriber read them.
    Lagged(u64),
}

impl Bus {
    /// A bus holding up to `capacity` messages for its slowest subscriber.
    pub fn new(capacity: usize) -> Bus {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Bus { tx }
    }

    /// Publishes to every current subscriber. Never waits; with nobody listening the
    /// message is simply gone.
    pub fn publish(&self, server: &Arc<str>, kind: BusKind) {
        let _ = self.tx.send(Arc::new(BusMessage {
            server: server.clone(),
            at: SystemTime::now(),
            kind,
        }));
    }

    /// A new subscriber: it sees messages published from now on.
    pub fn subscribe(&self) -> Subscription {
        Subscription {
            rx: self.tx.subscribe(),
        }
    }

    /// How many subscribers there are.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }
}

/// The receiving side of one consumer.
#[derive(Debug)]
pub struct Subscription {
    rx: broadcast::Receiver<Arc<BusMessage>>,
}

impl Subscription {
    /// The next message, or the notice that some were missed; `None` once every
    /// [`Bus`] is dropped (the service stopped).
    pub async fn recv(&mut self) -> Option<Received> {
        match self.rx.recv().await {
            Ok(m) => Some(Received::Message(m)),
            Err(broadcast::error::RecvError::Lagged(n)) => Some(Received::Lagged(n)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::ConnectionState;

    #[tokio::test]
    async fn a_slow_subscriber_is_told_it_lagged_and_publishing_never_waits() {
        let bus = Bus::new(4);
        let server: Arc<str> = Arc::from("pbx1");
        let mut slow = bus.subscribe();
        // Far more than the ring holds: publish must return every time.
        for _ in 0..100 {
            bus.publish(&server, BusKind::Session(ConnectionState::Connecting));
        }
        match slow.recv().await {
            Some(Received::Lagged(n)) => assert_eq!(n, 96),
            other => panic!("expected a lagged notice, got {other:?}"),
        }
        // Then the newest four are still there.
        for _ in 0..4 {
            assert!(matches!(slow.recv().await, Some(Received::Message(_))));
        }
    }

    #[tokio::test]
    async fn subscribers_see_only_what_is_published_after_they_subscribe() {
        let bus = Bus::new(8);
        let server: Arc<str> = Arc::from("pbx1");
        bus.publish(&server, BusKind::Session(ConnectionState::Connecting));
        let mut sub = bus.subscribe();
        bus.publish(&server, BusKind::Session(ConnectionState::Connected));
        match sub.recv().await {
            Some(Received::Message(m)) => {
                assert_eq!(&*m.server, "pbx1");
                assert!(matches!(
                    m.kind,
                    BusKind::Session(ConnectionState::Connected)
                ));
            }
            other => panic!("unexpected {other:?}"),
        }
        drop(bus);
        assert!(sub.recv().await.is_none());
    }
}
