//! Wiring only: parse the command line, start the collection loop and the HTTP server, stop on
//! SIGTERM or SIGINT.

use anyhow::Context;
use libvirt_exporter::cli::{self, CliError};
use libvirt_exporter::collect::{self, all_domain_collectors, all_host_collectors, Collectors};
use libvirt_exporter::exposition::Published;
use libvirt_exporter::groups::all_slow_domain_collectors;
use libvirt_exporter::{http, libvirt};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// How long shutdown waits for the collection threads: one in a libvirt call that does not
/// return is left behind.
const SHUTDOWN_PATIENCE: Duration = Duration::from_secs(2);

fn main() -> ExitCode {
    // First, while this is the only thread (see its doc comment).
    libvirt::limit_malloc_arenas();
    let collectors = all_domain_collectors();
    let switches = cli::CollectorSwitches::of_registry();
    let config = match cli::parse(std::env::args_os(), &switches) {
        Ok(config) => config,
        Err(CliError::Clap(e)) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprintln!("libvirt-exporter: error: {e} ({})", e.hint());
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_max_level(config.log_level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(config, collectors) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("libvirt-exporter: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(
    config: cli::Config,
    collectors: Vec<Box<dyn libvirt_exporter::collect::DomainCollector>>,
) -> anyhow::Result<()> {
    libvirt::silence_default_error_printer();
    // Before any connection opens, or connections get neither keepalive nor events.
    if let Err(e) = libvirt::start_event_loop() {
        tracing::warn!(error = %e, "no libvirt event loop: no lifecycle events, no keepalive");
    }
    let enabled = collectors
        .into_iter()
        .filter(|c| config.collectors.contains(&c.name()))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let server = http::bind(&config.web).await?;
        let published = Arc::new(Published::new(&config.collect.libvirt_uri));
        if config.web.web_config_file.is_some() {
            // Loaded while the command line was checked; reported from the first cycle on.
            published.web_config.succeeded();
        }
        let collectors = Collectors {
            domain: enabled,
            host: all_host_collectors(&config.host)
                .into_iter()
                .filter(|c| config.host_collectors.contains(&c.name()))
                .collect(),
            slow: all_slow_domain_collectors(&config.host)
                .into_iter()
                .filter(|c| config.collectors.contains(&c.name()))
                .collect(),
        };
        let collection = collect::start(config.collect.clone(), collectors, published.clone())
            .context("cannot start the collection threads")?;
        let scheme = if config.web.tls_enabled() {
            "https"
        } else {
            "http"
        };
        if let Some(file) = &config.web.web_config_file {
            tracing::info!(path = %file.path.display(), "web configuration: {}", file.settings);
            file.settings.warn_if_unsafe(&file.path);
        }
        for addr in server.local_addrs() {
            tracing::info!(
                "listening on {scheme}://{addr}{} (libvirt: {})",
                config.web.telemetry_path,
                config.collect.libvirt_uri
            );
        }
        let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down");
            let _ = shutdown_tx.send(true);
        });
        let result = server.run(published, shutdown_rx).await;
        let still_running = collection.join(SHUTDOWN_PATIENCE);
        if !still_running.is_empty() {
            tracing::debug!(threads = ?still_running, "left collection threads in libvirt calls");
        }
        result
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
