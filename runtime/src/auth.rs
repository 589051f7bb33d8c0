//! Bearer tokens for the calls that change things: the coordinator's submit
//! and cancel, and the recommend service's admin calls. A token is read from
//! a file (so it never sits on a command line, in `ps` or in an environment
//! dump), travels as `authorization: Bearer <token>`, is compared in
//! constant time, and is never printed: its `Debug` shows `Token(***)`.

use std::path::Path;

use anyhow::Context as _;

/// Longest token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// A secret bearer token.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

/// Why a presented token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `authorization: Bearer …` header.
    Missing,
    /// A token other than the configured one.
    Wrong,
}

impl Token {
    /// The token in the file at `path` (surrounding whitespace trimmed).
    ///
    /// # Errors
    /// An unreadable file, or an empty, oversized or non-printable token.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read token file {}", path.display()))?;
        Self::new(text.trim()).with_context(|| format!("token file {}", path.display()))
    }

    /// `text` as a token.
    ///
    /// # Errors
    /// An empty, oversized or non-printable token.
    pub fn new(text: &str) -> anyhow::Result<Self> {
        anyhow::ensure!(!text.is_empty(), "the token is empty");
        anyhow::ensure!(text.len() <= MAX_TOKEN_BYTES, "the token is longer than {MAX_TOKEN_BYTES} bytes");
        anyhow::ensure!(
            text.bytes().all(|b| b.is_ascii_graphic()),
            "the token holds spaces or non-printable characters"
        );
        Ok(Self(text.to_owned()))
    }

    /// The value of the `authorization` header that carries this token.
    pub fn header_value(&self) -> String {
        format!("Bearer {}", self.0)
    }

    /// Checks an `authorization` header value against this token, in time
    /// that does not depend on where they differ.
    ///
    /// # Errors
    /// [`Refusal::Missing`] without a bearer token, [`Refusal::Wrong`] for another one.
    pub fn check(&self, header: Option<&str>) -> Result<(), Refusal> {
        let presented = header
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or(Refusal::Missing)?;
        let (a, b) = (presented.as_bytes(), self.0.as_bytes());
        let differ = a.len() != b.len();
        let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
        if differ || diff != 0 {
            return Err(Refusal::Wrong);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_and_never_shown() {
        let t = Token::new("s3cret-token").unwrap();
        assert_eq!(format!("{t:?}"), "Token(***)");
        assert_eq!(t.check(Some(&t.header_value())), Ok(()));
        assert_eq!(t.check(None), Err(Refusal::Missing));
        assert_eq!(t.check(Some("Basic abc")), Err(Refusal::Missing));
        assert_eq!(t.check(Some("Bearer s3cret-tokem")), Err(Refusal::Wrong));
        assert_eq!(t.check(Some("Bearer s3cret")), Err(Refusal::Wrong));
        assert!(Token::new("").is_err());
        assert!(Token::new("two words").is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "  abc123\n").unwrap();
        assert_eq!(Token::from_file(&path).unwrap(), Token::new("abc123").unwrap());
        let err = Token::from_file(&dir.path().join("missing")).unwrap_err().to_string();
        assert!(err.contains("read token file"), "{err}");
    }
}
