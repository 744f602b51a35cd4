//! One integration-test binary (one link step), a module per behaviour area.

mod support;

mod actions;
mod away;
mod cli;
mod delivery;
mod digest;
mod doctor;
mod faults;
mod fuzz;
mod golden;
mod home;
mod hostile;
mod http;
mod intake;
mod lifecycle;
mod linear;
mod pace;
mod refusals;
mod report;
mod shutdown;
mod simulate;
mod socket;
mod supervision;
mod ways;

mod replay;
mod store;
mod timers;
