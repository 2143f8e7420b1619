//! `switchboard sim`: the simulated Asterisk as a standalone AMI server (the `sim` crate).

use sim::{GenConfig, Mode, Server, SimConfig, Speed, TruthSink};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    // Boxed: the options are many, and the CLI's enum of subcommands stays small.
    #[command(flatten)]
    inner: Box<SimArgs>,
}

#[derive(clap::Args)]
struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:5038")]
    listen: SocketAddr,
    /// AMI user name clients log in with.
    #[arg(long, default_value = "admin")]
    username: String,
    /// Its secret.
    #[arg(long, default_value = "amp111")]
    secret: String,
    /// Replay this recording (`.ami`).
    #[arg(long, conflicts_with = "generate")]
    replay: Option<PathBuf>,
    /// Pace: 1 (recorded), a factor like 10, or max.
    #[arg(long, default_value = "1")]
    speed: String,
    /// Play the recording this many times (each loop is new calls).
    #[arg(long = "loop", default_value_t = 1)]
    loops: u32,
    /// Generate synthetic traffic.
    #[arg(long)]
    generate: bool,
    /// Phone extensions, FIRST-LAST.
    #[arg(long, default_value = "2001-2100")]
    extensions: String,
    /// Prefix of outbound numbers.
    #[arg(long, default_value = "0")]
    trunk_prefix: String,
    /// Queues, comma separated.
    #[arg(long, default_value = "support")]
    queues: String,
    /// New calls per second.
    #[arg(long, default_value_t = 1.0)]
    calls_per_second: f64,
    /// Most calls at once.
    #[arg(long, default_value_t = 10)]
    concurrency: usize,
    /// Seconds of traffic (simulated time).
    #[arg(long)]
    duration: Option<f64>,
    /// Stop after this many calls.
    #[arg(long)]
    calls: Option<u64>,
    /// Seed: the same seed gives the same calls.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the ground truth of generated calls here (JSON lines).
    #[arg(long)]
    truth: Option<PathBuf>,
    /// Fault: close each connection after N events.
    #[arg(long)]
    drop_after: Option<u64>,
    /// Fault: garbage bytes after every N events.
    #[arg(long)]
    garbage_every: Option<u64>,
    /// Fault: write one byte at a time.
    #[arg(long)]
    dribble: bool,
    /// Fault: refuse every login.
    #[arg(long)]
    refuse_logins: bool,
    /// Fault: a PBX restart after this many seconds (down for --restart-down seconds).
    #[arg(long)]
    restart_after: Option<f64>,
    /// How long a restart keeps the port closed, seconds.
    #[arg(long, default_value_t = 5.0)]
    restart_down: f64,
}

fn config(a: &SimArgs) -> Result<SimConfig, String> {
    let speed = Speed::parse(&a.speed)
        .ok_or_else(|| format!("--speed {:?}: use 1, a factor such as 10, or max", a.speed))?;
    let mode = if let Some(file) = &a.replay {
        Mode::Replay {
            file: file.clone(),
            speed,
            loops: a.loops,
        }
    } else if a.generate {
        let (first, last) = a
            .extensions
            .split_once('-')
            .and_then(|(f, l)| Some((f.parse().ok()?, l.parse().ok()?)))
            .filter(|(f, l): &(u32, u32)| f <= l)
            .ok_or_else(|| {
                format!(
                    "--extensions {:?}: expected FIRST-LAST, e.g. 2001-2100",
                    a.extensions
                )
            })?;
        Mode::Generate(GenConfig {
            extensions: (first, last),
            trunk_prefix: a.trunk_prefix.clone(),
            queues: a
                .queues
                .split(',')
                .filter(|q| !q.is_empty())
                .map(str::to_string)
                .collect(),
            calls_per_second: a.calls_per_second,
            concurrency: a.concurrency,
            duration: a.duration.map(Duration::from_secs_f64),
            calls: a.calls,
            seed: a.seed,
            speed,
            truth: a.truth.clone().map(TruthSink::File),
            start_epoch_us: None,
        })
    } else {
        Mode::Quiet { speed }
    };
    let mut cfg = SimConfig::new(mode).listen(a.listen);
    cfg.users = vec![(a.username.clone(), a.secret.clone())];
    Ok(cfg)
}

pub fn main(args: Args) -> ExitCode {
    let args = *args.inner;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let cfg = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("switchboard sim: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("switchboard sim: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let sim = match Server::start(cfg).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("switchboard sim: {e}");
                return ExitCode::FAILURE;
            }
        };
        eprintln!(
            "switchboard sim: AMI on {} (user {:?}); Ctrl-C to stop",
            sim.addr(),
            args.username
        );
        if let Some(n) = args.drop_after {
            sim.drop_after_events(n);
        }
        if let Some(n) = args.garbage_every {
            sim.garbage_every(n);
        }
        sim.dribble(args.dribble);
        sim.refuse_logins(args.refuse_logins);
        if let Some(after) = args.restart_after {
            let sim = sim.clone();
            let down = Duration::from_secs_f64(args.restart_down);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs_f64(after)).await;
                sim.restart(down).await;
            });
        }
        let _ = tokio::signal::ctrl_c().await;
        sim.shutdown().await;
        ExitCode::SUCCESS
    })
}
