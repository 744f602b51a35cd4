//! capacity-bot: large-capacity requests as a durable, owned, timed Slack workflow.
pub mod app;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod domain;
pub mod http;
pub mod linear;
pub mod metrics;
pub mod outbox;
pub mod render;
pub mod replay;
pub mod scheduler;
pub mod slack;
pub mod store;
pub mod telemetry;
