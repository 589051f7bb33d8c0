//! A child process that is killed when dropped, so a failing test leaves no
//! orphan behind.

use std::process::{Child, Command, ExitStatus, Stdio};

/// A spawned child process owned by a test.
#[derive(Debug)]
pub struct ChildProcess {
    name: String,
    child: Option<Child>,
}

impl ChildProcess {
    /// Spawns `command` with stdin closed.
    ///
    /// # Errors
    /// Fails when the program cannot be started.
    pub fn spawn(name: &str, command: &mut Command) -> anyhow::Result<Self> {
        let child = command
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| anyhow::anyhow!("failed to start {name}: {e}"))?;
        Ok(Self { name: name.to_owned(), child: Some(child) })
    }

    /// Spawns `command` with stdout piped and reads one line per prefix,
    /// in order, returning what follows each prefix: how servers that bind
    /// port 0 tell the test their addresses (`LISTENING 127.0.0.1:PORT`).
    ///
    /// # Errors
    /// Fails when the program cannot start, exits early, or prints another line.
    pub fn spawn_reporting(
        name: &str,
        command: &mut Command,
        prefixes: &[&str],
    ) -> anyhow::Result<(Self, Vec<String>)> {
        use std::io::{BufRead as _, BufReader};
        let mut process = Self::spawn(name, command.stdout(Stdio::piped()))?;
        let stdout =
            process.child_mut().and_then(|c| c.stdout.take()).ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let mut values = Vec::new();
        for prefix in prefixes {
            let line =
                lines.next().ok_or_else(|| anyhow::anyhow!("{name} exited before printing {prefix}"))??;
            let value = line
                .strip_prefix(prefix)
                .ok_or_else(|| anyhow::anyhow!("{name}: unexpected line {line:?}"))?;
            values.push(value.to_owned());
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok((process, values))
    }

    /// Process id, while running.
    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Mutable access to the child (to take its stdout, say).
    pub fn child_mut(&mut self) -> Option<&mut Child> {
        self.child.as_mut()
    }

    /// Sends SIGKILL and reaps the process.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `signal` (for example `libc`'s SIGTERM as 15) with `kill(1)` and
    /// waits for the process to exit.
    ///
    /// # Errors
    /// Fails when the signal cannot be sent or the wait fails.
    pub fn signal_and_wait(&mut self, signal: i32) -> anyhow::Result<ExitStatus> {
        let Some(mut child) = self.child.take() else { anyhow::bail!("{} is not running", self.name) };
        let status = Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status()?;
        anyhow::ensure!(status.success(), "kill -{signal} {} failed", self.name);
        Ok(child.wait()?)
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The pid of a process whose command line holds every one of `needles`,
/// leaving out those that mention `exclude` (the test binary itself).
pub fn pid_of(needles: &[&str], exclude: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let pid = entry.file_name().to_str()?.parse().ok()?;
        (needles.iter().all(|n| text.contains(n)) && !text.contains(exclude)).then_some(pid)
    })
}
