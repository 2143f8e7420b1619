//! `switchboard`: the command line. Thin glue: each subcommand parses its arguments and
//! hands over to the crate that does the work.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod api_server;
mod check;
mod replay;
mod run;
mod sim;

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Live calls, call history and call control for Asterisk"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: AMI sessions, call tracking, history, HTTP API.
    Run(run::RunArgs),
    /// The service with a built-in simulated PBX and SQLite: live calls with no Asterisk.
    Demo(run::DemoArgs),
    /// Feed an AMI recording through the tracker offline and print the calls.
    Replay(replay::Args),
    /// A simulated Asterisk: an AMI server that replays recordings or generates traffic.
    Sim(sim::Args),
    /// Connect to an AMI port, log in, report timings and print events.
    Check(check::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Demo(args) => run::demo(args),
        Command::Replay(args) => replay::main(args),
        Command::Sim(args) => sim::main(args),
        Command::Check(args) => check::main(args),
    }
}
