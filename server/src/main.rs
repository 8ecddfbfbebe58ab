//! The `pairpad-server` binary: parse the configuration, start logging, run the server
//! until Ctrl-C or SIGTERM.

use clap::Parser;
use pairpad_server::config::Command;
use pairpad_server::{Config, LogFormat};
use tracing_subscriber::EnvFilter;

/// Fewest async worker threads. Each room's work runs on one of them between awaits;
/// with as many workers as cores on a small machine (one or two), one room busy for a
/// moment held up every other room and `/health`. Extra threads let the OS share the
/// cores among them instead.
const MIN_WORKERS: usize = 4;

fn main() -> std::process::ExitCode {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores.max(MIN_WORKERS))
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(serve()),
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve() -> std::process::ExitCode {
    let config = Config::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    let result = match (
        tokio::net::TcpListener::bind(config.bind).await,
        config.command.clone(),
    ) {
        (Ok(listener), Some(Command::Share { dir, title })) => {
            pairpad_server::share::run(config, listener, dir, title, shutdown_signal()).await
        }
        (Ok(listener), None) => pairpad_server::run(config, listener, shutdown_signal()).await,
        (Err(error), _) => Err(error.into()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "pairpad-server failed");
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
