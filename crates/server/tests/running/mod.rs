//! A real server for a test: its own home and SQLite control plane, served on a free
//! port of 127.0.0.1 over plain HTTP or HTTPS, on a runtime of its own.
#![allow(dead_code, reason = "each test binary uses a part of it")]

use dataalm_core::Location;
use dataalm_store::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;

pub struct Running {
    /// Kept to the end of the test: the control plane lives in it.
    _home: TempDir,
    pub store: Location,
    pub addr: SocketAddr,
}

impl Running {
    /// Serves an empty control plane; HTTPS with `tls`.
    pub fn start(tls: Option<Arc<rustls::ServerConfig>>) -> Running {
        let home = tempfile::tempdir().expect("temp home");
        let location = Store::in_home(home.path());
        drop(Store::connect(&location).expect("control plane"));
        let addr = serve(&location, tls);
        Running {
            _home: home,
            store: location,
            addr,
        }
    }

    pub fn store(&self) -> Store {
        Store::connect(&self.store).expect("control plane")
    }

    /// The audit entries of `actor`, newest first.
    pub fn audit_of(&self, actor: &str) -> Vec<dataalm_store::AuditEntry> {
        let log = self.store().audit_log(100_000).expect("audit log");
        log.into_iter().filter(|e| e.actor == actor).collect()
    }
}

/// Serves the control plane at `location` on a free port of 127.0.0.1 (HTTPS with
/// `tls`), from a thread and runtime of its own that live as long as the test process.
pub fn serve(location: &Location, tls: Option<Arc<rustls::ServerConfig>>) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
    let served = location.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let ready = move |addr| {
            let _ = tx.send(addr);
        };
        let listen = "127.0.0.1:0".parse().expect("address");
        let served = dataalm_server::serve_with(&served, listen, tls, ready);
        if let Err(e) = runtime.block_on(served) {
            eprintln!("server stopped: {e}");
        }
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("the server did not start")
}

/// The value of cookie `name` among a response's `Set-Cookie` headers, with its
/// attributes: the whole header.
pub fn set_cookie(response: &reqwest::blocking::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// The value alone of a `Set-Cookie` header.
pub fn cookie_value(set_cookie: &str) -> String {
    let pair = set_cookie.split(';').next().unwrap_or_default();
    pair.split_once('=')
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default()
}
