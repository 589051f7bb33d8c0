//! `coordinator certs`: a development CA and one certificate per component
//! (`make certs`), for `--tls-dir`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

/// Flags of `certs`.
#[derive(Debug, Args)]
pub struct CertsArgs {
    /// Folder to write `ca.pem` and `<component>.pem`/`.key` into (the CA's
    /// key goes to `private/ca.key` in it).
    #[arg(long, env = "TESSERA_CERTS_OUT", default_value = "certs")]
    pub out: PathBuf,
    /// Extra host names or addresses every certificate is valid for (the
    /// compose or Kubernetes service names), comma-separated or repeated.
    #[arg(long = "host", value_delimiter = ',')]
    pub hosts: Vec<String>,
    /// Replace the certificates already in `--out` (peers holding the old
    /// CA are refused afterwards). Without it, a folder that holds a CA is
    /// left as it is, so the command can run at every start.
    #[arg(long)]
    pub force: bool,
}

/// Runs `certs`.
///
/// # Errors
/// An invalid host name, or a file that cannot be written.
pub fn run(args: &CertsArgs) -> anyhow::Result<()> {
    let ca = args.out.join(tessera_runtime::tls::CA_FILE);
    if ca.exists() && !args.force {
        println!(
            "{} already exists: its certificates are kept (pass --force to make a new CA)",
            ca.display()
        );
        return Ok(());
    }
    let written = tessera_runtime::certs::write_dev_certs(&args.out, &args.hosts, "Tessera")
        .with_context(|| format!("write certificates to {}", args.out.display()))?;
    println!(
        "wrote a development CA and certificates for {} into {} ({} files; keys readable by you only)",
        tessera_runtime::certs::COMPONENTS.join(", "),
        args.out.display(),
        written.len()
    );
    Ok(())
}
