//! The `shardsfu` binary: load the configuration, start the shards, stop on
//! SIGINT/SIGTERM (see docs/operations.md for the other signals).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Parser};
use shardsfu::config::{Config, ConfigWarning, Loaded, ProcessEnv};

/// A thread-per-core WebRTC SFU, compatible with SRS's URLs, ports and configuration.
#[derive(Parser, Debug)]
#[command(name = "shardsfu", version, disable_version_flag = true)]
struct Cli {
    /// Configuration file in SRS's format. Without it, the embedded default
    /// (configs/rtc.conf with `candidate *`) is used.
    #[arg(short = 'c', long = "conf", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Test the configuration and exit (non-zero on error).
    #[arg(short = 't', long = "test")]
    test: bool,
    /// Print the version and exit.
    #[arg(short = 'v', long = "version", action = ArgAction::Version)]
    version: Option<bool>,
}

fn load(cli: &Cli) -> Result<Loaded, String> {
    let env = ProcessEnv;
    let loaded = match &cli.config {
        Some(path) => Config::load(path, &env),
        None => Config::embedded_default(&env),
    };
    loaded.map_err(|e| e.to_string())
}

fn report(warnings: &[ConfigWarning]) {
    for w in warnings {
        tracing::warn!("{w}");
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logging needs the configuration (format, level): a configuration
    // error is one plain line on stderr.
    let loaded = match load(&cli) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("shardsfu: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(w) = shardsfu::logging::init(&loaded.config) {
        tracing::warn!("{w}");
    }
    report(&loaded.warnings);
    if cli.test {
        // Start-up reads the HTTPS certificates; so does the test.
        if let Err(e) = shardsfu::server::tls::acceptors(&loaded.config) {
            eprintln!("shardsfu: configuration error: {e}");
            return ExitCode::from(2);
        }
        let name = cli.config.as_ref().map(|p| p.display().to_string());
        println!(
            "shardsfu: the configuration {} is ok ({} warnings)",
            name.as_deref().unwrap_or("(embedded default)"),
            loaded.warnings.len()
        );
        return ExitCode::SUCCESS;
    }
    // glommio cannot start without io_uring; say so in one line, with the fix.
    if let Err(e) = shards::probe_io_uring() {
        eprintln!("shardsfu: {e}");
        return ExitCode::FAILURE;
    }
    // SIGINT/SIGTERM stop; SIGHUP, SIGUSR1, SIGUSR2 are logged, never fatal.
    let signals = match shards::Signals::install() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("shardsfu: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let source = match &cli.config {
        Some(path) => shardsfu::server::ConfigSource::File(path.clone()),
        None => shardsfu::server::ConfigSource::Embedded,
    };
    match shardsfu::server::serve(loaded.config, source, signals) {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("shardsfu: {e:#}");
            ExitCode::FAILURE
        }
    }
}
