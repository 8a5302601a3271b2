//! TLS for every server of the process and trust for its clients (`[gateway] tls_cert`,
//! `tls_key`, `tls_ca`; docs/api.md "TLS").
//!
//! - Servers: [`ServerTls::load`] reads the PEM certificate chain and key once at start;
//!   [`ServerTls::http`] and [`ServerTls::postgres`] give the rustls configurations of the
//!   HTTP servers (ALPN `http/1.1`) and of the PostgreSQL port (ALPN `postgresql`, which
//!   libpq 17 offers). With a certificate configured, every port speaks TLS only.
//! - Clients: [`trust`] records the extra CA certificates once per process (a split role
//!   reaching another over `https://`, the gateway's proxy, the CLI), and
//!   [`http_client`] starts every HTTP client from a builder that trusts them besides the
//!   system's roots. Process-wide like the crypto provider ([`install_provider`]): every
//!   client of a process trusts the same authorities.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A TLS problem found at start: which file, and why it is unusable.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(String);

/// Installs the `ring` provider for rustls once per process (the HTTP clients use rustls
/// without a default provider, to keep aws-lc out of the build).
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The server side: the certificate chain and key every server of the process presents.
#[derive(Clone)]
pub struct ServerTls {
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
    /// The chain as read, PEM (SCRAM channel binding hashes the leaf certificate).
    pem: Arc<Vec<u8>>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("certificates", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// From `[gateway] tls_cert` and `tls_key`; `None` when neither is set.
    pub fn from_config(tls: &crate::config::TlsConfig) -> Result<Option<ServerTls>, TlsError> {
        match (&tls.cert, &tls.key) {
            (Some(cert), Some(key)) => ServerTls::load(cert, key).map(Some),
            _ => Ok(None),
        }
    }

    /// Reads a PEM certificate chain (leaf first) and its private key (PKCS#8, PKCS#1 or
    /// SEC1), and checks that they belong together. Errors name the file, never its
    /// contents.
    pub fn load(cert: &Path, key: &Path) -> Result<ServerTls, TlsError> {
        install_provider();
        const CERT: &str = "config: [gateway] tls_cert";
        const KEY: &str = "config: [gateway] tls_key";
        let pem = std::fs::read(cert).map_err(|e| read_error(CERT, cert, &e))?;
        let chain = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem_error(CERT, cert, &e))?;
        if chain.is_empty() {
            return Err(no_certificate(CERT, cert));
        }
        let key_pem = std::fs::read(key).map_err(|e| read_error(KEY, key, &e))?;
        let private =
            PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| pem_error(KEY, key, &e))?;
        let tls = ServerTls {
            chain,
            key: Arc::new(private),
            pem: Arc::new(pem),
        };
        // Builds once to check the key matches the certificate and is supported.
        tls.config(&[]).map_err(|e| {
            TlsError(format!(
                "config: [gateway] tls_cert {} and tls_key {} do not make a usable pair: {e}",
                cert.display(),
                key.display()
            ))
        })?;
        Ok(tls)
    }

    fn config(&self, alpn: &[&[u8]]) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }

    /// For the HTTP servers.
    pub fn http(&self) -> tokio_rustls::TlsAcceptor {
        let config = self.config(&[b"http/1.1"]).expect("checked at load");
        tokio_rustls::TlsAcceptor::from(config)
    }

    /// For the PostgreSQL port.
    pub fn postgres(&self) -> Arc<rustls::ServerConfig> {
        self.config(&[b"postgresql"]).expect("checked at load")
    }

    /// The certificate chain as PEM.
    pub fn chain_pem(&self) -> &[u8] {
        &self.pem
    }
}

/// `what` names the setting (`config: [gateway] tls_key`, `--ca-file`).
fn read_error(what: &str, path: &Path, e: &std::io::Error) -> TlsError {
    TlsError(format!("{what} {}: cannot read: {e}", path.display()))
}

fn pem_error(what: &str, path: &Path, e: &rustls::pki_types::pem::Error) -> TlsError {
    // The PEM error names sections and positions, never key material.
    TlsError(format!(
        "{what} {}: not a usable PEM file: {e}",
        path.display()
    ))
}

fn no_certificate(what: &str, path: &Path) -> TlsError {
    TlsError(format!(
        "{what} {}: no PEM certificate in the file",
        path.display()
    ))
}

/// The extra certificate authorities this process's clients trust.
static TRUSTED: OnceLock<Vec<reqwest::Certificate>> = OnceLock::new();

/// Trusts the PEM certificates in `ca` (every client made by [`http_client`] from now
/// on), besides the system's roots; `what` names the setting in errors (`config: [gateway]
/// tls_ca`, `--ca-file`). Once per process; a second call changes nothing.
pub fn trust(ca: Option<&PathBuf>, what: &str) -> Result<(), TlsError> {
    install_provider();
    let Some(path) = ca else {
        let _ = TRUSTED.set(Vec::new());
        return Ok(());
    };
    let pem = std::fs::read(path).map_err(|e| read_error(what, path, &e))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(what, path, &e))?;
    if certificates.is_empty() {
        return Err(no_certificate(what, path));
    }
    let certificates = certificates
        .iter()
        .map(|der| reqwest::Certificate::from_der(der))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            TlsError(format!(
                "{what} {}: {}",
                path.display(),
                crate::error::chain(&e)
            ))
        })?;
    let _ = TRUSTED.set(certificates);
    Ok(())
}

/// A client builder that trusts the system's roots and the authorities given to
/// [`trust`]. Every HTTP client of the process starts here.
pub fn http_client() -> reqwest::ClientBuilder {
    install_provider();
    TRUSTED
        .get()
        .into_iter()
        .flatten()
        .fold(reqwest::Client::builder(), |builder, ca| {
            builder.add_root_certificate(ca.clone())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate and its key, made by openssl in `dir`.
    fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let (cert, key) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}.key")),
        );
        let status = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
            .args(["-subj", "/CN=localhost", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl runs (apt-get install openssl)");
        assert!(status.status.success(), "{status:?}");
        (cert, key)
    }

    #[test]
    fn a_matching_pair_loads_and_anything_else_is_named_not_shown() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(dir.path(), "a");
        let tls = ServerTls::load(&cert, &key).unwrap();
        assert!(tls.chain_pem().starts_with(b"-----BEGIN CERTIFICATE-----"));
        let _ = (tls.http(), tls.postgres());

        // Another certificate's key: refused as a pair.
        let (_, other_key) = self_signed(dir.path(), "b");
        let e = ServerTls::load(&cert, &other_key).unwrap_err().to_string();
        assert!(e.contains("do not make a usable pair"), "{e}");

        // A file that is not PEM (here: a secret) is named, its content never shown.
        let secret = dir.path().join("secret.txt");
        std::fs::write(&secret, "hunter2-is-not-a-key").unwrap();
        for e in [
            ServerTls::load(&secret, &key).unwrap_err().to_string(),
            ServerTls::load(&cert, &secret).unwrap_err().to_string(),
            trust(Some(&secret), "--ca-file").unwrap_err().to_string(),
        ] {
            assert!(e.contains("secret.txt"), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
        let missing = dir.path().join("missing.pem");
        let e = ServerTls::load(&missing, &key).unwrap_err().to_string();
        assert!(e.contains("tls_cert") && e.contains("cannot read"), "{e}");
    }
}
