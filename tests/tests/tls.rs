//! Mutual TLS and authentication with the real binaries: etcd serving TLS
//! with client certificates and user authentication, `coordinator serve`
//! and a `ps-server` on certificates from `coordinator certs`. The right
//! certificate and token succeed; a certificate from another CA, no
//! certificate, plaintext or no token are refused; a binary given neither
//! certificates nor `--insecure` does not start.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use ps_client::{ClientOptions, ShardedClient};
use tessera_proto::ps::v1::parameter_server_client::ParameterServerClient;
use tessera_proto::ps::v1::StatsRequest;
use tessera_runtime::tls::{Tls, TlsFiles};
use tessera_tests::binaries::binary;
use tessera_tests::ChildProcess;

/// `coordinator certs --out dir`.
fn certs(dir: &Path) {
    let out = Command::new(binary("coordinator").unwrap())
        .args(["certs", "--out"])
        .arg(dir)
        .args(["--host", "tessera.test"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The coordinator CLI with `security` flags against `endpoint`.
fn cli(endpoint: &str, security: &[&str], args: &[&str]) -> Output {
    Command::new(binary("coordinator").unwrap())
        .arg("--coordinator")
        .arg(endpoint)
        .args(security)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_and_tokens_refuse_strangers_and_admit_the_right_peers() {
    let dir = tempfile::tempdir().unwrap();
    let (ours, theirs) = (dir.path().join("ours"), dir.path().join("theirs"));
    certs(&ours);
    certs(&theirs);
    // A second `certs` into the same folder keeps the CA.
    let ca = std::fs::read(ours.join("ca.pem")).unwrap();
    let again =
        Command::new(binary("coordinator").unwrap()).args(["certs", "--out"]).arg(&ours).output().unwrap();
    assert!(again.status.success() && text(&again).contains("already exists"), "{}", text(&again));
    assert_eq!(std::fs::read(ours.join("ca.pem")).unwrap(), ca);

    // etcd on mutual TLS, with authentication on: only user root may act.
    let etcd = tessera_tests::Etcd::start_tls(&ours).await.unwrap();
    let mut admin = etcd.client().await.unwrap();
    admin.user_add("root", "etcd-secret", None).await.unwrap();
    admin.user_grant_role("root", "root").await.unwrap();
    admin.auth_enable().await.unwrap();
    let password = dir.path().join("etcd-password");
    std::fs::write(&password, "etcd-secret\n").unwrap();
    let wrong_password = dir.path().join("wrong-password");
    std::fs::write(&wrong_password, "guess\n").unwrap();
    // A client certificate from another CA is refused by etcd.
    let foreign = Tls::from_files(&TlsFiles::in_dir(&theirs, "client")).unwrap();
    let stranger =
        tessera_runtime::etcd::EtcdAccess::new(vec![etcd.endpoint()], &foreign, &Default::default())
            .unwrap()
            .connect_default()
            .await;
    match stranger {
        Err(_) => {}
        Ok(mut c) => assert!(c.status().await.is_err(), "etcd accepted a certificate from another CA"),
    }

    let token = dir.path().join("token");
    std::fs::write(&token, "submit-and-cancel-token\n").unwrap();
    let serve = |password: &Path| {
        let mut command = Command::new(binary("coordinator").unwrap());
        command
            .arg("--tls-dir")
            .arg(&ours)
            .args(["serve", "--listen", "127.0.0.1:0", "--etcd", &etcd.endpoint(), "--etcd-user", "root"])
            .arg("--etcd-password-file")
            .arg(password)
            .arg("--token-file")
            .arg(&token)
            .env("RUST_LOG", "warn");
        command
    };
    // The wrong etcd password: the coordinator does not start.
    let refused = serve(&wrong_password).output().unwrap();
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(!text(&refused).contains("guess"), "the password was printed: {}", text(&refused));
    let (_coordinator, addr) =
        ChildProcess::spawn_reporting("coordinator", &mut serve(&password), &["LISTENING "]).unwrap();
    let endpoint = format!("http://{}", addr[0]);
    let our_dir = ours.to_str().unwrap();
    let their_dir = theirs.to_str().unwrap();
    let token_file = token.to_str().unwrap();

    // The right certificate lists jobs; the right certificate and token reach
    // CancelJob, which answers for the job (there is none) instead of refusing.
    let listed = cli(&endpoint, &["--tls-dir", our_dir], &["list"]);
    assert!(listed.status.success(), "{}", text(&listed));
    let cancel =
        cli(&endpoint, &["--tls-dir", our_dir, "--token-file", token_file], &["cancel", "no-such-job"]);
    assert!(
        text(&cancel).contains("no-such-job") && !text(&cancel).to_lowercase().contains("token"),
        "{}",
        text(&cancel)
    );
    // The right certificate without the token: refused as unauthenticated.
    let no_token = cli(&endpoint, &["--tls-dir", our_dir], &["cancel", "no-such-job"]);
    assert!(!no_token.status.success() && text(&no_token).contains("bearer token"), "{}", text(&no_token));
    // The token with a certificate from another CA: the handshake fails.
    let stranger =
        cli(&endpoint, &["--tls-dir", their_dir, "--token-file", token_file], &["cancel", "no-such-job"]);
    assert!(
        !stranger.status.success() && !text(&stranger).contains("no-such-job CANCELLED"),
        "{}",
        text(&stranger)
    );
    eprintln!("another CA: {}", text(&stranger).trim());
    // Trusting our CA but presenting another CA's certificate: the server
    // refuses it.
    let (our_ca, their_cert, their_key) =
        (ours.join("ca.pem"), theirs.join("client.pem"), theirs.join("client.key"));
    let mixed = [
        "--tls-ca",
        our_ca.to_str().unwrap(),
        "--tls-cert",
        their_cert.to_str().unwrap(),
        "--tls-key",
        their_key.to_str().unwrap(),
    ];
    let impostor = cli(&endpoint, &mixed, &["list"]);
    assert!(!impostor.status.success(), "{}", text(&impostor));
    eprintln!("our CA, their certificate: {}", text(&impostor).trim());
    // Plaintext against the TLS server fails too.
    let plain = cli(&endpoint, &["--insecure", "--token-file", token_file], &["list"]);
    assert!(!plain.status.success(), "{}", text(&plain));
    eprintln!("plaintext: {}", text(&plain).trim());
    // Neither certificates nor --insecure: the CLI refuses before connecting.
    let bare = Command::new(binary("coordinator").unwrap())
        .args(["--coordinator", &endpoint, "list"])
        .env_remove("TESSERA_INSECURE")
        .output()
        .unwrap();
    assert!(!bare.status.success() && text(&bare).contains("no TLS certificates"), "{}", text(&bare));

    // A parameter-server shard on TLS: our worker certificate reads its
    // stats; another CA's, or plaintext, is refused.
    let mut ps = Command::new(binary("ps-server").unwrap());
    ps.arg("--tls-dir").arg(&ours).args(["--listen", "127.0.0.1:0"]);
    let (_ps, ps_addr) = ChildProcess::spawn_reporting("ps-server", &mut ps, &["LISTENING "]).unwrap();
    let stats = |tls: Tls| {
        let endpoints = vec![format!("http://{}", ps_addr[0])];
        async move {
            let options = ClientOptions {
                tls,
                max_attempts: 1,
                request_timeout: Duration::from_secs(5),
                ..ClientOptions::default()
            };
            ShardedClient::new(&endpoints, options).unwrap().stats().await
        }
    };
    let worker = Tls::from_files(&TlsFiles::in_dir(&ours, "worker")).unwrap();
    let ok = stats(worker).await.unwrap();
    assert_eq!(ok.len(), 1);
    assert!(stats(Tls::from_files(&TlsFiles::in_dir(&theirs, "worker")).unwrap()).await.is_err());
    assert!(stats(Tls::insecure()).await.is_err());
    // TLS that trusts our CA but presents no certificate: refused.
    let anonymous = tonic::transport::Endpoint::from_shared(format!("https://{}", ps_addr[0]))
        .unwrap()
        .tls_config(tonic::transport::ClientTlsConfig::new().ca_certificate(
            tonic::transport::Certificate::from_pem(std::fs::read(ours.join("ca.pem")).unwrap()),
        ))
        .unwrap();
    let answer = async {
        let channel = anonymous.connect().await?;
        ParameterServerClient::new(channel).stats(StatsRequest {}).await?;
        anyhow::Ok(())
    };
    let refused = answer.await.expect_err("a client without a certificate was served");
    eprintln!("no client certificate: {refused:#}");

    // A client that connects and never starts the handshake is dropped
    // after the handshake timeout instead of holding the connection.
    let silent = tokio::task::spawn_blocking(move || {
        use std::io::Read as _;
        let mut stream = std::net::TcpStream::connect(&ps_addr[0]).unwrap();
        stream.set_read_timeout(Some(tessera_runtime::tls::HANDSHAKE_TIMEOUT * 2)).unwrap();
        let started = std::time::Instant::now();
        let read = stream.read(&mut [0u8; 16]);
        (read.map_err(|e| e.kind()), started.elapsed())
    });
    let (read, waited) = silent.await.unwrap();
    let closed = matches!(read, Ok(0) | Err(std::io::ErrorKind::ConnectionReset));
    assert!(closed, "the server kept the silent connection: {read:?} after {waited:?}");
    assert!(waited >= tessera_runtime::tls::HANDSHAKE_TIMEOUT - Duration::from_secs(1), "{waited:?}");
    eprintln!("a silent client was dropped after {waited:.1?}");

    // A server binary without certificates or --insecure does not start.
    let bare_ps = Command::new(binary("ps-server").unwrap())
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("TESSERA_INSECURE")
        .output()
        .unwrap();
    assert!(
        !bare_ps.status.success() && text(&bare_ps).contains("no TLS certificates"),
        "{}",
        text(&bare_ps)
    );
}
