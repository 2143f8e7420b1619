//! `.env` files, as the Node service's users have them.
//!
//! The rules are those of Node's `dotenv` package, which those files were written for:
//! `KEY=value` lines, blank lines and `# comments`, an optional `export ` prefix, values
//! in single, double or back quotes (double quotes expand `\n`, `\r`, `\t`, `\"`, `\\`;
//! quoted values may span lines), unquoted values trimmed and ended by ` #` (a `#` after
//! whitespace, so `secret=ab#cd` keeps its `#`), no `${VAR}` expansion.
//!
//! Written here rather than taken from `dotenvy` because errors must say the line and
//! must not print the line (it may hold a password), and because `dotenvy` expands
//! `${VAR}`, which Node's `dotenv` does not: the same file must mean the same thing.

use super::error::{ConfigError, Origin};
use std::path::Path;

/// One `KEY=value` and the line it starts on (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// Parses a `.env` file's text; `path` is for error messages. Later lines win over
/// earlier ones for the same key (the caller keeps the last).
pub(crate) fn parse(path: &Path, src: &str) -> Result<Vec<Entry>, Vec<ConfigError>> {
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    let lines: Vec<&str> = src.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let start = i;
        let at = |line: usize| Origin::DotEnv {
            path: path.to_path_buf(),
            line: line + 1,
        };
        let line = lines[i].trim_start_matches('\u{feff}').trim();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line
            .strip_prefix("export")
            .filter(|rest| rest.starts_with([' ', '\t']))
            .map_or(line, str::trim_start);
        let Some((key, rest)) = line.split_once('=') else {
            errors.push(ConfigError::at(at(start), "expected KEY=value"));
            continue;
        };
        let key = key.trim();
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            errors.push(ConfigError::at(
                at(start),
                "expected KEY=value with a KEY of letters, digits and _",
            ));
            continue;
        }
        let rest = rest.trim_start();
        let value = match rest.chars().next() {
            Some(q @ ('"' | '\'' | '`')) => {
                // The value runs to the matching quote, possibly lines later.
                let mut text = rest[1..].to_string();
                let close = loop {
                    if let Some(end) = closing_quote(&text, q) {
                        break Some(end);
                    }
                    if i >= lines.len() {
                        break None;
                    }
                    text.push('\n');
                    text.push_str(lines[i]);
                    i += 1;
                };
                let Some(end) = close else {
                    errors.push(ConfigError::new(
                        at(start),
                        key,
                        format!("the value's opening {q} is never closed"),
                    ));
                    continue;
                };
                let after = text[end + 1..].trim();
                if !(after.is_empty() || after.starts_with('#')) {
                    errors.push(ConfigError::new(
                        at(i - 1),
                        key,
                        "unexpected text after the closing quote",
                    ));
                    continue;
                }
                let inner = &text[..end];
                if q == '"' {
                    unescape(inner)
                } else {
                    inner.to_string()
                }
            }
            _ => strip_comment(rest).trim_end().to_string(),
        };
        entries.push(Entry {
            key: key.to_string(),
            value,
            line: start + 1,
        });
    }
    if errors.is_empty() {
        Ok(entries)
    } else {
        Err(errors)
    }
}

/// Byte index of the first unescaped `q` in `s`.
fn closing_quote(s: &str, q: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            c if c == q && !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// An unquoted value ends at a `#` that follows whitespace.
fn strip_comment(s: &str) -> &str {
    let mut prev_space = true;
    for (i, c) in s.char_indices() {
        if c == '#' && prev_space {
            return &s[..i];
        }
        prev_space = c.is_whitespace();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(src: &str) -> Vec<(String, String, usize)> {
        parse(Path::new(".env"), src)
            .unwrap()
            .into_iter()
            .map(|e| (e.key, e.value, e.line))
            .collect()
    }

    #[test]
    fn node_dotenv_syntax() {
        let src = "\u{feff}# comment\n\nAMI_HOST=pbx.example.com\nexport AMI_PORT = 5039 # tls\n\
                   AMI_PASSWORD='a #b'\nSINGLE='a\\nb'\nDOUBLE=\"a\\nb \\\"q\\\"\"\nHASH=ab#cd\n\
                   MULTI=\"line1\nline2\"\nAFTER=1\nEMPTY=\nexported=x\nBACK=`b'\"`\n";
        let got = kv(src);
        let want: Vec<(String, String, usize)> = [
            ("AMI_HOST", "pbx.example.com", 3),
            ("AMI_PORT", "5039", 4),
            ("AMI_PASSWORD", "a #b", 5),
            ("SINGLE", "a\\nb", 6),
            ("DOUBLE", "a\nb \"q\"", 7),
            ("HASH", "ab#cd", 8),
            ("MULTI", "line1\nline2", 9),
            ("AFTER", "1", 11),
            ("EMPTY", "", 12),
            ("exported", "x", 13),
            ("BACK", "b'\"", 14),
        ]
        .into_iter()
        .map(|(k, v, l)| (k.to_string(), v.to_string(), l))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn errors_name_the_line_not_the_value() {
        let errs = parse(
            Path::new("/srv/.env"),
            "OK=1\nAMI_PASSWORD=\"hunter2\nX=2\n",
        )
        .unwrap_err();
        assert_eq!(errs.len(), 1);
        let text = errs[0].to_string();
        assert_eq!(
            text,
            "/srv/.env:2: AMI_PASSWORD: the value's opening \" is never closed"
        );
        let errs = parse(Path::new(".env"), "hunter2\nA='x' trailing\n").unwrap_err();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            text,
            [
                ".env:1: expected KEY=value",
                ".env:2: A: unexpected text after the closing quote"
            ]
        );
    }
}
