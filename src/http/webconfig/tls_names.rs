//! exporter-toolkit's (Go's) names for the enumerations of `tls_server_config` — TLS versions,
//! curves, client auth types, cipher suites — as serde enums, checked while the YAML is parsed,
//! and what each one is in rustls. A name that is not one of them is refused with the key (serde
//! puts it in front), the name, and what this exporter accepts instead.

use rustls::crypto::ring;
use rustls::crypto::SupportedKxGroup;
use rustls::{SupportedCipherSuite, SupportedProtocolVersion};
use serde::de::{value, DeserializeOwned, Deserializer, IntoDeserializer, Visitor};
use serde::Deserialize;
use std::fmt;
use std::marker::PhantomData;

/// An enumeration spelt as exporter-toolkit spells it.
pub(super) trait GoName: DeserializeOwned {
    /// Why `name`, none of the spellings, is refused and what to write instead.
    fn refusal(name: &str) -> String;
}

/// One name, through the enumeration's own (derived) deserializer.
pub(super) fn parse<T: GoName>(name: &str) -> Result<T, String> {
    let name_only: value::StrDeserializer<'_, value::Error> = name.into_deserializer();
    T::deserialize(name_only).map_err(|_| T::refusal(name))
}

/// For `#[serde(deserialize_with)]` on an `Option<T>` key.
pub(super) fn optional<'de, D: Deserializer<'de>, T: GoName>(d: D) -> Result<Option<T>, D::Error> {
    Ok(Option::<Spelt<T>>::deserialize(d)?.map(|s| s.0))
}

/// For `#[serde(deserialize_with)]` on an `Option<Vec<T>>` key.
pub(super) fn list<'de, D: Deserializer<'de>, T: GoName>(d: D) -> Result<Option<Vec<T>>, D::Error> {
    Ok(Option::<Vec<Spelt<T>>>::deserialize(d)?
        .map(|names| names.into_iter().map(|s| s.0).collect()))
}

/// One name read by the YAML deserializer itself, so that its error carries the key (and the
/// list index) the name was read at.
struct Spelt<T>(T);

impl<'de, T: GoName> Deserialize<'de> for Spelt<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(NameVisitor(PhantomData))
    }
}

struct NameVisitor<T>(PhantomData<T>);

impl<T: GoName> Visitor<'_> for NameVisitor<T> {
    type Value = Spelt<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a name as exporter-toolkit spells it")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Spelt<T>, E> {
        parse(name).map(Spelt).map_err(E::custom)
    }
}

/// `min_version`, `max_version`: the versions rustls speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub(crate) enum TlsVersion {
    #[serde(rename = "TLS12")]
    Tls12,
    #[serde(rename = "TLS13")]
    Tls13,
}

impl TlsVersion {
    pub(super) const ALL: [TlsVersion; 2] = [TlsVersion::Tls12, TlsVersion::Tls13];

    pub(super) fn rustls(self) -> &'static SupportedProtocolVersion {
        match self {
            TlsVersion::Tls12 => &rustls::version::TLS12,
            TlsVersion::Tls13 => &rustls::version::TLS13,
        }
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsVersion::Tls12 => "TLS12",
            TlsVersion::Tls13 => "TLS13",
        })
    }
}

impl GoName for TlsVersion {
    fn refusal(name: &str) -> String {
        match name {
            "TLS10" | "TLS11" => format!(
                "{name} is not supported: this exporter (rustls) speaks only TLS12 and TLS13; use TLS12 or TLS13"
            ),
            _ => format!("unknown TLS version {name:?}; use TLS12 or TLS13"),
        }
    }
}

/// `curve_preferences`: the key exchange groups of rustls' ring provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) enum Curve {
    #[serde(rename = "X25519")]
    X25519,
    #[serde(rename = "CurveP256")]
    P256,
    #[serde(rename = "CurveP384")]
    P384,
}

impl Curve {
    pub(super) fn rustls(self) -> &'static dyn SupportedKxGroup {
        use ring::kx_group as kx;
        match self {
            Curve::X25519 => kx::X25519,
            Curve::P256 => kx::SECP256R1,
            Curve::P384 => kx::SECP384R1,
        }
    }
}

impl GoName for Curve {
    fn refusal(name: &str) -> String {
        match name {
            "CurveP521" | "X25519MLKEM768" => format!(
                "{name} is not supported by this exporter (rustls with ring); use X25519, CurveP256 or CurveP384"
            ),
            _ => format!("unknown curve {name:?}; use X25519, CurveP256 or CurveP384"),
        }
    }
}

/// `client_auth_type`: Go's `tls.ClientAuthType` names (the variants are spelt as Go spells
/// them, so serde needs no renaming and `{:?}` prints the name the file uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) enum ClientAuth {
    NoClientCert,
    RequestClientCert,
    /// exporter-toolkit keeps the old name as an alias.
    #[serde(alias = "RequireClientCert")]
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

impl GoName for ClientAuth {
    fn refusal(name: &str) -> String {
        format!(
            "unknown value {name:?}; use one of NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert"
        )
    }
}

/// `cipher_suites`: Go's names of the suites rustls (ring) implements. Go accepts the
/// CHACHA20 ones without `_SHA256` too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) enum CipherSuite {
    #[serde(rename = "TLS_AES_128_GCM_SHA256")]
    Aes128GcmSha256,
    #[serde(rename = "TLS_AES_256_GCM_SHA384")]
    Aes256GcmSha384,
    #[serde(rename = "TLS_CHACHA20_POLY1305_SHA256")]
    Chacha20Poly1305Sha256,
    #[serde(rename = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")]
    EcdheEcdsaAes128GcmSha256,
    #[serde(rename = "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384")]
    EcdheEcdsaAes256GcmSha384,
    #[serde(
        rename = "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        alias = "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"
    )]
    EcdheEcdsaChacha20Poly1305Sha256,
    #[serde(rename = "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")]
    EcdheRsaAes128GcmSha256,
    #[serde(rename = "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384")]
    EcdheRsaAes256GcmSha384,
    #[serde(
        rename = "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        alias = "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"
    )]
    EcdheRsaChacha20Poly1305Sha256,
}

/// The names accepted, for the error.
pub(super) const CIPHER_SUITES: &str = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 (TLS 1.2) and TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256 (TLS 1.3)";

impl CipherSuite {
    pub(super) fn rustls(self) -> SupportedCipherSuite {
        use ring::cipher_suite as cs;
        use CipherSuite::*;
        match self {
            Aes128GcmSha256 => cs::TLS13_AES_128_GCM_SHA256,
            Aes256GcmSha384 => cs::TLS13_AES_256_GCM_SHA384,
            Chacha20Poly1305Sha256 => cs::TLS13_CHACHA20_POLY1305_SHA256,
            EcdheEcdsaAes128GcmSha256 => cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            EcdheEcdsaAes256GcmSha384 => cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            EcdheEcdsaChacha20Poly1305Sha256 => cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            EcdheRsaAes128GcmSha256 => cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            EcdheRsaAes256GcmSha384 => cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            EcdheRsaChacha20Poly1305Sha256 => cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        }
    }
}

impl GoName for CipherSuite {
    fn refusal(name: &str) -> String {
        format!("{name:?} is not available; this exporter (rustls) supports {CIPHER_SUITES}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_cipher_names_map_to_rustls_suites() {
        let suite = |name: &str| parse::<CipherSuite>(name).map(CipherSuite::rustls);
        assert_eq!(
            suite("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"),
            suite("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256")
        );
        assert_eq!(
            suite("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305").unwrap(),
            ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        );
        assert_eq!(
            suite("TLS_AES_256_GCM_SHA384").unwrap().suite(),
            rustls::CipherSuite::TLS13_AES_256_GCM_SHA384
        );
        assert!(suite("TLS_RSA_WITH_AES_128_CBC_SHA").is_err());
        // Every suite the provider has is reachable by a Go name listed in the message.
        for provided in ring::default_provider().cipher_suites {
            let go = format!("{:?}", provided.suite()).replace("TLS13_", "TLS_");
            assert_eq!(suite(&go), Ok(provided), "{go}");
            assert!(CIPHER_SUITES.contains(&go), "{go}");
        }
    }

    #[test]
    fn every_spelling_parses_to_its_value() {
        assert_eq!(parse("TLS12"), Ok(TlsVersion::Tls12));
        assert_eq!(parse("TLS13"), Ok(TlsVersion::Tls13));
        assert_eq!(TlsVersion::Tls12.to_string(), "TLS12");
        assert_eq!(TlsVersion::Tls13.rustls(), &rustls::version::TLS13);
        for (name, curve, group) in [
            ("X25519", Curve::X25519, rustls::NamedGroup::X25519),
            ("CurveP256", Curve::P256, rustls::NamedGroup::secp256r1),
            ("CurveP384", Curve::P384, rustls::NamedGroup::secp384r1),
        ] {
            assert_eq!(parse(name), Ok(curve));
            assert_eq!(curve.rustls().name(), group);
        }
        for (name, auth) in [
            ("NoClientCert", ClientAuth::NoClientCert),
            ("RequestClientCert", ClientAuth::RequestClientCert),
            ("RequireAnyClientCert", ClientAuth::RequireAnyClientCert),
            ("RequireClientCert", ClientAuth::RequireAnyClientCert),
            (
                "VerifyClientCertIfGiven",
                ClientAuth::VerifyClientCertIfGiven,
            ),
            (
                "RequireAndVerifyClientCert",
                ClientAuth::RequireAndVerifyClientCert,
            ),
        ] {
            assert_eq!(parse(name), Ok(auth), "{name}");
        }
        // Spellings are exact, as in Go.
        assert!(parse::<TlsVersion>("tls12").is_err());
        assert!(parse::<ClientAuth>("noclientcert").is_err());
    }

    #[test]
    fn a_name_that_is_none_of_them_is_refused_saying_what_is_accepted() {
        for (refusal, expected) in [
            (
                parse::<TlsVersion>("TLS10").unwrap_err(),
                "TLS10 is not supported: this exporter (rustls) speaks only TLS12 and TLS13; use TLS12 or TLS13",
            ),
            (
                parse::<TlsVersion>("SSL3").unwrap_err(),
                "unknown TLS version \"SSL3\"; use TLS12 or TLS13",
            ),
            (
                parse::<Curve>("CurveP521").unwrap_err(),
                "CurveP521 is not supported by this exporter (rustls with ring); use X25519, CurveP256 or CurveP384",
            ),
            (
                parse::<Curve>("P256").unwrap_err(),
                "unknown curve \"P256\"; use X25519, CurveP256 or CurveP384",
            ),
            (
                parse::<ClientAuth>("RequireCert").unwrap_err(),
                "unknown value \"RequireCert\"; use one of NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert",
            ),
            (
                parse::<CipherSuite>("TLS_RSA_WITH_AES_128_CBC_SHA").unwrap_err(),
                &format!("\"TLS_RSA_WITH_AES_128_CBC_SHA\" is not available; this exporter (rustls) supports {CIPHER_SUITES}"),
            ),
        ] {
            assert_eq!(refusal, expected);
        }
    }
}
