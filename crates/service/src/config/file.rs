//! `switchboard.toml` → [`RawConfig`].
//!
//! We walk toml's spanned document tree ourselves instead of deriving `Deserialize`:
//! every value keeps its byte span, so an error can name the line, and we choose the
//! words (`expected an integer 1-65535, got "x"` rather than serde's `invalid type`),
//! keep going after the first mistake, and never repeat a secret in a message.

use super::error::{unknown_hint, ConfigError, Origin};
use super::model::{ExtensionPattern, ReadyPolicy, TlsConfig};
use super::raw::{RawConfig, RawServer, SecretSpec, Val};
use super::secret::Secret;
use super::value;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// Reads a configuration file's text. `path` is what errors print; relative paths inside
/// the file (`secret_file`, `ca_file`) are resolved against its folder.
pub(crate) fn read(path: &Path, src: &str) -> Result<RawConfig, Vec<ConfigError>> {
    let mut doc = Doc {
        path,
        src,
        errors: Vec::new(),
    };
    let root = match DeTable::parse(src) {
        Ok(t) => t,
        Err(e) => {
            let line = e.span().map_or(1, |s| doc.line(s.start));
            // The parser's message names the token it expected; it does not quote the
            // value, so a broken `secret = "...` line does not leak the secret.
            return Err(vec![ConfigError::at(
                Origin::File {
                    path: path.to_path_buf(),
                    line,
                },
                format!("invalid TOML: {}", e.message().trim()),
            )]);
        }
    };
    let mut raw = RawConfig::default();
    let mut top = Table::new(root.get_ref(), "");
    if let Some((v, key)) = top.get("servers") {
        match v.get_ref() {
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let key = format!("servers[{i}]");
                    match item.get_ref() {
                        DeValue::Table(t) => {
                            let mut s = RawServer {
                                origin: doc.origin(item.span()),
                                key: key.clone(),
                                ..RawServer::default()
                            };
                            doc.server(t, &key, &mut s, true);
                            raw.servers.push(s);
                        }
                        other => doc.err(
                            item.span(),
                            &key,
                            format!("expected a table, got {}", describe(other, false)),
                        ),
                    }
                }
            }
            DeValue::Table(_) => doc.push(
                ConfigError::new(doc.origin(v.span()), key, "expected an array of tables")
                    .with_hint("write [[servers]] with double brackets, once per PBX"),
            ),
            other => doc.err(
                v.span(),
                &key,
                format!(
                    "expected an array of tables ([[servers]]), got {}",
                    describe(other, false)
                ),
            ),
        }
    }
    if let Some(t) = top.table(&mut doc, "server_defaults") {
        let mut d = RawServer::default();
        doc.server(t, "server_defaults", &mut d, false);
        raw.defaults = d;
    }
    if let Some(t) = top.table(&mut doc, "http") {
        doc.http(t, &mut raw);
    }
    if let Some(t) = top.table(&mut doc, "database") {
        doc.database(t, &mut raw);
    }
    if let Some(t) = top.table(&mut doc, "log") {
        doc.log(t, &mut raw);
    }
    top.finish(&mut doc);
    if doc.errors.is_empty() {
        Ok(raw)
    } else {
        Err(doc.errors)
    }
}

/// The file being read and the errors found so far.
struct Doc<'a> {
    path: &'a Path,
    src: &'a str,
    errors: Vec<ConfigError>,
}

type Item<'i> = Spanned<DeValue<'i>>;

impl Doc<'_> {
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.src.len());
        self.src.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn origin(&self, span: Range<usize>) -> Origin {
        Origin::File {
            path: self.path.to_path_buf(),
            line: self.line(span.start),
        }
    }

    fn push(&mut self, e: ConfigError) {
        self.errors.push(e);
    }

    fn err(&mut self, span: Range<usize>, key: &str, message: String) {
        let e = ConfigError::new(self.origin(span), key, message);
        self.push(e);
    }

    /// Converts one value with `conv`, recording an error instead of a value on failure.
    fn val<T>(
        &mut self,
        found: Option<(&Item<'_>, String)>,
        conv: impl FnOnce(&DeValue<'_>) -> Result<T, String>,
    ) -> Option<Val<T>> {
        let (item, key) = found?;
        match conv(item.get_ref()) {
            Ok(v) => Some(Val::new(v, self.origin(item.span()), key)),
            Err(msg) => {
                self.err(item.span(), &key, msg);
                None
            }
        }
    }

    fn folder(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// The keys of a `[[servers]]` table or of `[server_defaults]` (`per_pbx`: whether
    /// the keys that identify one PBX, `name` and `host`, are allowed).
    fn server(&mut self, t: &DeTable<'_>, prefix: &str, s: &mut RawServer, per_pbx: bool) {
        let mut t = Table::new(t, prefix);
        if per_pbx {
            s.name = self.val(t.get("name"), string);
            s.host = self.val(t.get("host"), string);
        }
        s.port = self.val(t.get("port"), |v| match v {
            DeValue::Integer(_) => value::port_from_int(int(v).unwrap_or(-1)),
            other => Err(format!(
                "{}, got {}",
                value::PORT_EXPECTED,
                describe(other, false)
            )),
        });
        s.username = self.val(t.get("username"), string);
        let inline = self.val(t.get("secret"), |v| match v {
            DeValue::String(s) => Ok(SecretSpec::Inline(Secret::new(s.as_ref()))),
            other => Err(format!("expected a string, got {}", describe(other, true))),
        });
        let folder = self.folder();
        let file = self.val(t.get("secret_file"), |v| {
            string(v).map(|p| SecretSpec::File(resolve(&folder, &p)))
        });
        let env = self.val(t.get("secret_env"), |v| string(v).map(SecretSpec::Env));
        let given: Vec<Val<SecretSpec>> = [inline, file, env].into_iter().flatten().collect();
        if given.len() > 1 {
            let keys: Vec<&str> = given.iter().map(|g| g.key.as_str()).collect();
            let e = given[1]
                .error(format!("set only one of {}", keys.join(", ")))
                .with_hint("secret_file or secret_env keep the secret out of this file");
            self.push(e);
        }
        s.secret = given.into_iter().next();
        s.tls = self.tls(&mut t);
        s.auth = self.val(t.get("auth"), |v| string(v).and_then(|s| value::auth(&s)));
        s.events = self.val(t.get("events"), |v| match v {
            DeValue::String(s) => value::events(s),
            DeValue::Array(a) => {
                let names = strings(a)?;
                value::event_classes(names.iter().map(String::as_str))
            }
            other => Err(format!(
                "expected \"on\", \"off\" or a list of event classes, got {}",
                describe(other, false)
            )),
        });
        s.keepalive_interval = self.val(t.get("keepalive_interval"), duration);
        s.keepalive_deadline = self.val(t.get("keepalive_deadline"), duration);
        s.connect_timeout = self.val(t.get("connect_timeout"), duration);
        s.backoff_initial = self.val(t.get("backoff_initial"), duration);
        s.backoff_max = self.val(t.get("backoff_max"), duration);
        s.extensions = self.val(t.get("extensions"), |v| {
            let p = string(v)?;
            ExtensionPattern::new(&p).map_err(|e| {
                format!(
                    "expected a regular expression, got {}: {e}",
                    value::quoted(&p)
                )
            })
        });
        s.trunks = self.val(t.get("trunks"), |v| match v {
            DeValue::Array(a) => strings(a),
            other => Err(format!(
                "expected a list of endpoint names such as [\"pstn\"], got {}",
                describe(other, false)
            )),
        });
        s.enabled = self.val(t.get("enabled"), boolean);
        t.finish(self);
    }

    /// `tls = true`, `tls = false`, or `tls = { verify = false, ca_file = "ca.pem" }`.
    fn tls(&mut self, t: &mut Table<'_, '_>) -> Option<Val<Option<TlsConfig>>> {
        let (item, key) = t.get("tls")?;
        let origin = self.origin(item.span());
        match item.get_ref() {
            DeValue::Boolean(on) => Some(Val::new(on.then(TlsConfig::default), origin, key)),
            DeValue::Table(tt) => {
                let mut tt = Table::new(tt, &key);
                let mut tls = TlsConfig::default();
                let ok = self.errors.len();
                if let Some(v) = self.val(tt.get("verify"), boolean) {
                    tls.verify = v.value;
                }
                if let Some(v) = self.val(tt.get("ca_file"), string) {
                    tls.ca_file = Some(resolve(&self.folder(), &v.value));
                }
                if let Some(v) = self.val(tt.get("server_name"), string) {
                    tls.server_name = Some(v.value);
                }
                if let Some(v) = self.val(tt.get("pin_sha256"), |v| {
                    string(v).and_then(|s| s.parse::<ami::CertPin>())
                }) {
                    tls.pin_sha256 = Some(v.value);
                }
                let enabled = self.val(tt.get("enabled"), boolean).is_none_or(|v| v.value);
                tt.finish(self);
                (self.errors.len() == ok).then(|| Val::new(enabled.then_some(tls), origin, key))
            }
            other => {
                self.err(
                    item.span(),
                    &key,
                    format!(
                        "expected true, false or a table such as {{ verify = true, ca_file = \"ca.pem\" }}, got {}",
                        describe(other, false)
                    ),
                );
                None
            }
        }
    }

    fn http(&mut self, t: &DeTable<'_>, raw: &mut RawConfig) {
        let mut t = Table::new(t, "http");
        let h = &mut raw.http;
        h.listen = self.val(t.get("listen"), |v| {
            string(v).and_then(|s| value::listen(&s))
        });
        h.ready = self.val(t.get("ready"), |v| match v {
            DeValue::String(s) => match s.as_ref() {
                "all" => Ok(ReadyPolicy::All),
                "any" => Ok(ReadyPolicy::Any),
                _ => Err(format!(
                    "expected \"all\", \"any\" or a list of server names, got {}",
                    value::quoted(s)
                )),
            },
            DeValue::Array(a) => strings(a).and_then(|names| {
                if names.is_empty() {
                    Err(
                        "an empty list would make the service ready with no PBX; use \"any\""
                            .into(),
                    )
                } else {
                    Ok(ReadyPolicy::Servers(names))
                }
            }),
            other => Err(format!(
                "expected \"all\", \"any\" or a list of server names, got {}",
                describe(other, false)
            )),
        });
        h.tokens = self.val(t.get("tokens"), |v| match v {
            DeValue::Array(a) => a
                .iter()
                .map(|i| match i.get_ref() {
                    DeValue::String(s) => value::token(s).map(Secret::new),
                    other => Err(format!(
                        "expected a list of non-empty strings, got {} in it",
                        describe(other, true)
                    )),
                })
                .collect(),
            other => Err(format!(
                "expected a list of strings, got {}",
                describe(other, true)
            )),
        });
        if let Some(st) = t.table(self, "stream") {
            let mut st = Table::new(st, "http.stream");
            h.stream_ring_messages = self.val(st.get("ring_messages"), |v| count(v, 1, 10_000_000));
            h.stream_ring_mb = self.val(st.get("ring_mb"), |v| count(v, 1, 65_536));
            h.stream_client_queue = self.val(st.get("client_queue"), |v| count(v, 1, 1_000_000));
            st.finish(self);
        }
        t.finish(self);
    }

    fn database(&mut self, t: &DeTable<'_>, raw: &mut RawConfig) {
        let mut t = Table::new(t, "database");
        let d = &mut raw.database;
        d.url = self.val(t.get("url"), |v| match v {
            DeValue::String(s) => value::database_url(s),
            other => Err(format!("expected a string, got {}", describe(other, true))),
        });
        d.batch_size = self.val(t.get("batch_size"), |v| count(v, 1, 100_000));
        d.flush_interval = self.val(t.get("flush_interval"), duration);
        d.memory_bound = self.val(t.get("memory_bound"), |v| count(v, 1, 10_000_000));
        d.journal_dir = self.val(t.get("journal_dir"), |v| string(v).map(PathBuf::from));
        d.journal_sync_interval = self.val(t.get("journal_sync_interval"), duration);
        d.journal_max_mb = self.val(t.get("journal_max_mb"), |v| {
            count(v, 1, 1_048_576).map(|n| n as u64)
        });
        t.finish(self);
    }

    fn log(&mut self, t: &DeTable<'_>, raw: &mut RawConfig) {
        let mut t = Table::new(t, "log");
        raw.log.format = self.val(t.get("format"), |v| {
            string(v).and_then(|s| value::log_format(&s))
        });
        raw.log.filter = self.val(t.get("level"), |v| {
            string(v).and_then(|s| value::filter(&s))
        });
        t.finish(self);
    }
}

/// A table being read: remembers which keys were asked for, so the rest can be
/// reported as unknown (a typo must not be silently ignored).
struct Table<'t, 'i> {
    table: &'t DeTable<'i>,
    prefix: String,
    asked: Vec<&'static str>,
}

impl<'t, 'i> Table<'t, 'i> {
    fn new(table: &'t DeTable<'i>, prefix: &str) -> Self {
        Table {
            table,
            prefix: prefix.to_string(),
            asked: Vec::new(),
        }
    }

    fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    fn get(&mut self, name: &'static str) -> Option<(&'t Item<'i>, String)> {
        self.asked.push(name);
        self.table.get(name).map(|v| (v, self.key(name)))
    }

    /// A sub-table such as `[http]`.
    fn table(&mut self, doc: &mut Doc<'_>, name: &'static str) -> Option<&'t DeTable<'i>> {
        let (v, key) = self.get(name)?;
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            other => {
                doc.err(
                    v.span(),
                    &key,
                    format!(
                        "expected a table ([{name}]), got {}",
                        describe(other, false)
                    ),
                );
                None
            }
        }
    }

    fn finish(self, doc: &mut Doc<'_>) {
        for (k, _) in self.table.iter() {
            let name: &str = k.get_ref();
            if !self.asked.contains(&name) {
                let e = ConfigError::new(doc.origin(k.span()), self.key(name), "unknown key")
                    .with_hint(unknown_hint(name, &self.asked));
                doc.push(e);
            }
        }
    }
}

/// What a value is, for "expected X, got Y". Secrets are described by type only.
fn describe(v: &DeValue<'_>, secret: bool) -> String {
    match v {
        DeValue::String(_) if secret => "a string".into(),
        DeValue::String(s) => value::quoted(s),
        DeValue::Integer(_) if secret => "an integer".into(),
        DeValue::Integer(i) => i.to_string(),
        DeValue::Float(_) if secret => "a number".into(),
        DeValue::Float(f) => f.to_string(),
        DeValue::Boolean(b) => b.to_string(),
        DeValue::Datetime(_) => "a date-time".into(),
        DeValue::Array(_) => "an array".into(),
        DeValue::Table(_) => "a table".into(),
    }
}

/// A path from the file, relative to the file's folder.
fn resolve(folder: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        folder.join(p)
    }
}

fn int(v: &DeValue<'_>) -> Option<i64> {
    match v {
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
        _ => None,
    }
}

fn string(v: &DeValue<'_>) -> Result<String, String> {
    match v {
        DeValue::String(s) => Ok(s.to_string()),
        other => Err(format!("expected a string, got {}", describe(other, false))),
    }
}

fn boolean(v: &DeValue<'_>) -> Result<bool, String> {
    match v {
        DeValue::Boolean(b) => Ok(*b),
        other => Err(format!(
            "expected true or false, got {}",
            describe(other, false)
        )),
    }
}

fn strings(a: &[Item<'_>]) -> Result<Vec<String>, String> {
    a.iter().map(|i| string(i.get_ref())).collect()
}

/// `"10s"`, `"500ms"`, or a number of seconds.
fn duration(v: &DeValue<'_>) -> Result<Duration, String> {
    match v {
        DeValue::String(s) => value::duration(s),
        DeValue::Integer(_) => value::duration_from_secs(int(v).unwrap_or(-1) as f64),
        DeValue::Float(f) => value::duration_from_secs(f.as_str().parse().unwrap_or(-1.0)),
        other => Err(format!(
            "expected a duration such as \"10s\" or \"500ms\", got {}",
            describe(other, false)
        )),
    }
}

fn count(v: &DeValue<'_>, min: usize, max: usize) -> Result<usize, String> {
    let n = int(v).and_then(|n| usize::try_from(n).ok());
    match n {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected an integer {min}-{max}, got {}",
            describe(v, false)
        )),
    }
}
