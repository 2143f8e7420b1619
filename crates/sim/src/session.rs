//! One client connection: the banner, the login, the actions, and the events.
//!
//! Asterisk's side of a session, as the recordings show it:
//!
//! 1. `Asterisk Call Manager/11.0.0\r\n` (one line, no empty line after it).
//! 2. Before login only `Login`, `Challenge` and `Logoff` are accepted; anything else gets
//!    `Response: Error` / `Message: Permission denied`.
//! 3. `Login` with `Secret`, or with `AuthType: md5` and `Key: md5hex(challenge + secret)`
//!    after an `Action: Challenge`. Success: the response, then `FullyBooted` (no
//!    `Timestamp`) and `SuccessfulAuth`, then the event stream. Failure:
//!    `Response: Error` / `Message: Authentication failed`, and the socket is closed.
//! 4. `Logoff`: `Response: Goodbye` / `Message: Thanks for all the fish.`, then EOF.
//!
//! The faults of [`Faults`](crate::faults::Faults) act here, on the way out.

use crate::cmd::{Batch, Cmd, OriginateReq};
use crate::faults::Faults;
use crate::lists;
use crate::shared::Shared;
use crate::wire::{fmt_event_tv, fmt_ts, now_us, Msg};
use ami::{AmiCodec, Frame, Message};
use bytes::BytesMut;
use futures::StreamExt;
use md5::{Digest, Md5};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::FramedRead;

/// Why a session ends (for the log).
#[derive(Debug)]
enum End {
    /// The client left or the socket failed.
    Gone,
    /// We close it on purpose (failed login, Logoff, fault, restart).
    Close,
}

struct Session {
    shared: Arc<Shared>,
    out: OwnedWriteHalf,
    peer: SocketAddr,
    local: SocketAddr,
    id: u64,
    user: Option<String>,
    challenge: Option<String>,
    events_on: bool,
    events_rx: Option<mpsc::Receiver<Arc<Batch>>>,
    sent: u64,
    buf: BytesMut,
}

/// Serves one connection until it ends.
pub(crate) async fn serve(shared: Arc<Shared>, sock: TcpStream) {
    let peer = sock
        .peer_addr()
        .unwrap_or_else(|_| ([0, 0, 0, 0], 0).into());
    let local = sock
        .local_addr()
        .unwrap_or_else(|_| ([0, 0, 0, 0], 0).into());
    let _ = sock.set_nodelay(true);
    let (rd, wr) = sock.into_split();
    shared.counters.connected.fetch_add(1, Ordering::Relaxed);
    let id = shared.counters.sessions.fetch_add(1, Ordering::Relaxed) + 1;
    let mut s = Session {
        shared: shared.clone(),
        out: wr,
        peer,
        local,
        id,
        user: None,
        challenge: None,
        events_on: true,
        events_rx: None,
        sent: 0,
        buf: BytesMut::new(),
    };
    let end = s.run(FramedRead::new(rd, AmiCodec::server())).await;
    tracing::debug!(peer = %peer, ?end, "AMI session ended");
    let _ = s.out.shutdown().await;
    shared.counters.connected.fetch_sub(1, Ordering::Relaxed);
}

impl Session {
    async fn run(
        &mut self,
        mut frames: FramedRead<tokio::net::tcp::OwnedReadHalf, AmiCodec>,
    ) -> End {
        let mut drop_rx = self.shared.faults.drop_gen.subscribe();
        let mut endless_rx = self.shared.faults.endless_gen.subscribe();
        let mut stall_rx = self.shared.faults.stall.subscribe();
        let mut close_rx = self.shared.close_gen.subscribe();
        close_rx.borrow_and_update();
        drop_rx.borrow_and_update();
        endless_rx.borrow_and_update();
        // A stalled PBX does not even greet.
        while *stall_rx.borrow_and_update() {
            tokio::select! {
                _ = stall_rx.changed() => {}
                _ = drop_rx.changed() => return End::Close,
            }
        }
        if self
            .write(b"Asterisk Call Manager/11.0.0\r\n")
            .await
            .is_err()
        {
            return End::Gone;
        }
        loop {
            // While stalled: no reading, no writing, the socket stays open.
            while *stall_rx.borrow_and_update() {
                tokio::select! {
                    _ = stall_rx.changed() => {}
                    _ = drop_rx.changed() => return End::Close,
                }
            }
            tokio::select! {
                biased;
                _ = drop_rx.changed() => return End::Close,
                _ = close_rx.changed() => {
                    // A restart: what was already sent to us (the hangups, `Shutdown`)
                    // goes out first.
                    while let Some(b) = self.events_rx.as_mut().and_then(|rx| rx.try_recv().ok()) {
                        if let Some(end) = self.events(&b).await {
                            return end;
                        }
                    }
                    return End::Close;
                }
                _ = stall_rx.changed() => continue,
                _ = endless_rx.changed() => return self.endless_line().await,
                frame = frames.next() => match frame {
                    None => return End::Gone,
                    Some(Err(e)) => {
                        tracing::debug!(peer = %self.peer, error = %e, "unreadable action");
                        return End::Close;
                    }
                    Some(Ok(Frame::Message(m))) => {
                        if let Some(end) = self.action(&m).await {
                            return end;
                        }
                    }
                    Some(Ok(Frame::Banner(_))) => {}
                },
                batch = recv(&mut self.events_rx) => match batch {
                    Some(b) => {
                        if let Some(end) = self.events(&b).await {
                            return end;
                        }
                    }
                    None => self.events_rx = None,
                },
            }
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.shared.faults.dribble.load(Ordering::Relaxed) {
            for b in bytes {
                self.out.write_all(std::slice::from_ref(b)).await?;
                tokio::task::yield_now().await;
            }
            Ok(())
        } else {
            self.out.write_all(bytes).await
        }
    }

    async fn flush_buf(&mut self) -> Option<End> {
        let bytes = std::mem::take(&mut self.buf);
        match self.write(&bytes).await {
            Ok(()) => None,
            Err(_) => Some(End::Gone),
        }
    }

    /// Writes a batch of events, with the faults that apply to events.
    async fn events(&mut self, b: &Batch) -> Option<End> {
        if !self.events_on {
            return None;
        }
        let faults = &self.shared.faults;
        let drop_after = Faults::get(&faults.drop_after);
        let garbage = Faults::get(&faults.garbage_every);
        let dribble = faults.dribble.load(Ordering::Relaxed);
        let mut from = 0;
        if drop_after == 0 && garbage == 0 && !dribble {
            // The fast path: the whole batch in one write.
            if self.out.write_all(&b.bytes).await.is_err() {
                return Some(End::Gone);
            }
            let n = b.ends.len() as u64;
            self.sent += n;
            self.shared
                .counters
                .events_sent
                .fetch_add(n, Ordering::Relaxed);
            return None;
        }
        for &end in &b.ends {
            if self.write(&b.bytes[from..end]).await.is_err() {
                return Some(End::Gone);
            }
            from = end;
            self.sent += 1;
            self.shared
                .counters
                .events_sent
                .fetch_add(1, Ordering::Relaxed);
            if garbage > 0 && self.sent.is_multiple_of(garbage) {
                // Bytes that are not AMI: control characters, invalid UTF-8, no colon.
                let junk = b"\x00\x01\xff\xfe garbage \x7f\x1b[0m not an AMI line\r\n\r\n";
                if self.write(junk).await.is_err() {
                    return Some(End::Gone);
                }
            }
            if drop_after > 0 && self.sent >= drop_after {
                return Some(End::Close);
            }
        }
        None
    }

    /// Sends a line that never ends, until the client gives up.
    async fn endless_line(&mut self) -> End {
        let chunk = vec![b'x'; 16 * 1024];
        let _ = self.out.write_all(b"Event: Endless\r\nData: ").await;
        loop {
            if self.out.write_all(&chunk).await.is_err() {
                return End::Gone;
            }
        }
    }

    fn now(&self) -> u64 {
        self.shared.clock().now()
    }

    /// Handles one action; `Some` ends the session.
    async fn action(&mut self, m: &Message) -> Option<End> {
        let name = m.name().to_ascii_lowercase();
        let aid = m.action_id().map(str::to_string);
        let aid = aid.as_deref();
        if m.kind() != ami::Kind::Action {
            let mut r = Msg::response(&mut self.buf, "Error", aid);
            r.h("Message", "Missing action in request");
            r.end();
            return self.flush_buf().await;
        }
        if self.user.is_none() && !matches!(name.as_str(), "login" | "challenge" | "logoff") {
            let mut r = Msg::response(&mut self.buf, "Error", aid);
            r.h("Message", "Permission denied");
            r.end();
            return self.flush_buf().await;
        }
        match name.as_str() {
            "login" => return self.login(m, aid).await,
            "challenge" => {
                if m.get("AuthType")
                    .is_some_and(|a| a.eq_ignore_ascii_case("md5"))
                {
                    let c = (crate::rng::mix(self.id ^ now_us()) % 1_000_000_000).to_string();
                    let mut r = Msg::response(&mut self.buf, "Success", aid);
                    r.h("Challenge", &c);
                    r.end();
                    self.challenge = Some(c);
                } else {
                    let mut r = Msg::response(&mut self.buf, "Error", aid);
                    r.h("Message", "Must specify AuthType");
                    r.end();
                }
            }
            "logoff" => {
                let mut r = Msg::response(&mut self.buf, "Goodbye", aid);
                r.h("Message", "Thanks for all the fish.");
                r.end();
                let _ = self.flush_buf().await;
                return Some(End::Close);
            }
            "ping" => {
                let mut r = Msg::response(&mut self.buf, "Success", aid);
                r.h("Ping", "Pong").h("Timestamp", &fmt_ts(now_us()));
                r.end();
            }
            "events" => {
                let mask = m.get("EventMask").unwrap_or("on");
                self.events_on = !mask.eq_ignore_ascii_case("off");
                let mut r = Msg::response(&mut self.buf, "Success", aid);
                r.h("Events", if self.events_on { "On" } else { "Off" });
                r.end();
            }
            "coreshowchannels" => {
                let now = self.now();
                let st = self.shared.state();
                lists::core_show_channels(&mut self.buf, &st, aid, now);
            }
            "status" => {
                let now = self.now();
                let ch = m.get("Channel").filter(|c| !c.is_empty());
                if let Some(c) = ch {
                    if self.shared.state().channel(c).is_none() {
                        let mut r = Msg::response(&mut self.buf, "Error", aid);
                        r.h("Message", "No such channel");
                        r.end();
                        return self.flush_buf().await;
                    }
                }
                let st = self.shared.state();
                lists::status(&mut self.buf, &st, aid, ch, now);
            }
            "extensionstatelist" => {
                let st = self.shared.state();
                lists::extension_state_list(&mut self.buf, &st, aid);
            }
            "extensionstate" => {
                let exten = m.get("Exten").unwrap_or_default().to_string();
                let st = self.shared.state();
                lists::extension_state(&mut self.buf, &st, aid, &exten);
            }
            "queuestatus" => {
                let now = self.now();
                let q = m.get("Queue").filter(|q| !q.is_empty());
                let st = self.shared.state();
                lists::queue_status(&mut self.buf, &st, aid, q, now);
            }
            "queuesummary" => {
                let now = self.now();
                let st = self.shared.state();
                lists::queue_summary(&mut self.buf, &st, aid, now);
            }
            "pjsipshowendpoints" => {
                let st = self.shared.state();
                lists::pjsip_show_endpoints(&mut self.buf, &st, &self.shared.plan, aid);
            }
            "corestatus" => self.core_status(aid),
            "command" => return self.command(m, aid).await,
            "originate" => return self.originate(m, aid).await,
            "hangup" => {
                let channel = m.get("Channel").unwrap_or_default().to_string();
                let (tx, rx) = oneshot::channel();
                let res = self.ask(Cmd::Hangup { channel, reply: tx }, rx).await;
                match res {
                    Ok(()) => {
                        let mut r = Msg::response(&mut self.buf, "Success", aid);
                        r.h("Message", "Channel Hungup");
                        r.end();
                    }
                    Err(e) => {
                        let mut r = Msg::response(&mut self.buf, "Error", aid);
                        r.h("Message", &e);
                        r.end();
                    }
                }
            }
            "redirect" | "blindtransfer" => {
                let blind = name == "blindtransfer";
                let channel = m.get("Channel").unwrap_or_default().to_string();
                let exten = m.get("Exten").unwrap_or_default().to_string();
                let context = m.get("Context").unwrap_or("internal").to_string();
                if exten.is_empty() {
                    let mut r = Msg::response(&mut self.buf, "Error", aid);
                    r.h("Message", "Exten not specified");
                    r.end();
                    return self.flush_buf().await;
                }
                let (tx, rx) = oneshot::channel();
                let cmd = Cmd::Transfer {
                    channel,
                    context,
                    exten,
                    blind,
                    reply: tx,
                };
                match self.ask(cmd, rx).await {
                    Ok(()) => {
                        let mut r = Msg::response(&mut self.buf, "Success", aid);
                        r.h(
                            "Message",
                            if blind {
                                "Transfer succeeded"
                            } else {
                                "Redirect successful"
                            },
                        );
                        r.end();
                    }
                    Err(e) => {
                        let mut r = Msg::response(&mut self.buf, "Error", aid);
                        r.h("Message", &e);
                        r.end();
                    }
                }
            }
            "atxfer" => {
                let channel = m.get("Channel").unwrap_or_default().to_string();
                let exten = m.get("Exten").unwrap_or_default().to_string();
                let context = m.get("Context").unwrap_or("internal").to_string();
                let missing = if channel.is_empty() {
                    Some("No channel specified")
                } else if exten.is_empty() {
                    Some("No extension specified")
                } else {
                    None
                };
                let answer = match missing {
                    Some(e) => Err(e.to_string()),
                    None => {
                        let (tx, rx) = oneshot::channel();
                        let cmd = Cmd::Atxfer {
                            channel,
                            context,
                            exten,
                            reply: tx,
                        };
                        self.ask(cmd, rx).await
                    }
                };
                let (status, text) = match &answer {
                    Ok(()) => ("Success", "Atxfer successfully queued"),
                    Err(e) => ("Error", e.as_str()),
                };
                let mut r = Msg::response(&mut self.buf, status, aid);
                r.h("Message", text);
                r.end();
            }
            _ => {
                let mut r = Msg::response(&mut self.buf, "Error", aid);
                r.h(
                    "Message",
                    &format!(
                        "Invalid/unknown command: {}. Use Action: ListCommands to show available commands.",
                        m.name()
                    ),
                );
                r.end();
                self.security_event("RequestBadFormat", Some(&format!("Action: {}", m.name())));
            }
        }
        self.flush_buf().await
    }

    /// Sends a command to the engine and waits for its answer.
    async fn ask<T>(
        &self,
        cmd: Cmd,
        rx: oneshot::Receiver<Result<T, String>>,
    ) -> Result<T, String> {
        if self.shared.cmd_tx.send(cmd).await.is_err() {
            return Err("The simulated PBX is shutting down".into());
        }
        rx.await
            .unwrap_or_else(|_| Err("The simulated PBX is shutting down".into()))
    }

    async fn login(&mut self, m: &Message, aid: Option<&str>) -> Option<End> {
        let username = m.get("Username").unwrap_or_default();
        let secret = self
            .shared
            .users
            .iter()
            .find(|(u, _)| u == username)
            .map(|(_, s)| s.clone());
        let md5 = m
            .get("AuthType")
            .is_some_and(|a| a.eq_ignore_ascii_case("md5"));
        let ok = match &secret {
            None => false,
            Some(secret) if md5 => match (&self.challenge, m.get("Key")) {
                (Some(c), Some(key)) => {
                    let digest = Md5::digest(format!("{c}{secret}").as_bytes());
                    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                    hex.eq_ignore_ascii_case(key)
                }
                _ => false,
            },
            Some(secret) => m.get("Secret") == Some(secret.as_str()),
        };
        if !ok || self.shared.faults.refuse_logins.load(Ordering::Relaxed) {
            let mut r = Msg::response(&mut self.buf, "Error", aid);
            r.h("Message", "Authentication failed");
            r.end();
            let _ = self.flush_buf().await;
            return Some(End::Close);
        }
        self.user = Some(username.to_string());
        self.shared.counters.logins.fetch_add(1, Ordering::Relaxed);
        if m.get("Events")
            .is_some_and(|e| e.eq_ignore_ascii_case("off"))
        {
            self.events_on = false;
        }
        let mut r = Msg::response(&mut self.buf, "Success", aid);
        r.h("Message", "Authentication accepted");
        r.end();
        let uptime = (now_us().saturating_sub(self.shared.boot_us()) / 1_000_000).to_string();
        let mut r = Msg::event(&mut self.buf, "FullyBooted", "system,all", None);
        r.h("Uptime", &uptime)
            .h("LastReload", &uptime)
            .h("Status", "Fully Booted");
        r.end();
        self.security_event("SuccessfulAuth", None);
        if let Some(end) = self.flush_buf().await {
            return Some(end);
        }
        // Events from now on.
        // Two batches in flight: enough to keep the socket busy, little to lose on a drop.
        let (tx, rx) = mpsc::channel(2);
        if self.shared.cmd_tx.send(Cmd::Subscribe(tx)).await.is_ok() {
            self.events_rx = Some(rx);
        }
        None
    }

    /// `SuccessfulAuth` / `RequestBadFormat`, to this session only.
    fn security_event(&mut self, name: &str, request: Option<&str>) {
        let now = now_us();
        let session_tv = fmt_event_tv(now);
        let user = self.user.clone().unwrap_or_default();
        let severity = if request.is_some() {
            "Error"
        } else {
            "Informational"
        };
        let mut e = Msg::event(&mut self.buf, name, "security,all", Some(now));
        e.h("EventTV", &fmt_event_tv(now))
            .h("Severity", severity)
            .h("Service", "AMI")
            .h("EventVersion", "1");
        if request.is_none() {
            e.h("AccountID", &user);
        }
        e.h("SessionID", &format!("0x7f97a4{:06x}", self.id))
            .h(
                "LocalAddress",
                &format!("IPV4/TCP/{}/{}", self.local.ip(), self.local.port()),
            )
            .h(
                "RemoteAddress",
                &format!("IPV4/TCP/{}/{}", self.peer.ip(), self.peer.port()),
            );
        match request {
            None => {
                e.h("UsingPassword", "0").h("SessionTV", &session_tv);
            }
            Some(r) => {
                e.h("RequestType", r)
                    .h("SessionTV", &session_tv)
                    .h("AccountID", &user);
            }
        }
        e.end();
    }

    fn core_status(&mut self, aid: Option<&str>) {
        let boot = self.shared.boot_us();
        let st = self.shared.state();
        let calls: std::collections::HashSet<&str> =
            st.channels().iter().map(|c| c.linkedid.as_str()).collect();
        let tv = fmt_event_tv(boot);
        let (date, time) = (&tv[..10], &tv[11..19]);
        let mut r = Msg::response(&mut self.buf, "Success", aid);
        r.h("CoreStartupDate", date)
            .h("CoreStartupTime", time)
            .h("CoreReloadDate", date)
            .h("CoreReloadTime", time)
            .h("CoreCurrentCalls", &calls.len().to_string())
            .h("CoreProcessedCalls", &st.processed_calls.to_string());
        r.end();
    }

    async fn command(&mut self, m: &Message, aid: Option<&str>) -> Option<End> {
        let cmd = m.get("Command").unwrap_or_default().trim().to_string();
        let words: Vec<&str> = cmd.split_whitespace().collect();
        let lines: Option<Vec<String>> = match words.as_slice() {
            ["core", "show", "channels", ..] => {
                Some(lists::core_show_channels_cli(&self.shared.state()))
            }
            ["core", "show", "version"] => Some(vec![
                "Asterisk 22.10.1 built by root @ vm on a x86_64 running Linux on 2026-11-24 13:08:03 UTC"
                    .into(),
            ]),
            ["core", "show", "uptime", ..] => {
                let up = now_us().saturating_sub(self.shared.boot_us()) / 1_000_000;
                Some(vec![
                    format!("System uptime: {up} seconds"),
                    format!("Last reload: {up} seconds"),
                ])
            }
            ["core", "restart", "now" | "gracefully" | "when"] => {
                // Asterisk runs the restart in this session's thread: this client gets no
                // response and no events, only EOF (`restart_via_own_command`).
                let shared = self.shared.clone();
                tokio::spawn(async move { shared.restart(std::time::Duration::from_secs(2)).await });
                return Some(End::Close);
            }
            _ => None,
        };
        match lines {
            Some(lines) => {
                let mut r = Msg::response(&mut self.buf, "Success", aid);
                r.h("Message", "Command output follows");
                for l in &lines {
                    r.h("Output", l);
                }
                r.end();
            }
            None => {
                let mut r = Msg::response(&mut self.buf, "Error", aid);
                r.h("Message", "Command output follows").h(
                    "Output",
                    &format!(
                        "No such command '{cmd}' (type 'core show help {cmd}' for other possible commands)"
                    ),
                );
                r.end();
            }
        }
        self.flush_buf().await
    }

    async fn originate(&mut self, m: &Message, aid: Option<&str>) -> Option<End> {
        let Some(channel) = m.get("Channel").filter(|c| !c.is_empty()) else {
            let mut r = Msg::response(&mut self.buf, "Error", aid);
            r.h("Message", "Channel not specified");
            r.end();
            return self.flush_buf().await;
        };
        let is_async = m
            .get("Async")
            .is_some_and(|a| matches!(a.to_ascii_lowercase().as_str(), "true" | "yes" | "1"));
        // `CallerID: "Click2Call" <2001>` → the name part.
        let caller_name = m.get("CallerID").and_then(|c| {
            let name = c
                .split('<')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('"')
                .trim();
            (!name.is_empty()).then(|| name.to_string())
        });
        let req = OriginateReq {
            channel: channel.to_string(),
            context: m.get("Context").unwrap_or("internal").to_string(),
            exten: m.get("Exten").unwrap_or_default().to_string(),
            caller_name,
            action_id: aid.map(str::to_string),
            is_async,
        };
        let (tx, rx) = oneshot::channel();
        let res = if is_async {
            self.ask(Cmd::Originate(req, tx), rx).await
        } else {
            // A synchronous Originate answers when the call is up; events keep flowing
            // to this client meanwhile.
            if self
                .shared
                .cmd_tx
                .send(Cmd::Originate(req, tx))
                .await
                .is_err()
            {
                Err("Originate failed".into())
            } else {
                let mut rx = rx;
                loop {
                    tokio::select! {
                        r = &mut rx => break r.unwrap_or_else(|_| Err("Originate failed".into())),
                        batch = recv(&mut self.events_rx) => match batch {
                            Some(b) => if let Some(end) = self.events(&b).await { return Some(end) },
                            None => self.events_rx = None,
                        },
                    }
                }
            }
        };
        match res {
            Ok(()) => {
                let mut r = Msg::response(&mut self.buf, "Success", aid);
                r.h("Message", "Originate successfully queued");
                r.end();
            }
            Err(e) => {
                let mut r = Msg::response(&mut self.buf, "Error", aid);
                r.h("Message", &e);
                r.end();
            }
        }
        self.flush_buf().await
    }
}

/// The next batch, or never when there is no subscription yet.
async fn recv(rx: &mut Option<mpsc::Receiver<Arc<Batch>>>) -> Option<Arc<Batch>> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
