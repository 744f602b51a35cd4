use std::process::ExitCode;

use clap::Parser;

use capacity_bot::cli::{self, Cli};

#[tokio::main]
async fn main() -> ExitCode {
    // slack-morphism and sqlx use rustls with ring; installing it first means no other crate
    // can make rustls guess (and panic) at the first TLS connection.
    let _ = rustls::crypto::ring::default_provider().install_default();
    cli::run(Cli::parse()).await
}
