//! Following a `coordinator local` run from a test: the coordinator's
//! endpoint and the job id it prints, and the job's training progress read
//! with `coordinator status --json` over the run's own certificates.

use std::io::BufRead;
use std::path::Path;

/// A job started by `coordinator local`.
#[derive(Debug, Clone)]
pub struct LocalJob {
    /// The coordinator's endpoint (`https://127.0.0.1:PORT`).
    pub endpoint: String,
    /// The job id.
    pub job: String,
}

impl LocalJob {
    /// Reads `local`'s stderr `lines` up to the job line, keeping the lines
    /// read in `seen`.
    ///
    /// # Errors
    /// The stream ends before it names the coordinator and the job.
    pub fn read(
        lines: &mut impl Iterator<Item = std::io::Result<String>>,
        seen: &mut Vec<String>,
    ) -> anyhow::Result<Self> {
        let mut endpoint = String::new();
        for line in lines.by_ref() {
            let line = line?;
            if let Some(rest) = line.strip_prefix("coordinator ") {
                endpoint = rest.split_whitespace().next().unwrap_or_default().to_owned();
            }
            if let Some(rest) = line.strip_prefix("job ") {
                let job = rest.trim().to_owned();
                seen.push(line);
                anyhow::ensure!(!endpoint.is_empty(), "local printed the job before the coordinator");
                return Ok(Self { endpoint, job });
            }
            seen.push(line);
        }
        anyhow::bail!("local ended before it named the coordinator and the job: {seen:?}")
    }

    /// Epochs done by the least advanced unfinished partition (counted over
    /// all the job's models); `None` until the job reports progress or when
    /// the coordinator does not answer.
    pub fn min_epochs(&self, run: &Path) -> Option<f64> {
        let out = crate::command("coordinator")
            .ok()?
            .env_remove("TESSERA_INSECURE")
            .args(["--coordinator", &self.endpoint, "--tls-dir"])
            .arg(run.join("certs"))
            .args(["status", &self.job, "--json"])
            .output()
            .ok()?;
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        status["progress"]
            .as_array()?
            .iter()
            .filter(|p| p["finished"] != true)
            .map(|p| {
                let per_epoch = p["steps_per_epoch"].as_f64().unwrap_or(1.0).max(1.0);
                p["epoch"].as_f64().unwrap_or(0.0) + p["step"].as_f64().unwrap_or(0.0) / per_epoch
            })
            .min_by(f64::total_cmp)
    }
}

/// `stderr` of a child as a line iterator.
pub fn lines(
    stderr: std::process::ChildStderr,
) -> std::io::Lines<std::io::BufReader<std::process::ChildStderr>> {
    std::io::BufReader::new(stderr).lines()
}
