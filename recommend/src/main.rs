//! `recommend` binary: parses flags, sets up tracing and serves one bundle
//! until SIGINT or SIGTERM.

use clap::Parser as _;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = tessera_recommend::Config::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    rt.spawn(tessera_runtime::cancel_on_signal(shutdown.clone()));
    rt.block_on(tessera_recommend::run(config, shutdown))
}
