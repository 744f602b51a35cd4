//! One integration-test binary (one link step), a module per behaviour area.

mod support;

mod cli;
mod lifecycle;

mod replay;
mod store;
