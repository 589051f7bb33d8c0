//! Child server processes of a launcher (`coordinator local`, `worker train
//! --standalone`): each logs to its own file in a log folder; one that
//! exited can be started again with the same command line (a server on the
//! address it had, so that its clients find it again); they are stopped in
//! reverse start order with SIGTERM and then SIGKILL, on success, on error
//! and on Ctrl-C. Also where the launcher finds the sibling binaries it
//! starts.

use std::ffi::OsString;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// Grace period between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// A started child.
#[derive(Debug)]
pub struct Child {
    name: String,
    process: std::process::Child,
    launch: Launch,
}

/// How a child was started, to start it again.
#[derive(Debug, Clone)]
struct Launch {
    program: OsString,
    args: Vec<OsString>,
    envs: Vec<(OsString, Option<OsString>)>,
    logs: PathBuf,
    /// For a server: the address it listened on (its `--listen` on a restart).
    listen: Option<String>,
    restarts: u32,
}

impl Launch {
    fn of(command: &Command, logs: &Path) -> Self {
        Self {
            program: command.get_program().to_owned(),
            args: command.get_args().map(ToOwned::to_owned).collect(),
            envs: command.get_envs().map(|(k, v)| (k.to_owned(), v.map(ToOwned::to_owned))).collect(),
            logs: logs.to_path_buf(),
            listen: None,
            restarts: 0,
        }
    }

    /// The command again, a server told to listen where it did before.
    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        let mut args = self.args.iter();
        while let Some(arg) = args.next() {
            command.arg(arg);
            if let (Some(addr), true) = (&self.listen, arg == "--listen") {
                command.arg(addr);
                args.next();
            }
        }
        for (k, v) in &self.envs {
            match v {
                Some(v) => command.env(k, v),
                None => command.env_remove(k),
            };
        }
        command
    }
}

/// Opens `logs/<name>.log`, from the start or, on a restart, appending.
fn log_file(logs: &Path, name: &str, append: bool) -> anyhow::Result<std::fs::File> {
    let path = logs.join(format!("{name}.log"));
    std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(&path)
        .with_context(|| format!("open {}", path.display()))
}

/// Starts a server that prints `LISTENING <addr>` on stdout once bound,
/// logging stderr to `log`; returns the process and the address.
fn start_listening(
    name: &str,
    command: &mut Command,
    log: std::fs::File,
    logs: &Path,
) -> anyhow::Result<(std::process::Child, String)> {
    let mut process = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .with_context(|| format!("start {name}"))?;
    let stdout = process.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let Some(line) = lines.next() else {
            let _ = process.kill();
            let _ = process.wait();
            anyhow::bail!("{name} exited before listening; see {}/{name}.log", logs.display());
        };
        if let Some(addr) = line?.strip_prefix("LISTENING ") {
            break addr.to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok((process, addr))
}

/// All children, stopped together.
#[derive(Debug, Default)]
pub struct Children {
    started: Mutex<Vec<Child>>,
}

/// A free loopback port (bound and released).
///
/// # Errors
/// Fails when no port can be bound.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The folder of the Tessera binaries a launcher starts: `$TESSERA_BIN_DIR`
/// when set, else the folder of the running executable, or its parent when
/// that is cargo's `deps/` (a test binary beside the workspace's binaries).
///
/// # Errors
/// Fails when the running executable cannot be located.
pub fn binary_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("TESSERA_BIN_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let exe = std::env::current_exe().context("locate the running executable")?;
    let dir = exe.parent().context("the running executable has no folder")?;
    Ok(match dir.file_name() {
        Some(name) if name == "deps" => dir.parent().unwrap_or(dir).to_path_buf(),
        _ => dir.to_path_buf(),
    })
}

/// The path of binary `name` in [`binary_dir`].
///
/// # Errors
/// Fails, naming the folder, when the binary is not there.
pub fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let path = binary_dir()?.join(name);
    anyhow::ensure!(
        path.is_file(),
        "{name} not found at {}: build the workspace binaries (`cargo build --bins`) or set TESSERA_BIN_DIR",
        path.display()
    );
    Ok(path)
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl Children {
    /// Starts `command` with stdout and stderr written to `logs/<name>.log`.
    ///
    /// # Errors
    /// Fails when the program cannot start.
    pub fn spawn(&self, name: &str, command: &mut Command, logs: &Path) -> anyhow::Result<()> {
        let log = log_file(logs, name, false)?;
        let process = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("start {name}"))?;
        let launch = Launch::of(command, logs);
        self.started.lock().expect("children").push(Child { name: name.into(), process, launch });
        Ok(())
    }

    /// Starts a server that prints `LISTENING <addr>` on stdout once bound;
    /// returns the address. Its stderr goes to its log.
    ///
    /// # Errors
    /// Fails when the program cannot start or exits before listening.
    pub fn spawn_listening(&self, name: &str, command: &mut Command, logs: &Path) -> anyhow::Result<String> {
        let (process, addr) = start_listening(name, command, log_file(logs, name, false)?, logs)?;
        let launch = Launch { listen: Some(addr.clone()), ..Launch::of(command, logs) };
        self.started.lock().expect("children").push(Child { name: name.into(), process, launch });
        Ok(addr)
    }

    /// Starts the exited child `name` again with its command line (a server
    /// on the address it had), its log appended to, unless it has already
    /// been restarted `max_restarts` times; returns how many times it has
    /// now been restarted, or `None` when it was left down.
    ///
    /// # Errors
    /// Fails when no exited child has that name, or it cannot start again.
    pub fn restart(&self, name: &str, max_restarts: u32) -> anyhow::Result<Option<u32>> {
        let mut launch = {
            let mut started = self.started.lock().expect("children");
            let at = started
                .iter_mut()
                .position(|c| c.name == name && c.process.try_wait().ok().flatten().is_some())
                .with_context(|| format!("no exited child named {name}"))?;
            if started[at].launch.restarts >= max_restarts {
                return Ok(None);
            }
            started.remove(at).launch
        };
        launch.restarts += 1;
        let log = log_file(&launch.logs, name, true)?;
        let mut command = launch.command();
        let process = match &launch.listen {
            Some(_) => start_listening(name, &mut command, log, &launch.logs)?.0,
            None => command
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .with_context(|| format!("restart {name}"))?,
        };
        let restarts = launch.restarts;
        self.started.lock().expect("children").push(Child { name: name.into(), process, launch });
        Ok(Some(restarts))
    }

    /// Whether a child has exited, with its name and status.
    pub fn exited(&self) -> Option<(String, std::process::ExitStatus)> {
        let mut started = self.started.lock().expect("children");
        started.iter_mut().find_map(|c| c.process.try_wait().ok().flatten().map(|s| (c.name.clone(), s)))
    }

    /// Stops every child, last started first: SIGTERM, then SIGKILL after
    /// [`STOP_GRACE`].
    pub fn stop_all(&self) {
        let mut started = self.started.lock().expect("children");
        while let Some(mut child) = started.pop() {
            if child.process.try_wait().ok().flatten().is_some() {
                continue;
            }
            signal(child.process.id(), "-TERM");
            let deadline = Instant::now() + STOP_GRACE;
            loop {
                match child.process.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                    _ => {
                        let _ = child.process.kill();
                        let _ = child.process.wait();
                        break;
                    }
                }
            }
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        self.stop_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits until the child named `name` has exited.
    fn wait_exited(children: &Children, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while children.exited().is_none_or(|(n, _)| n != name) {
            assert!(Instant::now() < deadline, "{name} did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn an_exited_child_restarts_with_its_command_up_to_the_limit_and_appends_its_log() {
        let logs = tempfile::tempdir().unwrap();
        let children = Children::default();
        let mut command = Command::new("sh");
        command.args(["-c", "echo ran"]);
        children.spawn("once", &mut command, logs.path()).unwrap();
        wait_exited(&children, "once");
        assert_eq!(children.restart("once", 1).unwrap(), Some(1));
        wait_exited(&children, "once");
        assert_eq!(children.restart("once", 1).unwrap(), None, "the limit leaves it down");
        let log = std::fs::read_to_string(logs.path().join("once.log")).unwrap();
        assert_eq!(log, "ran\nran\n", "the restart appended to the log");
        assert!(children.restart("nobody", 1).is_err());
    }
}
