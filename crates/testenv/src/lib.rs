//! How a test finds a service it needs (PostgreSQL, NATS, a tool on the machine), and what
//! happens when it is not there.
//!
//! On a developer's machine a missing service skips the test, loudly: a line on stderr
//! that the harness does not capture. In CI (`CI=true`) it fails the test: CI is where we
//! learn that the PostgreSQL paths work, and a run that skipped them must not pass as if
//! they had run. `.ci/run` starts the services and sets the variables.
//!
//! This is one rule used by the tests of several crates, so it lives in one tiny crate with
//! no dependencies rather than in each crate's `tests/common`.

/// The environment variable holding the PostgreSQL test server's URL.
pub const POSTGRES: &str = "SWITCHBOARD_TEST_POSTGRES";
/// The environment variable holding the NATS test server's URL.
pub const NATS: &str = "SWITCHBOARD_TEST_NATS";

/// True when running in CI, where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The URL in `var`, or `None` after saying that `test` was skipped.
///
/// # Panics
///
/// In CI when `var` is unset or empty: the test must run there.
pub fn service_url(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            skip(
                test,
                &format!("{var} is not set (set it to the test server's URL)"),
            );
            None
        }
    }
}

/// The PostgreSQL test server's URL, or `None` after saying that `test` was skipped.
///
/// # Panics
///
/// In CI when it is not set.
pub fn postgres(test: &str) -> Option<String> {
    service_url(POSTGRES, test)
}

/// Say that `test` does not run here because of `reason`.
///
/// # Panics
///
/// In CI, with that reason: a skipped test there is a failed one.
pub fn skip(test: &str, reason: &str) {
    if in_ci() {
        panic!("{test} cannot run: {reason}; in CI (CI=true) every test must run");
    }
    // Straight to stderr, unbuffered: the harness captures `eprintln!` of passing tests,
    // and a skip must be seen.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test, because it sets process-wide environment variables.
    #[test]
    fn a_missing_service_skips_here_and_fails_in_ci() {
        let var = "SWITCHBOARD_TESTENV_SELF_TEST_URL";
        std::env::remove_var(var);
        std::env::set_var("CI", "false");
        assert_eq!(service_url(var, "self_test"), None);
        std::env::set_var(var, "postgres://x");
        assert_eq!(
            service_url(var, "self_test").as_deref(),
            Some("postgres://x")
        );
        std::env::remove_var(var);
        std::env::set_var("CI", "true");
        let failed = std::panic::catch_unwind(|| service_url(var, "self_test"));
        let message = failed.expect_err("a missing service must fail in CI");
        let message = message.downcast_ref::<String>().unwrap();
        assert!(
            message.contains(var) && message.contains("CI=true"),
            "{message}"
        );
    }
}
