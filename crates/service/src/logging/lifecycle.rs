//! The log lines of a PBX link's life, worded in one place so every session says them the
//! same way and a person can follow one PBX with `grep server=pbx1` (or a JSON query on
//! `server`). Each carries `server` and the numbers as fields, and says them in the message
//! too, for the person reading the readable format.
//!
//! ```text
//! INFO pbx1: connecting to 10.0.0.5:5038 server="pbx1"
//! INFO pbx1: connected to 10.0.0.5:5038 in 3 ms server="pbx1" elapsed_ms=3
//! INFO pbx1: authenticated as admin (md5) in 5 ms server="pbx1" ...
//! INFO pbx1: Asterisk 22.1.0, AMI 10.0.0 server="pbx1" ...
//! WARN pbx1: disconnected: keep-alive: no answer to Ping within 5 s server="pbx1" ...
//! INFO pbx1: reconnecting in 2.0 s (attempt 3) server="pbx1" ...
//! INFO pbx1: resynced: 4 calls adopted, 1 closed server="pbx1" ...
//! ```

use std::fmt::Display;
use std::time::Duration;

/// The target of these lines: `RUST_LOG=switchboard::pbx=debug` selects them.
pub const TARGET: &str = "switchboard::pbx";

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub fn connecting(server: &str, address: &str) {
    tracing::info!(target: TARGET, server, address, "{server}: connecting to {address}");
}

pub fn connected(server: &str, address: &str, elapsed: Duration) {
    let elapsed_ms = ms(elapsed);
    tracing::info!(
        target: TARGET,
        server,
        address,
        elapsed_ms,
        "{server}: connected to {address} in {elapsed_ms} ms"
    );
}

/// A TCP or TLS connection that did not come up.
pub fn connect_failed(server: &str, address: &str, error: &dyn Display, elapsed: Duration) {
    let elapsed_ms = ms(elapsed);
    tracing::warn!(
        target: TARGET,
        server,
        address,
        elapsed_ms,
        error = %error,
        "{server}: cannot connect to {address}: {error} (after {elapsed_ms} ms)"
    );
}

pub fn authenticated(server: &str, username: &str, auth: &str, elapsed: Duration) {
    let elapsed_ms = ms(elapsed);
    tracing::info!(
        target: TARGET,
        server,
        username,
        auth,
        elapsed_ms,
        "{server}: authenticated as {username} ({auth}) in {elapsed_ms} ms"
    );
}

/// The PBX refused the login: a configuration problem, not a network one.
pub fn login_refused(server: &str, username: &str, message: &str) {
    tracing::error!(
        target: TARGET,
        server,
        username,
        message,
        "{server}: login as {username} refused: {message} (check [{username}] secret, permit and deny in the PBX's manager.conf)"
    );
}

pub fn asterisk_version(server: &str, asterisk: &str, ami: &str) {
    tracing::info!(
        target: TARGET,
        server,
        asterisk,
        ami,
        "{server}: Asterisk {asterisk}, AMI {ami}"
    );
}

pub fn disconnected(server: &str, reason: &dyn Display) {
    tracing::warn!(target: TARGET, server, reason = %reason, "{server}: disconnected: {reason}");
}

pub fn reconnecting(server: &str, delay: Duration, attempt: u32) {
    let delay_s = delay.as_secs_f64();
    tracing::info!(
        target: TARGET,
        server,
        delay_s,
        attempt,
        "{server}: reconnecting in {delay_s:.1} s (attempt {attempt})"
    );
}

pub fn resynced(server: &str, adopted: usize, closed: usize) {
    tracing::info!(
        target: TARGET,
        server,
        adopted,
        closed,
        "{server}: resynced: {adopted} calls adopted, {closed} closed"
    );
}
