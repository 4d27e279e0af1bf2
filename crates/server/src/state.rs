//! What every request handler shares: where the control plane is, the token keys,
//! whether the server speaks TLS, its public URL, and the bound on secret checks.
//!
//! Store and database work is blocking, so it runs on tokio's blocking pool through
//! [`AppState::blocking`]; each of its threads keeps one control-plane connection
//! (rusqlite connections are not shared between threads).

use crate::error::{ApiError, ApiResult};
use crate::throttle::Guard;
use dataalm_core::Location;
use dataalm_store::Store;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Location,
    keys: TokenKeys,
    token_lifetime: Duration,
    tls: bool,
    public_url: Option<String>,
    guard: Guard,
}

/// The ES256 key pair that signs and checks tokens, and its public half as published.
struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// With `kid` (its RFC 7638 thumbprint) and `use: sig`.
    jwk: Jwk,
}

impl TokenKeys {
    /// From the PKCS#8 key the control plane keeps.
    fn from_pkcs8(der: &[u8]) -> Result<TokenKeys, dataalm_store::Error> {
        let damaged = |e: jsonwebtoken::errors::Error| {
            dataalm_store::Error::Corrupt(format!("the token signing key: {e}"))
        };
        let encoding = EncodingKey::from_ec_der(der);
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).map_err(damaged)?;
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_id = Some(jwk.thumbprint(ThumbprintHash::SHA256).map_err(damaged)?);
        let decoding = DecodingKey::from_jwk(&jwk).map_err(damaged)?;
        Ok(TokenKeys {
            encoding,
            decoding,
            jwk,
        })
    }
}

impl AppState {
    /// Opens the control plane at `store` and takes its token signing key (made at
    /// first start). `tls` says whether the server is served over HTTPS.
    pub fn open(
        store: &Location,
        token_lifetime: Duration,
        tls: bool,
    ) -> Result<AppState, dataalm_store::Error> {
        AppState::open_at(store, token_lifetime, tls, None)
    }

    /// As [`AppState::open`], for a server known to clients as `public_url` (behind a
    /// proxy, say); without it, each request's own scheme and host.
    pub fn open_at(
        store: &Location,
        token_lifetime: Duration,
        tls: bool,
        public_url: Option<String>,
    ) -> Result<AppState, dataalm_store::Error> {
        let keys = TokenKeys::from_pkcs8(&Store::connect(store)?.token_key()?)?;
        Ok(AppState {
            inner: Arc::new(Inner {
                store: store.clone(),
                keys,
                token_lifetime,
                tls,
                public_url: public_url.map(|url| url.trim_end_matches('/').to_owned()),
                guard: Guard::default(),
            }),
        })
    }

    /// Where the control plane is.
    pub fn store(&self) -> &Location {
        &self.inner.store
    }

    pub fn encoding_key(&self) -> &EncodingKey {
        &self.inner.keys.encoding
    }

    pub fn decoding_key(&self) -> &DecodingKey {
        &self.inner.keys.decoding
    }

    /// The public signing key as a JWK, as `jwks_uri` publishes it.
    pub fn jwk(&self) -> &Jwk {
        &self.inner.keys.jwk
    }

    /// `--public-url`, without a trailing slash.
    pub fn public_url(&self) -> Option<&str> {
        self.inner.public_url.as_deref()
    }

    pub fn token_lifetime(&self) -> Duration {
        self.inner.token_lifetime
    }

    /// Whether this server speaks HTTPS itself (not behind a proxy that does).
    pub fn over_tls(&self) -> bool {
        self.inner.tls
    }

    /// The bound on secret checks and the failure tables.
    pub fn guard(&self) -> &Guard {
        &self.inner.guard
    }

    /// Runs blocking work with a control-plane connection, off the async threads.
    pub async fn blocking<T, F>(&self, work: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> ApiResult<T> + Send + 'static,
    {
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || with_store(&store, work)).await?
    }
}

thread_local! {
    /// Each blocking thread keeps its control-plane connection between requests.
    static STORE: RefCell<Option<(Location, Store)>> = const { RefCell::new(None) };
}

/// Runs `work` with this thread's connection to the control plane at `location`,
/// opening it the first time.
fn with_store<T>(location: &Location, work: impl FnOnce(&Store) -> ApiResult<T>) -> ApiResult<T> {
    STORE.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.as_ref().is_none_or(|(at, _)| at != location) {
            *cached = Some((location.clone(), Store::connect(location)?));
        }
        let result = match cached.as_ref() {
            Some((_, store)) => work(store),
            None => Err(ApiError::internal("the control plane connection was lost")),
        };
        // The connection may be what failed (a restarted PostgreSQL, say): the next
        // request on this thread connects again.
        if result.as_ref().is_err_and(|e| e.code == "control_plane") {
            *cached = None;
        }
        result
    })
}
