//! A development certificate authority and one certificate per component,
//! made with rcgen: what `coordinator certs` (`make certs`) writes and what
//! `coordinator local` makes for each run. Every certificate is valid as a
//! server and as a client (components are both), for `localhost`,
//! `127.0.0.1`, `::1`, its component name and the extra host names given
//! (such as the compose or Kubernetes service names).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::tls::CA_FILE;

/// The components that get a certificate, named as `--tls-dir` looks them up.
pub const COMPONENTS: [&str; 6] = ["coordinator", "ps", "worker", "recommend", "etcd", "client"];

/// Host names and addresses every certificate holds.
const LOOPBACK: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Writes `ca.pem` and `<component>.pem`/`.key` for every [`COMPONENTS`]
/// entry into `dir` (created when missing), with `hosts` added to each
/// certificate's names, and the CA's key into `dir/private/ca.key`, out of
/// the files a `kubectl create secret --from-file=dir` picks up. Keys are
/// written readable by the owner only. Returns the files written.
///
/// # Errors
/// An invalid host name, or a file that cannot be written.
pub fn write_dev_certs(dir: &Path, hosts: &[String], org: &str) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name.push(DnType::OrganizationName, org);
    ca.distinguished_name.push(DnType::CommonName, format!("{org} development CA"));
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_key = KeyPair::generate().context("generate the CA key")?;
    let ca_cert = ca.self_signed(&ca_key).context("sign the CA certificate")?;
    let private = dir.join("private");
    std::fs::create_dir_all(&private).with_context(|| format!("create {}", private.display()))?;
    let mut written = vec![
        write(dir, CA_FILE, &ca_cert.pem(), false)?,
        write(&private, "ca.key", &ca_key.serialize_pem(), true)?,
    ];
    let issuer = Issuer::new(ca, ca_key);
    for component in COMPONENTS {
        let mut names: Vec<String> = LOOPBACK.iter().map(|s| (*s).to_owned()).collect();
        names.push(component.to_owned());
        names.extend(hosts.iter().filter(|h| !names.contains(h)).cloned().collect::<Vec<_>>());
        let mut params = CertificateParams::new(names).with_context(|| format!("host names {hosts:?}"))?;
        params.distinguished_name.push(DnType::OrganizationName, org);
        params.distinguished_name.push(DnType::CommonName, component);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages =
            vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().with_context(|| format!("generate the {component} key"))?;
        let cert =
            params.signed_by(&key, &issuer).with_context(|| format!("sign the {component} certificate"))?;
        written.push(write(dir, &format!("{component}.pem"), &cert.pem(), false)?);
        written.push(write(dir, &format!("{component}.key"), &key.serialize_pem(), true)?);
    }
    Ok(written)
}

/// A CA made for one run of a launcher (`coordinator local`, `worker train
/// --standalone`, `worker export`) and its certificates, in `dir`.
///
/// # Errors
/// As [`write_dev_certs`].
pub fn write_run_certs(dir: &Path) -> anyhow::Result<()> {
    write_dev_certs(dir, &[], "Tessera local").context("make the run's certificates")?;
    Ok(())
}

fn write(dir: &Path, name: &str, text: &str, secret: bool) -> anyhow::Result<PathBuf> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = dir.join(name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true).mode(if secret { 0o600 } else { 0o644 });
    let mut file = options.open(&path).with_context(|| format!("write {}", path.display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("write {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::{Tls, TlsFiles};

    #[test]
    fn every_component_gets_a_loadable_pair() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_dev_certs(dir.path(), &["ps-0".into()], "Tessera").unwrap();
        assert_eq!(written.len(), 2 + 2 * COMPONENTS.len());
        for component in COMPONENTS {
            let tls = Tls::from_files(&TlsFiles::in_dir(dir.path(), component)).unwrap();
            assert!(tls.is_secure());
            assert!(!format!("{tls:?}").contains("PRIVATE"));
        }
        let mode = std::fs::metadata(dir.path().join("ps.key")).unwrap().permissions();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600);
    }
}
