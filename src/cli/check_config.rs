//! `check-config`: every problem with the field that has it, or a summary of what will run.

use std::path::Path;
use std::process::ExitCode;

use super::Failure;
use crate::config::{self, ConfigErrors, Settings};

pub fn run(path: Option<&Path>) -> Result<ExitCode, Failure> {
    let path = path.ok_or_else(|| {
        Failure(format!(
            "no config file: pass --config PATH or set {}",
            config::CONFIG_PATH_VAR
        ))
    })?;
    match Settings::load(path, &config::process_env) {
        Ok(settings) => {
            println!("{}: ok", path.display());
            print!("{}", settings.redacted_summary());
            if let Err(missing) = settings.check_for_daemon() {
                println!("\nnot ready for `run` yet:");
                print!("{missing}");
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => Ok(refuse(path, &errors)),
    }
}

/// How a config file with problems is refused: every problem with its field, on stderr.
/// `simulate` refuses its policy file with exactly these lines and exit code.
pub(super) fn refuse(path: &Path, errors: &ConfigErrors) -> ExitCode {
    eprintln!("{}: {} problem(s)", path.display(), errors.problems.len());
    eprint!("{errors}");
    ExitCode::FAILURE
}
