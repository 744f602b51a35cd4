//! One integration-test binary (one link step), a module per behaviour area.

mod support;

mod cli;
mod delivery;
mod doctor;
mod faults;
mod fuzz;
mod hostile;
mod http;
mod intake;
mod lifecycle;
mod linear;
mod refusals;
mod report;
mod shutdown;
mod socket;

mod replay;
mod store;
mod timers;
