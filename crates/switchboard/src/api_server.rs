//! The HTTP API as a part of `switchboard run` that a reload can replace: a
//! [`service::Component`], staged and committed by [`service::Topology`] with the rest of
//! the configuration, all or nothing.
//!
//! `[http] listen` and `[http] tokens` change without a restart of the process. Staging
//! checks the loopback rule (no tokens on a public address is refused) and binds a new
//! address, so a port already taken refuses the whole reload while the old server goes on
//! serving; on the same address it takes a second handle on the listening socket, so the
//! new server accepts from the very socket the old one did and there is no moment without
//! an API, nor a rebind that could fail. Committing starts the new server and drains the
//! old one. `[http] ready` needs none of this: the backend reads it from the live
//! configuration at every request.

use service::config::Config;
use service::{Component, Refusal};
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
    /// A second handle on the listening socket, for the server that replaces this one on
    /// the same address.
    socket: std::net::TcpListener,
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

async fn bind(options: &http::Options) -> Result<TcpListener, String> {
    TcpListener::bind(options.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.listen))
}

/// Another handle on the same listening socket.
fn share(listener: &std::net::TcpListener) -> Result<TcpListener, String> {
    listener
        .try_clone()
        .and_then(TcpListener::from_std)
        .map_err(|e| format!("cannot share the listening socket: {e}"))
}

/// A server ready to replace the running one.
pub struct StagedApi {
    options: http::Options,
    listener: TcpListener,
}

impl<B: http::Backend> RunningApi<B> {
    /// Binds `options.listen` and serves (`http::serve_on` refuses what the loopback rule
    /// forbids; `switchboard run` checks it before it starts the service).
    pub async fn start(backend: Arc<B>, options: http::Options) -> Result<RunningApi<B>, String> {
        let listener = bind(&options).await?;
        Self::serve(backend, options, listener)
    }

    fn serve(
        backend: Arc<B>,
        options: http::Options,
        listener: TcpListener,
    ) -> Result<RunningApi<B>, String> {
        let std_listener = listener
            .into_std()
            .map_err(|e| format!("cannot keep the listening socket: {e}"))?;
        let socket = std_listener
            .try_clone()
            .map_err(|e| format!("cannot keep the listening socket: {e}"))?;
        let listener = TcpListener::from_std(std_listener)
            .map_err(|e| format!("cannot serve on the listening socket: {e}"))?;
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(http::serve_on(
            listener,
            backend.clone(),
            options.clone(),
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            },
        ));
        Ok(RunningApi {
            backend,
            options,
            socket,
            stop,
            task,
        })
    }

    /// Resolves when the server stopped on its own (it should not).
    pub async fn failed(&mut self) -> String {
        match (&mut self.task).await {
            Ok(Err(e)) => e.to_string(),
            Ok(Ok(())) => "the HTTP API stopped".into(),
            Err(e) => format!("the HTTP API failed: {e}"),
        }
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

impl<B: http::Backend> Component for RunningApi<B> {
    type Staged = StagedApi;

    async fn stage(&mut self, _: &Config, new: &Config) -> Result<Option<StagedApi>, Refusal> {
        let new = options(new);
        if new.listen == self.options.listen && new.tokens == self.options.tokens {
            return Ok(None);
        }
        let refusal = |reason: String| Refusal {
            key: "[http] listen".into(),
            reason,
        };
        http::check_listen(new.listen, &new).map_err(|e| refusal(e.to_string()))?;
        let listener = if new.listen == self.options.listen {
            share(&self.socket).map_err(refusal)?
        } else {
            bind(&new).await.map_err(refusal)?
        };
        Ok(Some(StagedApi {
            options: new,
            listener,
        }))
    }

    async fn commit(&mut self, staged: StagedApi) {
        let StagedApi { options, listener } = staged;
        let moved = (options.listen != self.options.listen).then_some(self.options.listen);
        let tokens = options.tokens.len();
        let listen = options.listen;
        match Self::serve(self.backend.clone(), options, listener) {
            Ok(new) => {
                let old = std::mem::replace(self, new);
                old.stop().await;
                match moved {
                    Some(from) => tracing::info!(%from, to = %listen, "HTTP API moved"),
                    None => tracing::info!(tokens, "HTTP API tokens reloaded"),
                }
            }
            // Only a socket call on a listener already bound can get here; the old server
            // never stopped, so the API is still there, as it was.
            Err(e) => tracing::error!("[http] not reloaded, the API keeps serving as it was: {e}"),
        }
    }
}
