//! How a BMC's certificate is trusted. BMCs mostly ship self-signed
//! certificates, so besides ordinary verification an operator can pin the
//! leaf certificate's SHA-256 fingerprint (what `openssl x509 -fingerprint
//! -sha256` prints) or, knowingly, accept any certificate.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::Error;

/// Certificate trust for one BMC.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// Web PKI roots and the host name, as a browser would.
    Verify,
    /// Any certificate (the handshake signature is still checked).
    Insecure,
    /// Only the certificate with this SHA-256 digest (of its DER encoding).
    Pin([u8; 32]),
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tls::Verify => f.write_str("Verify"),
            Tls::Insecure => f.write_str("Insecure"),
            Tls::Pin(d) => write!(f, "Pin({})", hex::encode(d)),
        }
    }
}

/// Parse a SHA-256 fingerprint: 64 hex digits, optionally in colon-
/// separated pairs as openssl prints them.
pub fn parse_fingerprint(s: &str) -> Result<[u8; 32], Error> {
    let hex: String = s.trim().chars().filter(|c| *c != ':').collect();
    let mut out = [0u8; 32];
    hex::decode_to_slice(&hex, &mut out).map_err(|_| {
        Error::Invalid(format!(
            "tls_fingerprint must be a SHA-256 digest: 64 hex digits (colons allowed), not `{s}`"
        ))
    })?;
    Ok(out)
}

/// The SHA-256 fingerprint of a DER certificate, lowercase hex.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// The leaf certificate was not the pinned one.
#[derive(Debug, thiserror::Error)]
#[error("the BMC's certificate has SHA-256 fingerprint {got}, not the pinned {want}")]
pub struct PinMismatch {
    pub got: String,
    pub want: String,
}

/// Accepts a certificate by digest (or any, when `pin` is `None`) and
/// verifies handshake signatures with the provider's algorithms.
#[derive(Debug)]
struct Verifier {
    pin: Option<[u8; 32]>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(want) = self.pin else {
            return Ok(ServerCertVerified::assertion());
        };
        let got: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if got == want {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(PinMismatch {
                    got: hex::encode(got),
                    want: hex::encode(want),
                })),
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A rustls client configuration for `Insecure` or `Pin`; `None` for
/// `Verify` (reqwest's own configuration with Web PKI roots).
pub fn client_config(tls: Tls) -> Result<Option<rustls::ClientConfig>, Error> {
    let pin = match tls {
        Tls::Verify => return Ok(None),
        Tls::Insecure => None,
        Tls::Pin(d) => Some(d),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Verifier {
        pin,
        algorithms: provider.signature_verification_algorithms,
    };
    let config = rustls::ClientConfig::builder_with_provider(provider as Arc<CryptoProvider>)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Invalid(format!("TLS setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Some(config))
}

/// A rustls configuration for any `Tls`, `Verify` with the Web PKI roots
/// reqwest uses: for connections reqwest does not make (a BMC's KVM
/// WebSocket).
pub fn rustls_config(tls: Tls) -> Result<rustls::ClientConfig, Error> {
    if let Some(c) = client_config(tls)? {
        return Ok(c);
    }
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(
        rustls::ClientConfig::builder_with_provider(provider as Arc<CryptoProvider>)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Invalid(format!("TLS setup: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// The pin mismatch behind a failed request, if that is why it failed.
/// (`io::Error` hides its inner error from `source()`, so look inside.)
pub fn find_pin_mismatch(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur = Some(e);
    while let Some(mut err) = cur {
        cur = err.source();
        // tokio-rustls nests the rustls error in two io::Errors.
        while let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            err = inner;
        }
        if let Some(rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(o)))) =
            err.downcast_ref::<rustls::Error>()
            && let Some(m) = o.downcast_ref::<PinMismatch>()
        {
            return Some(m.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fingerprints() {
        let hex = "AB".repeat(32);
        assert_eq!(parse_fingerprint(&hex).unwrap(), [0xab; 32]);
        let colons = vec!["ab"; 32].join(":");
        assert_eq!(parse_fingerprint(&colons).unwrap(), [0xab; 32]);
        for bad in ["", "ab", &"zz".repeat(32), &"ab".repeat(33)] {
            let e = parse_fingerprint(bad).unwrap_err().to_string();
            assert!(e.contains("64 hex digits"), "{e}");
        }
        assert_eq!(
            fingerprint(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            format!("{:?}", Tls::Pin([1; 32])),
            format!("Pin({})", "01".repeat(32))
        );
    }

    /// A TLS server on 127.0.0.1 with a fresh self-signed certificate that
    /// answers every request with a tiny Redfish service root.
    async fn tls_server() -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let ck = rcgen::generate_simple_self_signed(vec!["bmc.test".into()]).unwrap();
        let der = ck.cert.der().clone();
        let fp = fingerprint(&der);
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![der], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A refused handshake is the point of some tests.
                    let Ok(mut s) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut req = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    let body = r#"{"@odata.id": "/redfish/v1", "RedfishVersion": "1.6.0"}"#;
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = s.write_all(resp.as_bytes()).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        (port, fp)
    }

    fn client(port: u16, tls: Tls) -> crate::Client {
        let mut cfg = crate::Config::new("127.0.0.1", port, "u", "p");
        cfg.tls = tls;
        cfg.timeout = std::time::Duration::from_secs(10);
        crate::Client::new(cfg).unwrap()
    }

    #[tokio::test]
    async fn pinned_certificate_is_accepted_and_others_refused() {
        let (port, fp) = tls_server().await;
        let root = client(port, Tls::Pin(parse_fingerprint(&fp).unwrap()))
            .get_json("/redfish/v1")
            .await
            .unwrap();
        assert_eq!(root["RedfishVersion"], "1.6.0");

        let mut wrong = parse_fingerprint(&fp).unwrap();
        wrong[0] ^= 1;
        let e = client(port, Tls::Pin(wrong))
            .get_json("/redfish/v1")
            .await
            .unwrap_err();
        match &e {
            Error::Tls(m) => assert!(
                m.contains(&fp) && m.contains(&hex::encode(wrong)) && m.contains("not the pinned"),
                "{m}"
            ),
            other => panic!("expected a TLS error, got {other:?}"),
        }

        // Self-signed: ordinary verification refuses it, and says what to do.
        let e = client(port, Tls::Verify)
            .get_json("/redfish/v1")
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::Tls(m) if m.contains("tls_fingerprint")),
            "{e:?}"
        );

        let root = client(port, Tls::Insecure)
            .get_json("/redfish/v1")
            .await
            .unwrap();
        assert_eq!(root["@odata.id"], "/redfish/v1");
    }
}
