//! `switchboard run` and `switchboard demo`: thin glue that loads the configuration, starts
//! the [`service::Service`] and the HTTP API on it, reloads on SIGHUP or a changed file,
//! and shuts down cleanly on SIGTERM/SIGINT (pipelines stopped, call history flushed).

use service::config::{Config, Secret, ServerConfig, Sources};
use service::watch::{self, WatchOptions};
use service::{Service, Topology};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::sync::watch as tokio_watch;

use crate::api_server::{self, RunningApi};

#[derive(clap::Args)]
pub struct RunArgs {
    /// The configuration file (default: ./switchboard.toml if it exists). The environment
    /// (AMI_HOST, AMI_PORT, AMI_USERNAME, AMI_PASSWORD, DATABASE_URL, HTTP_LISTEN) and
    /// `.env` complete or override it.
    #[arg(long, short)]
    config: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Where the HTTP API listens.
    #[arg(long, default_value = "127.0.0.1:8480")]
    http: SocketAddr,
    /// The SQLite file of the call history (in the working directory by default).
    #[arg(long, default_value = "switchboard-demo.db")]
    database: PathBuf,
    /// New simulated calls per second.
    #[arg(long, default_value_t = 0.5)]
    rate: f64,
}

pub fn run(args: RunArgs) -> ExitCode {
    let sources = Sources::from_process(args.config);
    let config = match sources.load() {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("switchboard: the configuration is not valid:\n{errors}");
            return ExitCode::from(2);
        }
    };
    let log = match service::logging::init(&config.log) {
        Ok(h) => Some(h),
        Err(e) => {
            eprintln!("switchboard: {e}");
            None
        }
    };
    runtime(async move {
        let (rx, _watcher) = match watch::spawn(sources, config.clone(), WatchOptions::default()) {
            Ok(w) => w,
            Err(e) => {
                tracing::error!("cannot watch the configuration for reloads: {e}");
                return ExitCode::FAILURE;
            }
        };
        serve(config, Some(rx.config), log).await
    })
}

pub fn demo(args: DemoArgs) -> ExitCode {
    let config = Config {
        servers: Vec::new(),
        http: Default::default(),
        database: Default::default(),
        log: Default::default(),
    };
    let log = service::logging::init(&config.log).ok();
    runtime(async move {
        let truth = None;
        let generate = sim::GenConfig {
            extensions: (2001, 2020),
            calls_per_second: args.rate.max(0.01),
            concurrency: 6,
            speed: sim::Speed::Realtime,
            truth,
            ..sim::GenConfig::default()
        };
        let sim = match sim::Server::start(
            sim::SimConfig::new(sim::Mode::Generate(generate))
                .listen(SocketAddr::from(([127, 0, 0, 1], 0))),
        )
        .await
        {
            Ok(s) => s,
            Err(e) => {
                eprintln!("switchboard demo: cannot start the simulated PBX: {e}");
                return ExitCode::FAILURE;
            }
        };
        let addr = sim.addr();
        let mut config = config;
        config.servers = vec![ServerConfig::new(
            "demo",
            addr.ip().to_string(),
            addr.port(),
            "admin",
            Secret::new("amp111"),
        )];
        config.http.listen = args.http;
        config.database.url =
            service::config::DatabaseUrl::new(format!("sqlite://{}", args.database.display()));
        config.database.journal_dir = PathBuf::from("switchboard-demo-journal");
        let api = format!("http://{}", args.http);
        println!(
            "switchboard demo: a simulated Asterisk on {addr} makes about {:.1} calls/s.\n\
             \n  live calls     {api}/api/calls\n  history        {api}/api/calls/history\n  \
             extensions     {api}/api/extensions\n  queues         {api}/api/queues\n  PBX status     {api}/api/servers\n  \
             metrics        {api}/metrics\n\n  call history in {} (SQLite)\n\nCtrl-C to stop.",
            args.rate,
            args.database.display()
        );
        let code = serve(config, None, log).await;
        sim.shutdown().await;
        code
    })
}

fn runtime(main: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(main),
        Err(e) => {
            eprintln!("switchboard: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Starts the service and the API, follows reloads, and stops on a signal.
async fn serve(
    config: Config,
    reloads: Option<tokio_watch::Receiver<Arc<Config>>>,
    log: Option<service::logging::LogHandle>,
) -> ExitCode {
    if let Err(e) = http::metrics::install() {
        tracing::warn!("metrics disabled: {e}");
    }
    let options = api_server::options(&config);
    if let Err(e) = http::check_listen(options.listen, &options) {
        tracing::error!("{e}");
        return ExitCode::from(2);
    }
    let service = match Service::start(config).await {
        Ok(s) => Arc::new(s),
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let backend = Arc::new(Backend {
        service: service.clone(),
    });
    let (code, api) = match RunningApi::start(backend, options).await {
        Ok(api) => follow(Topology::new(service.clone(), log, api), reloads).await,
        Err(e) => {
            tracing::error!("{e}");
            (ExitCode::FAILURE, None)
        }
    };
    tracing::info!("stopping: closing the AMI sessions and writing the call history");
    // Stream clients get a `bye` with the reason before their connections close.
    service.hub().close("the service is shutting down");
    if let Some(api) = api {
        api.stop().await;
    }
    let service = match Arc::try_unwrap(service) {
        Ok(s) => s,
        Err(shared) => {
            // A request still holds it: flush what we can; the writer journals the rest.
            shared.supervisor().stop_all().await;
            shared.flush().await;
            return code;
        }
    };
    let report = service.shutdown().await;
    if report.left_in_journal > 0 {
        tracing::warn!(
            left = report.left_in_journal,
            "the database did not take every call record; the rest is in the journal and is written at the next start ({})",
            report.last_error.unwrap_or_default()
        );
    } else {
        tracing::info!(written = report.written, "call history flushed; bye");
    }
    code
}

/// Serves until a signal (then hands the API back to be stopped) or until the API fails;
/// each reload goes to the topology, which applies it whole or not at all.
async fn follow(
    mut topology: Topology<RunningApi<Backend>>,
    mut reloads: Option<tokio_watch::Receiver<Arc<Config>>>,
) -> (ExitCode, Option<RunningApi<Backend>>) {
    loop {
        tokio::select! {
            _ = shutdown_signal() => return (ExitCode::SUCCESS, Some(topology.into_api())),
            why = topology.api().failed() => {
                tracing::error!("{why}");
                return (ExitCode::FAILURE, None);
            }
            Some(new) = next_config(&mut reloads) => {
                // The topology logs what it applied, or every refusal.
                let _ = topology.reload(new).await;
            }
        }
    }
}

/// The next published configuration; never resolves without a watcher.
async fn next_config(rx: &mut Option<tokio_watch::Receiver<Arc<Config>>>) -> Option<Arc<Config>> {
    match rx {
        Some(rx) => match rx.changed().await {
            Ok(()) => Some(rx.borrow_and_update().clone()),
            Err(_) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The HTTP API's view of the service.
struct Backend {
    service: Arc<Service>,
}

impl http::Backend for Backend {
    fn stream(&self) -> Option<Arc<stream::Hub>> {
        Some(self.service.hub().clone())
    }

    type ActiveCall = tracker::ActiveCall;
    type Extension = tracker::ExtensionView;
    type Queue = tracker::QueueView;

    async fn servers(&self) -> Vec<http::ServerStatus> {
        self.service.statuses()
    }

    async fn active_calls(&self) -> Vec<tracker::ActiveCall> {
        let mut out = Vec::new();
        for p in self.service.supervisor().pipelines() {
            out.extend(p.tracker().active_calls());
        }
        out
    }

    async fn extensions(&self) -> Vec<tracker::ExtensionView> {
        let mut out = Vec::new();
        for p in self.service.supervisor().pipelines() {
            out.extend(p.tracker().extensions());
        }
        out
    }

    async fn queues(&self) -> Vec<tracker::QueueView> {
        let mut out = Vec::new();
        for p in self.service.supervisor().pipelines() {
            out.extend(p.tracker().queues());
        }
        out
    }

    async fn history(
        &self,
        query: http::HistoryQuery,
    ) -> Result<http::HistoryPage, http::BackendError> {
        let page = self
            .service
            .store()
            .history(&query)
            .await
            .map_err(store_error)?;
        Ok(http::HistoryPage {
            calls: page.calls,
            next_cursor: page.next_cursor,
        })
    }

    async fn call(&self, id: String) -> Result<Option<tracker::CallRecord>, http::BackendError> {
        self.service.store().get(&id).await.map_err(store_error)
    }

    async fn readiness(&self) -> http::Readiness {
        self.service.readiness()
    }
}

fn store_error(e: store::StoreError) -> http::BackendError {
    match e {
        store::StoreError::Query(e) => history::ParamError::from(e).into(),
        e => http::BackendError::Unavailable(e.to_string()),
    }
}
