//! The HTTP API as a part of `switchboard run` that a reload can replace.
//!
//! `[http] listen` and `[http] tokens` change without a restart of the process: the new
//! server is bound before the old one stops when the address changes (no moment without an
//! API, and a port already taken leaves the old server serving), and on the same address
//! the old one stops first, then the new one binds the freed port. A configuration the
//! loopback rule refuses (no tokens on a public address) is refused here too, and the API
//! keeps serving as it was: a reload never leaves the service less protected, or without
//! its API, because of a typo. `[http] ready` needs none of this: the backend reads it from
//! the live configuration at every request.

use service::config::Config;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a replaced or stopped server may take to finish the requests in flight.
const DRAIN: Duration = Duration::from_secs(5);

/// A serving HTTP API.
pub struct RunningApi<B: http::Backend> {
    backend: Arc<B>,
    options: http::Options,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), http::ServeError>>,
}

/// The HTTP options a configuration asks for.
pub fn options(config: &Config) -> http::Options {
    http::Options {
        listen: config.http.listen,
        tokens: config
            .http
            .tokens
            .iter()
            .map(|t| t.expose().to_string())
            .collect(),
        ..http::Options::default()
    }
}

/// Binds the listen address. The loopback rule is `http::serve_on`'s to enforce; a reload
/// checks it before it stops anything.
async fn bind(options: &http::Options) -> Result<TcpListener, String> {
    TcpListener::bind(options.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.listen))
}

impl<B: http::Backend> RunningApi<B> {
    /// Binds `options.listen` and serves (`http::serve_on` refuses what the loopback rule
    /// forbids; `switchboard run` checks it before it starts the service).
    pub async fn start(backend: Arc<B>, options: http::Options) -> Result<RunningApi<B>, String> {
        let listener = bind(&options).await?;
        Ok(Self::serve(backend, options, listener))
    }

    fn serve(backend: Arc<B>, options: http::Options, listener: TcpListener) -> RunningApi<B> {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(http::serve_on(
            listener,
            backend.clone(),
            options.clone(),
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            },
        ));
        RunningApi {
            backend,
            options,
            stop,
            task,
        }
    }

    /// Resolves when the server stopped on its own (it should not).
    pub async fn failed(&mut self) -> String {
        match (&mut self.task).await {
            Ok(Err(e)) => e.to_string(),
            Ok(Ok(())) => "the HTTP API stopped".into(),
            Err(e) => format!("the HTTP API failed: {e}"),
        }
    }

    /// Serves with `new` from now on, if it differs and can be served; otherwise keeps
    /// serving as before and logs why. `Err` only when the API could not be brought back on
    /// its own address (the process should then stop: it has no API).
    pub async fn reload(self, new: http::Options) -> Result<RunningApi<B>, String> {
        if new.listen == self.options.listen && new.tokens == self.options.tokens {
            return Ok(self);
        }
        if let Err(e) = http::check_listen(new.listen, &new) {
            tracing::error!("[http] not reloaded, the API keeps serving as it was: {e}");
            return Ok(self);
        }
        let backend = self.backend.clone();
        if new.listen != self.options.listen {
            let listener = match bind(&new).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!("[http] not reloaded, the API keeps serving as it was: {e}");
                    return Ok(self);
                }
            };
            let old = self.options.listen;
            self.stop().await;
            tracing::info!(from = %old, to = %new.listen, "HTTP API moved");
            return Ok(Self::serve(backend, new, listener));
        }
        // Same address: free it first. A few tries, as the old server may still hold it
        // for a moment while its last connections close.
        self.stop().await;
        let mut last = String::new();
        for _ in 0..20 {
            match bind(&new).await {
                Ok(listener) => {
                    tracing::info!(tokens = new.tokens.len(), "HTTP API tokens reloaded");
                    return Ok(Self::serve(backend, new, listener));
                }
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(last)
    }

    /// Stops accepting, lets requests in flight finish (up to a few seconds).
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(DRAIN, &mut self.task).await.is_err() {
            // Slow clients do not get to keep an old configuration (old tokens) alive.
            self.task.abort();
        }
    }
}
