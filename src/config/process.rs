//! `[http]` and `[log]`: how the process itself runs.

use std::net::{Ipv4Addr, SocketAddr};

use super::problems::{suggest, Problems};
use super::schema::Section;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// Health, readiness, metrics and the activation signal endpoint.
    pub listen: SocketAddr,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
        }
    }
}

pub(crate) fn parse_http(section: &Section<'_>, problems: &mut Problems) -> HttpSettings {
    let listen = section.string("listen", problems).and_then(|s| {
        s.trim()
            .parse::<SocketAddr>()
            .map_err(|_| {
                problems.push(
                    section.field("listen"),
                    format!(
                        "\"{s}\" is not an IP address and port such as \"127.0.0.1:8080\", \
                         \"0.0.0.0:8080\" or \"[::]:8080\" (host names are not resolved)"
                    ),
                )
            })
            .ok()
    });
    HttpSettings {
        listen: listen.unwrap_or(HttpSettings::default().listen),
    }
}

/// Addition to DESIGN.md: `[log] format`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogSettings {
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, for a log shipper.
    Json,
    /// Human-readable, for a terminal.
    #[default]
    Pretty,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Json => "json",
            LogFormat::Pretty => "pretty",
        }
    }
}

pub(crate) fn parse_log(section: &Section<'_>, problems: &mut Problems) -> LogSettings {
    let format = section.string("format", problems).and_then(|s| {
        one_of(s, &[LogFormat::Json, LogFormat::Pretty], LogFormat::as_str)
            .map_err(|message| problems.push(section.field("format"), message))
            .ok()
    });
    LogSettings {
        format: format.unwrap_or_default(),
    }
}

/// The option named `s`, or a message listing the names (with a suggestion for a typo).
pub(crate) fn one_of<T: Copy>(
    s: &str,
    options: &[T],
    name: fn(T) -> &'static str,
) -> Result<T, String> {
    if let Some(found) = options.iter().find(|o| name(**o) == s) {
        return Ok(*found);
    }
    let names: Vec<&str> = options.iter().map(|o| name(*o)).collect();
    let listed = names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(" or ");
    Err(match suggest(s, &names) {
        Some(near) => format!("\"{s}\" is not one of {listed} (did you mean \"{near}\"?)"),
        None => format!("\"{s}\" is not one of {listed}"),
    })
}
