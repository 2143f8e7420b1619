//! Values that must never reach a log line, an error message or a `{:?}`.

use std::fmt;

/// A password or token. `Debug` and `Display` print `***`; the only way to the value is
/// [`Secret::expose`], so every place that uses it is easy to find and review.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that needs it (the AMI login).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A database URL. `postgres://user:password@host/db` carries a password, so `Debug` and
/// `Display` show `postgres://user:***@host/db` (and `password=***` in the query string).
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        DatabaseUrl(url.into())
    }

    /// The URL with its password, for the database driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `sqlite`, `postgres`, ...: what comes before the first `:`.
    pub fn scheme(&self) -> &str {
        self.0.split(':').next().unwrap_or("")
    }

    pub fn is_sqlite(&self) -> bool {
        self.scheme() == "sqlite"
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.scheme(), "postgres" | "postgresql")
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Replaces the password of `scheme://user:password@host/...` and any `password=` query
/// parameter (both forms are accepted by PostgreSQL drivers).
pub(crate) fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |i| rest_start + i);
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(rest_start + colon + 1..rest_start + at, "***");
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => kv.to_string(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_starred() {
        let s = Secret::new("amp111");
        assert_eq!(format!("{s:?} {s} {:?}", Some(&s)), "*** *** Some(***)");
        assert_eq!(s.expose(), "amp111");
    }

    #[test]
    fn database_passwords_are_redacted() {
        let u = DatabaseUrl::new("postgres://sb:hunter2@db.local:5432/calls?sslmode=require");
        assert_eq!(
            u.to_string(),
            "postgres://sb:***@db.local:5432/calls?sslmode=require"
        );
        assert!(!format!("{u:?}").contains("hunter2"));
        let u = DatabaseUrl::new("postgres://db/calls?user=sb&password=hunter2");
        assert_eq!(u.to_string(), "postgres://db/calls?user=sb&password=***");
        let u = DatabaseUrl::new("sqlite://switchboard.db");
        assert_eq!(u.to_string(), "sqlite://switchboard.db");
        assert!(u.is_sqlite());
        // A user name alone is no secret.
        assert_eq!(
            DatabaseUrl::new("postgres://postgres@127.0.0.1/test").to_string(),
            "postgres://postgres@127.0.0.1/test"
        );
    }
}
