//! `pairpad-loadgen`: drives a Yjs sync server with simulated people and prints one JSON
//! row per measurement; `report` turns the rows into Markdown tables and SVG charts.
//! `scripts/bench` runs it against Pairpad, the reference y-websocket server and
//! Hocuspocus, each pinned to the same core; `relay` is the floor they are measured
//! against (a relay that only forwards frames).

mod client;
mod project;
mod protocol;
mod relay;
mod report;
mod scenarios;
mod stats;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use client::Target;
use protocol::Dialect;
use scenarios::Server;

#[derive(Parser)]
#[command(name = "pairpad-loadgen", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs one scenario against one server; JSON rows on stdout.
    Run(RunArgs),
    /// Reads JSON rows and writes Markdown tables and SVG charts.
    Report {
        /// Rows from `run` (JSON lines).
        input: PathBuf,
        /// Folder for the SVG charts.
        #[arg(long, default_value = "docs/bench")]
        charts: PathBuf,
    },
    /// Serves as the floor: a relay that only forwards frames (no document, no storage).
    Relay {
        /// Address to listen on.
        #[arg(long)]
        bind: SocketAddr,
    },
    /// Shares a generated tree with `pairpad-server share` and measures the project: one
    /// JSON row on stdout.
    Project {
        /// Files in the tree.
        #[arg(long, default_value_t = 5000)]
        files: usize,
        /// Their total size, MiB.
        #[arg(long, default_value_t = 50)]
        mib: usize,
        /// Folder for the tree and the server's database.
        #[arg(long)]
        dir: PathBuf,
        /// The command that runs `pairpad-server` (a pinning prefix such as `taskset -c 0`
        /// included); `share` and its flags are added.
        #[arg(last = true, required = true)]
        server: Vec<String>,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Label of the server in the results.
    #[arg(long)]
    name: String,
    /// WebSocket base URL; the room is appended as a path segment.
    #[arg(long)]
    ws: String,
    /// Protocol framing.
    #[arg(long, value_enum, default_value = "y-websocket")]
    dialect: Dialect,
    /// HTTP base of a Pairpad server, to create rooms through its API.
    #[arg(long)]
    rooms_api: Option<String>,
    /// PID of the server process (CPU time and RSS from /proc).
    #[arg(long)]
    pid: u32,
    /// A second instance of the same server sharing its rooms (scale-out): its WebSocket
    /// base URL.
    #[arg(long)]
    ws2: Option<String>,
    /// Other processes whose CPU time counts with the server's (the second instance,
    /// Redis).
    #[arg(long, value_delimiter = ',')]
    also_pids: Vec<u32>,
    /// Scenario to run.
    #[arg(long, value_enum)]
    scenario: Scenario,
    /// Sizes: connection counts, delivery-rate steps or update counts, per scenario.
    #[arg(long, value_delimiter = ',')]
    sizes: Vec<f64>,
    /// Seconds per measurement window.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
}

#[derive(Clone, Copy, ValueEnum)]
enum Scenario {
    Idle,
    Steady,
    BigRoom,
    ColdJoin,
    Durable,
    LargeDoc,
    Churn,
    ReconnectStorm,
    ScaleOut,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run(args) => {
            run(args).await;
            Ok(())
        }
        Command::Report { input, charts } => report::write(&input, &charts),
        Command::Project {
            files,
            mib,
            dir,
            server,
        } => {
            project::run(files, mib << 20, &dir, &server).await;
            Ok(())
        }
        Command::Relay { bind } => {
            tokio::task::LocalSet::new()
                .run_until(relay::serve(bind))
                .await
        }
    }
}

async fn run(args: RunArgs) {
    let server = Server {
        name: args.name,
        target: Target {
            ws_base: args.ws.trim_end_matches('/').to_string(),
            dialect: args.dialect,
        },
        rooms_api: args.rooms_api.map(|u| u.trim_end_matches('/').to_string()),
        pid: args.pid,
        second: args.ws2.map(|ws| Target {
            ws_base: ws.trim_end_matches('/').to_string(),
            dialect: args.dialect,
        }),
        also_pids: args.also_pids,
    };
    let sizes = |default: &[f64]| {
        if args.sizes.is_empty() {
            default.to_vec()
        } else {
            args.sizes.clone()
        }
    };
    let counts = |default: &[f64]| {
        sizes(default)
            .into_iter()
            .map(|n| n as usize)
            .collect::<Vec<_>>()
    };
    match args.scenario {
        Scenario::Idle => scenarios::idle(&server, &counts(&[1000.0, 5000.0, 10000.0])).await,
        Scenario::Steady => {
            let steps = sizes(&[
                10e3, 20e3, 30e3, 40e3, 60e3, 80e3, 120e3, 160e3, 200e3, 250e3, 300e3,
            ]);
            scenarios::steady(&server, &steps, args.seconds).await;
        }
        Scenario::BigRoom => scenarios::big_room(&server, 200, 10, args.seconds).await,
        Scenario::ColdJoin => {
            for n in counts(&[250_000.0]) {
                scenarios::cold_join(&server, n).await;
            }
        }
        Scenario::Durable => {
            for rooms in counts(&[100.0]) {
                scenarios::durable(&server, rooms, args.seconds).await;
            }
        }
        Scenario::LargeDoc => {
            for kib in counts(&[1024.0]) {
                scenarios::large_doc(&server, kib, args.seconds).await;
            }
        }
        Scenario::Churn => scenarios::churn(&server, args.seconds, Duration::from_secs(10)).await,
        Scenario::ScaleOut => {
            for rooms in counts(&[100.0]) {
                scenarios::scale_out(&server, rooms, args.seconds).await;
            }
        }
        Scenario::ReconnectStorm => {
            for n in counts(&[1000.0]) {
                scenarios::reconnect_storm(&server, n).await;
            }
        }
    }
}
