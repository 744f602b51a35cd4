//! One integration-test binary (one link step), a module per behaviour area.

mod support;

mod replay;
mod store;
