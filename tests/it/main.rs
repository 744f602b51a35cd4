//! One integration-test binary (one link step), a module per behaviour area.

mod support;

mod cli;
mod delivery;
mod doctor;
mod faults;
mod fuzz;
mod golden;
mod hostile;
mod http;
mod intake;
mod lifecycle;
mod linear;
mod refusals;
mod shutdown;
mod simulate;
mod socket;

mod replay;
mod store;
mod timers;
