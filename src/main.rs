use std::process::ExitCode;

use clap::Parser;

use capacity_bot::cli::{self, Cli};

// Every click allocates and frees many small JSON and protocol buffers across two threads;
// glibc's malloc spent 10% of the CPU per approval on them, jemalloc 6% less CPU in all for
// 1–2 MiB more resident (BENCHMARKS.md, "CPU per approval"). mimalloc, tried before, took
// 15 MiB more. Only the binary: the tests and the in-process benchmarks use the system one.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // slack-morphism and sqlx use rustls with ring; installing it first means no other crate
    // can make rustls guess (and panic) at the first TLS connection.
    let _ = rustls::crypto::ring::default_provider().install_default();
    cli::run(Cli::parse()).await
}
