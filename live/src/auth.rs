//! Keys and tokens. Every secret is 32 random bytes from the operating system, shown once and
//! stored only as its SHA-256. A slow password hash (argon2) protects secrets people choose and
//! may reuse; these are 256-bit random keys, for which a fast hash is the standard practice
//! (a guess is as hard as the key itself) and keeps authentication off the request's latency.
//!
//! Who may do what: the admin key creates tenants and their keys; a tenant key acts on its own
//! projects, tasks and people only (another tenant's objects are "not found"); a person's token
//! leases, answers, gives back and heartbeats their own assignments only.

use crate::ops::Principal;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::RwLock;

/// A fresh secret: `prefix_` + 43 characters of base64url.
pub fn new_token(prefix: &str) -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the operating system's random source");
    format!("{prefix}_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

/// The stored form of a secret.
pub fn hash(token: &str) -> String {
    let d = Sha256::digest(token.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// The principals by key hash, loaded from the store at start and told of new keys after
/// their commit.
#[derive(Default)]
pub struct Keys {
    admin: Option<String>,
    by_hash: RwLock<HashMap<String, Principal>>,
}

impl Keys {
    pub fn new(admin_key: Option<&str>) -> Self {
        Keys { admin: admin_key.map(hash), by_hash: RwLock::new(HashMap::new()) }
    }
    pub fn add(&self, hash: String, who: Principal) {
        self.by_hash.write().expect("keys lock").insert(hash, who);
    }
    /// Who a bearer token is.
    pub fn who(&self, token: &str) -> Option<Principal> {
        let h = hash(token);
        if self.admin.as_deref() == Some(h.as_str()) {
            return Some(Principal::Admin);
        }
        self.by_hash.read().expect("keys lock").get(&h).copied()
    }
}
