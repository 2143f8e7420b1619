//! A minimal AMI client over the `ami` codec, for the tests.
#![allow(dead_code)]

use ami::{AmiCodec, Frame, Message};
use futures::StreamExt;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

pub struct Client {
    pub io: Framed<TcpStream, AmiCodec>,
    pub banner: String,
}

pub fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/asterisk/22.10.1")
        .join(name)
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let sock = TcpStream::connect(addr)
            .await
            .expect("connect to the simulator");
        let mut io = Framed::new(sock, AmiCodec::client());
        let banner = match tokio::time::timeout(Duration::from_secs(5), io.next()).await {
            Ok(Some(Ok(Frame::Banner(b)))) => b.line,
            other => panic!("expected a banner, got {other:?}"),
        };
        Client { io, banner }
    }

    pub async fn send(&mut self, raw: &str) {
        let raw = raw.replace('\n', "\r\n");
        use tokio::io::AsyncWriteExt;
        self.io.get_mut().write_all(raw.as_bytes()).await.unwrap();
    }

    /// The next message, or None at EOF / after 5 s.
    pub async fn next(&mut self) -> Option<Message> {
        match tokio::time::timeout(Duration::from_secs(5), self.io.next()).await {
            Ok(Some(Ok(Frame::Message(m)))) => Some(m),
            _ => None,
        }
    }

    /// Reads until a message matches.
    pub async fn until(&mut self, f: impl Fn(&Message) -> bool) -> Message {
        loop {
            let m = self
                .next()
                .await
                .expect("stream ended before the expected message");
            if f(&m) {
                return m;
            }
        }
    }

    pub async fn login(addr: SocketAddr) -> Client {
        let mut c = Client::connect(addr).await;
        c.send("Action: Login\nActionID: l1\nUsername: admin\nSecret: amp111\n\n")
            .await;
        let r = c.next().await.unwrap();
        assert_eq!(r.get("Message"), Some("Authentication accepted"), "{r:?}");
        c
    }

    pub async fn action(&mut self, raw: &str, aid: &str) -> Message {
        self.send(raw).await;
        self.until(|m| m.kind() == ami::Kind::Response && m.action_id() == Some(aid))
            .await
    }
}
