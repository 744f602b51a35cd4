//! A throwaway Postgres for `demo` (and for tests that stop and restart the server), from the installed server binaries, in a temporary
//! directory that is removed afterwards.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _};

/// Where `initdb` and `pg_ctl` live: on PATH, or Debian's versioned directories.
fn server_bin_dir() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return Some(dir);
            }
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

pub struct TempPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_postgres: bool,
    options: String,
    pub url: String,
}

impl TempPostgres {
    pub fn start() -> anyhow::Result<TempPostgres> {
        let Some(bin) = server_bin_dir() else {
            bail!(
                "no DATABASE_URL and no Postgres server binaries (initdb, pg_ctl) found.\n\
                 Either point DATABASE_URL at a Postgres you can create databases on, or install the server:\n\
                 \x20 Debian/Ubuntu: sudo apt-get install postgresql\n\
                 \x20 macOS:         brew install postgresql"
            );
        };
        let dir = tempfile::Builder::new()
            .prefix("capacity-bot-demo-pg")
            .tempdir()
            .context("creating a temporary directory")?;
        // initdb refuses to run as root; the postgres user owns the data directory instead.
        let as_postgres = is_root();
        if as_postgres {
            run(
                Command::new("chown")
                    .args(["-R", "postgres"])
                    .arg(dir.path()),
                "chown",
            )?;
        }
        let port = free_port()?;
        let data = dir.path().join("data");
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={} -c fsync=off",
            dir.path().display()
        );
        let pg = TempPostgres {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            dir,
            bin,
            as_postgres,
            options,
        };
        pg.command("initdb", |c| {
            c.arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "--auth=trust", "--no-sync"]);
        })?;
        pg.start_server()?;
        Ok(pg)
    }

    /// Starts the server (again, after [`TempPostgres::stop_server`]). When it does not
    /// start, the error ends with the server's own last words, which `pg_ctl` only points to.
    pub fn start_server(&self) -> anyhow::Result<()> {
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("log");
        self.command("pg_ctl", |c| {
            c.arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(&log)
                .args(["-w", "-o", &self.options, "start"]);
        })
        .map_err(|e| {
            let said = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = said.lines().collect();
            let last = &lines[lines.len().saturating_sub(10)..];
            e.context(format!("the server's log ends:\n{}", last.join("\n")))
        })
    }

    /// Stops the server at once, as a crash or failover would; the data stays.
    pub fn stop_server(&self) -> anyhow::Result<()> {
        let data = self.dir.path().join("data");
        self.command("pg_ctl", |c| {
            c.arg("-D")
                .arg(&data)
                .args(["-m", "immediate", "-w", "stop"]);
        })
    }

    fn command(&self, tool: &str, args: impl FnOnce(&mut Command)) -> anyhow::Result<()> {
        let exe = self.bin.join(tool);
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        args(&mut c);
        run(&mut c, tool)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let _ = self.stop_server();
    }
}

fn run(c: &mut Command, what: &str) -> anyhow::Result<()> {
    let out = c.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// A port for the server that stays free while it is stopped and restarted: one below the
/// range the kernel hands out for `bind(0)` and for the local end of outgoing connections
/// (`ip_local_port_range`), so that nothing else on the machine (a test beside it opening
/// connections, say) is given it in the meantime. Where to start looking is taken from the
/// clock, so servers started together try different ports.
fn free_port() -> anyhow::Result<u16> {
    let ephemeral = first_ephemeral_port().unwrap_or(32768);
    let low = 10_000u16.min(ephemeral / 2);
    let span = u32::from(ephemeral.saturating_sub(low).max(1));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let start = (nanos ^ std::process::id().rotate_left(16)) % span;
    for i in 0..span {
        let port = low + u16::try_from((start + i) % span).unwrap_or(0);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

/// The first port of the kernel's `ip_local_port_range` (Linux only).
fn first_ephemeral_port() -> Option<u16> {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_below_the_range_the_kernel_hands_out() {
        let port = free_port().unwrap();
        if let Some(first) = first_ephemeral_port() {
            assert!(
                port < first,
                "{port} is in the ephemeral range from {first}"
            );
        }
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
    }
}
