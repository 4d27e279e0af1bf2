//! The secret key that lives outside the control plane, and the secrets the control plane
//! keeps encrypted with it (the token signing key, the passwords of environments' URLs).
//!
//! The key is 32 bytes, written as standard base64 (`openssl rand -base64 32`): taken from
//! `DATAALM_SECRET_KEY` when that is set, else from `secret.key` (0600, in a 0700
//! directory, made at first use). For a control plane in a SQLite file the key file sits
//! beside it; for one in PostgreSQL, which several servers share, each server carries the
//! key in its own home ([`use_home`], else `$DATAALM_HOME`, else `./.dataalm`, as the CLI
//! resolves it) or in the variable. So a copy of `control.db` or of the `dataalm` schema
//! alone holds no working credential.
//!
//! A value is sealed with XChaCha20-Poly1305 under a random nonce and kept as text,
//! `enc:v1:<base64url(nonce | ciphertext)>`, in the columns that held it in the clear, so
//! the schema does not change and the version tag lets the form change later. The
//! associated data names what the value is, so a sealed password cannot pass for the
//! signing key. Opening with another key fails (the tag does not match): never garbage.

use crate::secrets::random_bytes;
use crate::{Error, Result};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use dataalm_core::env::password_spans;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The environment variable that holds the key (standard base64 of 32 bytes). Read here
/// only.
pub const KEY_VAR: &str = "DATAALM_SECRET_KEY";

/// The key file's name, in the home directory.
pub const KEY_FILE: &str = "secret.key";

/// What marks a sealed value, and its form's version.
const SEALED_PREFIX: &str = "enc:v1:";

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

/// What a sealed value is, bound into it as associated data.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Purpose {
    SigningKey,
    EnvPassword,
    TokenKey,
    MaskKey,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::SigningKey => b"dataalm token signing key",
            Purpose::EnvPassword => b"dataalm environment password",
            Purpose::TokenKey => b"dataalm token signing key (ES256)",
            Purpose::MaskKey => b"dataalm mask key",
        }
    }
}

/// The local home of a process whose control plane is in PostgreSQL, set once by the
/// binary from `--home`.
static HOME: OnceLock<PathBuf> = OnceLock::new();

/// Tells the control plane where this process's home is (`--home`), for the key file
/// of a PostgreSQL control plane. The first call wins.
pub fn use_home(home: &Path) {
    let _ = HOME.set(home.to_path_buf());
}

/// Where the key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `DATAALM_SECRET_KEY`.
    Variable,
    /// A key file, made at first use.
    File(PathBuf),
}

impl KeySource {
    /// The variable when it is set, else `secret.key` in `home`.
    pub fn for_home(home: &Path) -> KeySource {
        match std::env::var_os(KEY_VAR) {
            Some(_) => KeySource::Variable,
            None => KeySource::File(home.join(KEY_FILE)),
        }
    }

    /// The home of a process whose control plane has no directory of its own.
    pub(crate) fn local() -> KeySource {
        let home = HOME.get().cloned().unwrap_or_else(|| {
            std::env::var_os("DATAALM_HOME").map_or_else(|| PathBuf::from(".dataalm"), Into::into)
        });
        KeySource::for_home(&home)
    }

    /// How to give the right key back, for error messages.
    pub(crate) fn remedy(&self) -> String {
        match self {
            KeySource::Variable => format!("set {KEY_VAR} to the key they were sealed with"),
            KeySource::File(path) => format!("set {KEY_VAR} or restore {}", path.display()),
        }
    }

    /// Reads the key; with `create`, a missing key file is made with a new random key.
    fn load(&self, create: bool) -> Result<SecretKey> {
        let text = match self {
            KeySource::Variable => std::env::var(KEY_VAR)
                .map_err(|_| Error::InvalidSecretKey(format!("{KEY_VAR} is not valid text")))?,
            KeySource::File(path) => match read_key_file(path)? {
                Some(text) => text,
                None if create => make_key_file(path)?,
                None => return Err(Error::MissingSecretKey(self.remedy())),
            },
        };
        SecretKey::parse(&text).map_err(|problem| {
            let whose = match self {
                KeySource::Variable => KEY_VAR.to_owned(),
                KeySource::File(path) => path.display().to_string(),
            };
            Error::InvalidSecretKey(format!("{whose} {problem}"))
        })
    }
}

/// The key, loaded when a secret is first sealed or opened: commands that touch no
/// secret never need it.
pub(crate) struct Sealer {
    source: KeySource,
    key: OnceLock<SecretKey>,
}

impl Sealer {
    pub(crate) fn new(source: KeySource) -> Sealer {
        Sealer {
            source,
            key: OnceLock::new(),
        }
    }

    pub(crate) fn seal(&self, purpose: Purpose, plain: &[u8]) -> Result<String> {
        let cipher = self.key(true)?.cipher();
        let nonce_bytes = random_bytes()?;
        let nonce = XNonce::from(
            <[u8; NONCE_LEN]>::try_from(&nonce_bytes[..NONCE_LEN])
                .map_err(|_| Error::Random("short nonce".into()))?,
        );
        let payload = Payload {
            msg: plain,
            aad: purpose.label(),
        };
        let sealed = cipher
            .encrypt(&nonce, payload)
            .map_err(|_| Error::Corrupt("a secret could not be encrypted".into()))?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        Ok(format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(blob)))
    }

    /// Opens a value [`Sealer::seal`] made; `what` names it in errors.
    pub(crate) fn open(&self, purpose: Purpose, sealed: &str, what: &str) -> Result<Vec<u8>> {
        let damaged = || Error::Corrupt(format!("the encrypted {what} is damaged"));
        let body = sealed.strip_prefix(SEALED_PREFIX).ok_or_else(damaged)?;
        let blob = URL_SAFE_NO_PAD.decode(body).map_err(|_| damaged())?;
        if blob.len() < NONCE_LEN {
            return Err(damaged());
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| damaged())?;
        let payload = Payload {
            msg: ciphertext,
            aad: purpose.label(),
        };
        // A key that does not exist yet cannot be the one that sealed this value.
        self.key(false)?
            .cipher()
            .decrypt(&nonce, payload)
            .map_err(|_| Error::WrongSecretKey(self.source.remedy()))
    }

    fn key(&self, create: bool) -> Result<&SecretKey> {
        if let Some(key) = self.key.get() {
            return Ok(key);
        }
        let key = self.source.load(create)?;
        Ok(self.key.get_or_init(|| key))
    }
}

impl Sealer {
    /// `url` with its passwords sealed (see [`password_spans`]); the rest of the URL stays
    /// readable, so the redacted URL can be shown without the key.
    pub(crate) fn seal_url(&self, url: &str) -> Result<String> {
        map_passwords(url, |password| match is_sealed(password.as_bytes()) {
            true => Ok(password.to_owned()),
            false => self.seal(Purpose::EnvPassword, password.as_bytes()),
        })
    }

    /// `url` with its sealed passwords opened; `what` names it in errors.
    pub(crate) fn open_url(&self, url: &str, what: &str) -> Result<String> {
        map_passwords(url, |password| {
            if !is_sealed(password.as_bytes()) {
                return Ok(password.to_owned());
            }
            let plain = self.open(Purpose::EnvPassword, password, what)?;
            String::from_utf8(plain)
                .map_err(|_| Error::Corrupt(format!("the encrypted {what} is not text")))
        })
    }
}

/// Whether `url` holds a password in the clear.
pub(crate) fn has_plain_password(url: &str) -> bool {
    password_spans(url)
        .into_iter()
        .any(|span| !span.is_empty() && !is_sealed(url[span].as_bytes()))
}

/// `url` with each non-empty password replaced by what `change` makes of it.
fn map_passwords(url: &str, mut change: impl FnMut(&str) -> Result<String>) -> Result<String> {
    let mut out = url.to_owned();
    for span in password_spans(url).into_iter().rev() {
        if !span.is_empty() {
            let changed = change(&url[span.clone()])?;
            out.replace_range(span, &changed);
        }
    }
    Ok(out)
}

/// Whether `value` is in the sealed form.
pub(crate) fn is_sealed(value: &[u8]) -> bool {
    value.starts_with(SEALED_PREFIX.as_bytes())
}

struct SecretKey([u8; KEY_LEN]);

impl SecretKey {
    /// The key from its base64 text; the problem in words, never the text.
    fn parse(text: &str) -> Result<SecretKey, &'static str> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| "is not base64 (make a key with `openssl rand -base64 32`)")?;
        let bytes = <[u8; KEY_LEN]>::try_from(bytes.as_slice())
            .map_err(|_| "does not hold 32 bytes (make a key with `openssl rand -base64 32`)")?;
        Ok(SecretKey(bytes))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&Key::from(self.0))
    }
}

/// The key file's text, or `None` when there is none. A file left readable by others
/// is narrowed to its owner.
fn read_key_file(path: &Path) -> Result<Option<String>> {
    use std::os::unix::fs::PermissionsExt;
    let failed = |e: std::io::Error| Error::SecretKeyFile {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(failed(e)),
    };
    let mode = std::fs::metadata(path)
        .map_err(failed)?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))
            .map_err(failed)?;
    }
    Ok(Some(text))
}

/// Makes the key file with a new random key, 0600 in a 0700 directory, and returns its
/// text. It is written whole under another name and linked into place, so a process
/// starting at the same moment reads either no file or the whole key, and of two racing
/// makers the second reads the first one's key.
fn make_key_file(path: &Path) -> Result<String> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let failed = |e: std::io::Error| Error::SecretKeyFile {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(failed)?;
    }
    let text = format!("{}\n", STANDARD.encode(random_bytes()?));
    // A name of its own, so racing makers (threads too) never share one.
    let temp = path.with_extension(format!("new-{}", &hex::encode(random_bytes()?)[..16]));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .and_then(|mut file| {
            use std::io::Write;
            file.write_all(text.as_bytes())?;
            file.sync_all()
        });
    let linked = written.and_then(|()| std::fs::hard_link(&temp, path));
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_key_file(path)?
            .ok_or_else(|| failed(std::io::Error::other("it vanished while being made"))),
        Err(e) => Err(failed(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(dir: &Path) -> Sealer {
        Sealer::new(KeySource::File(dir.join(KEY_FILE)))
    }

    #[test]
    fn a_sealed_value_opens_with_its_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let one = sealer(dir.path());
        let sealed = one.seal(Purpose::EnvPassword, b"s3cret").unwrap();
        assert!(sealed.starts_with("enc:v1:") && !sealed.contains("s3cret"));
        assert_ne!(sealed, one.seal(Purpose::EnvPassword, b"s3cret").unwrap());
        assert_eq!(
            one.open(Purpose::EnvPassword, &sealed, "password").unwrap(),
            b"s3cret"
        );
        // The purpose is bound in: a password cannot pass for the signing key.
        assert!(matches!(
            one.open(Purpose::SigningKey, &sealed, "key"),
            Err(Error::WrongSecretKey(_))
        ));

        let other_dir = tempfile::tempdir().unwrap();
        let other = sealer(other_dir.path());
        other.seal(Purpose::EnvPassword, b"x").unwrap();
        let err = other
            .open(Purpose::EnvPassword, &sealed, "password")
            .unwrap_err()
            .to_string();
        assert!(err.contains("encrypted with another key"), "{err}");
        assert!(err.contains("secret.key"), "{err}");
    }

    #[test]
    fn a_url_keeps_all_but_its_passwords_readable() {
        let dir = tempfile::tempdir().unwrap();
        let sealer = sealer(dir.path());
        let url = "postgres://app:p@ss@db:5432/erp?password=two&sslmode=require";
        let sealed = sealer.seal_url(url).unwrap();
        assert!(
            !sealed.contains("p@ss") && !sealed.contains("two"),
            "{sealed}"
        );
        assert!(!has_plain_password(&sealed) && has_plain_password(url));
        assert_eq!(
            dataalm_core::env::redact_url(&sealed),
            "postgres://app:***@db:5432/erp?password=***&sslmode=require"
        );
        assert_eq!(sealer.seal_url(&sealed).unwrap(), sealed);
        assert_eq!(sealer.open_url(&sealed, "URL").unwrap(), url);
        let plain = "postgres://app@db/erp";
        assert_eq!(sealer.seal_url(plain).unwrap(), plain);
    }

    #[test]
    fn the_key_file_is_private_and_never_made_to_open() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let sealed = sealer(&home).seal(Purpose::SigningKey, b"k").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&home), 0o700);
        assert_eq!(mode(&home.join(KEY_FILE)), 0o600);

        std::fs::remove_file(home.join(KEY_FILE)).unwrap();
        let err = sealer(&home)
            .open(Purpose::SigningKey, &sealed, "key")
            .unwrap_err();
        assert!(matches!(err, Error::MissingSecretKey(_)), "{err}");
        assert!(!home.join(KEY_FILE).exists());
    }

    #[test]
    fn a_bad_key_file_is_named_and_not_printed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), "not-a-key-zzz").unwrap();
        let err = sealer(dir.path())
            .seal(Purpose::SigningKey, b"k")
            .unwrap_err()
            .to_string();
        assert!(err.contains("secret.key is not base64"), "{err}");
        assert!(!err.contains("not-a-key-zzz"), "{err}");
    }
}
