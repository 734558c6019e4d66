//! Basic authentication against `basic_auth_users` (bcrypt hashes).
//!
//! User names are compared in constant time and an unknown user costs a bcrypt verification
//! like a known one, so timing tells neither. bcrypt runs on the blocking thread pool, a few at a
//! time, never on the async threads. A password that verified is remembered per user as a keyed
//! SHA-256 digest (compared in constant time), so a scraper pays for bcrypt once per
//! configuration, not once per scrape; failures are not remembered.

use base64::Engine as _;
use hyper::header::HeaderValue;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

/// bcrypt's cost range.
const COSTS: std::ops::RangeInclusive<u32> = 4..=31;

/// The configured users; one per loaded configuration, so a reload starts a fresh cache.
pub(crate) struct BasicAuth {
    users: Vec<User>,
    /// Key of the cached digests: random per configuration, never stored.
    key: [u8; 32],
    /// At most this many bcrypt verifications run at once.
    slots: Arc<Semaphore>,
}

struct User {
    name: Vec<u8>,
    hash: Arc<str>,
    /// Digest of the password that last verified.
    verified: Mutex<Option<[u8; 32]>>,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("users", &self.users.len())
            .finish_non_exhaustive()
    }
}

impl BasicAuth {
    /// Validates every hash; `None` when there are no users (no authentication, as
    /// exporter-toolkit does).
    pub(super) fn new(users: &BTreeMap<String, String>) -> Result<Option<Self>, String> {
        if users.is_empty() {
            return Ok(None);
        }
        let mut checked = Vec::with_capacity(users.len());
        for (name, hash) in users {
            if name.contains(':') {
                return Err(format!(
                    "basic_auth_users: user name {name:?} contains ':', which basic authentication cannot carry; rename the user"
                ));
            }
            let parts = bcrypt::HashParts::from_str(hash).map_err(|e| {
                format!(
                    "basic_auth_users.{name}: not a bcrypt hash ({e}); store a hash such as the output of: htpasswd -nbBC 10 \"\" PASSWORD | tr -d ':\\n'"
                )
            })?;
            if !COSTS.contains(&parts.get_cost()) {
                return Err(format!(
                    "basic_auth_users.{name}: bcrypt cost {} is outside {}..={}; hash the password again with a cost such as 10",
                    parts.get_cost(),
                    COSTS.start(),
                    COSTS.end()
                ));
            }
            checked.push(User {
                name: name.as_bytes().to_vec(),
                hash: hash.as_str().into(),
                verified: Mutex::new(None),
            });
        }
        let mut key = [0u8; 32];
        rustls::crypto::ring::default_provider()
            .secure_random
            .fill(&mut key)
            .map_err(|_| "cannot get random bytes from the operating system".to_string())?;
        let parallel = std::thread::available_parallelism().map_or(1, |n| n.get().div_ceil(2));
        Ok(Some(BasicAuth {
            users: checked,
            key,
            slots: Arc::new(Semaphore::new(parallel)),
        }))
    }

    /// How many users there are.
    pub(crate) fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the request's `Authorization` header names a user and their password.
    pub(crate) async fn allows(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some((name, password)) = authorization.and_then(credentials) else {
            return false;
        };
        let mut found = None;
        for user in &self.users {
            if bool::from(user.name.ct_eq(&name)) {
                found = Some(user);
            }
        }
        let digest = self.digest(&name, &password);
        if let Some(user) = found {
            let cached = *lock(&user.verified);
            if cached.is_some_and(|c| bool::from(c.ct_eq(&digest))) {
                return true;
            }
        }
        let hash = found.map(|u| u.hash.clone());
        let Ok(_permit) = self.slots.clone().acquire_owned().await else {
            return false;
        };
        let verified = tokio::task::spawn_blocking(move || match hash {
            Some(hash) => bcrypt::verify(&password, &hash).unwrap_or(false),
            None => {
                // Same work for an unknown user, then refuse.
                let _ = bcrypt::verify(&password, dummy_hash());
                false
            }
        })
        .await
        .unwrap_or(false);
        if let (true, Some(user)) = (verified, found) {
            *lock(&user.verified) = Some(digest);
        }
        verified
    }

    fn digest(&self, name: &[u8], password: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update((name.len() as u64).to_be_bytes());
        h.update(name);
        h.update(password);
        h.finalize().into()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A bcrypt hash of a random password at the usual cost, verified against for unknown users.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut secret = [0u8; 16];
        let _ = rustls::crypto::ring::default_provider()
            .secure_random
            .fill(&mut secret);
        bcrypt::hash(secret, 10).unwrap_or_default()
    })
}

/// User and password of `Basic base64(user:password)`.
fn credentials(header: &HeaderValue) -> Option<(Vec<u8>, Vec<u8>)> {
    let value = header.as_bytes();
    let (scheme, rest) = value.split_at(value.iter().position(|&b| b == b' ')?);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim_ascii())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> HeaderValue {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {token}")).unwrap()
    }

    fn auth(users: &[(&str, &str)]) -> BasicAuth {
        let map = users
            .iter()
            .map(|(u, p)| (u.to_string(), bcrypt::hash(p, 4).unwrap()))
            .collect();
        BasicAuth::new(&map).unwrap().unwrap()
    }

    #[test]
    fn credentials_are_parsed_from_the_header() {
        assert_eq!(
            credentials(&header("alice", "pa:ss word")),
            Some((b"alice".to_vec(), b"pa:ss word".to_vec()))
        );
        let lower = HeaderValue::from_static("basic  YTpi");
        assert_eq!(credentials(&lower), Some((b"a".to_vec(), b"b".to_vec())));
        for bad in ["Bearer YTpi", "Basic", "Basic !!!", "Basic YWI="] {
            assert_eq!(credentials(&HeaderValue::from_static(bad)), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn only_the_right_password_of_a_known_user_passes() {
        let a = auth(&[("alice", "secret"), ("bob", "hunter2")]);
        assert!(a.allows(Some(&header("alice", "secret"))).await);
        assert!(a.allows(Some(&header("bob", "hunter2"))).await);
        assert!(!a.allows(Some(&header("alice", "hunter2"))).await);
        assert!(!a.allows(Some(&header("alice", "secret "))).await);
        assert!(!a.allows(Some(&header("carol", "secret"))).await);
        assert!(!a.allows(Some(&header("alicex", "secret"))).await);
        assert!(!a.allows(None).await);
    }

    #[tokio::test]
    async fn a_verified_password_is_cached_and_a_wrong_one_is_not() {
        let a = auth(&[("alice", "secret")]);
        assert!(lock(&a.users[0].verified).is_none());
        assert!(!a.allows(Some(&header("alice", "wrong"))).await);
        assert!(lock(&a.users[0].verified).is_none());
        assert!(a.allows(Some(&header("alice", "secret"))).await);
        let cached = lock(&a.users[0].verified).unwrap();
        assert_eq!(cached, a.digest(b"alice", b"secret"));
        // The cache answers without bcrypt: with every bcrypt slot taken it still passes.
        let free = u32::try_from(a.slots.available_permits()).unwrap();
        let _all = a.slots.clone().try_acquire_many_owned(free).unwrap();
        assert_eq!(a.slots.available_permits(), 0);
        assert!(a.allows(Some(&header("alice", "secret"))).await);
    }

    #[test]
    fn bad_hashes_and_names_are_errors_naming_the_user() {
        for (user, hash, needle) in [
            (
                "alice",
                "secret",
                "basic_auth_users.alice: not a bcrypt hash",
            ),
            (
                "bob",
                "$1$abcdefgh$abcdefghijklmnopqrstuv",
                "basic_auth_users.bob: not a bcrypt hash",
            ),
            (
                "carol",
                "$2y$03$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi",
                "cost 3",
            ),
            (
                "d:e",
                "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi",
                "contains ':'",
            ),
        ] {
            let map = BTreeMap::from([(user.to_string(), hash.to_string())]);
            let err = BasicAuth::new(&map).unwrap_err();
            assert!(err.contains(needle), "{user}: {err}");
        }
        assert!(BasicAuth::new(&BTreeMap::new()).unwrap().is_none());
    }

    #[test]
    fn the_dummy_hash_is_a_cost_10_bcrypt_hash() {
        let parts = bcrypt::HashParts::from_str(dummy_hash()).unwrap();
        assert_eq!(parts.get_cost(), 10);
    }
}
