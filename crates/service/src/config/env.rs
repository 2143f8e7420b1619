//! The environment and `.env`, laid over the file.
//!
//! `AMI_*` describe one PBX, the way the Node service was configured:
//!
//! - `AMI_NAME` names it. Unset: the file's only server if the file has exactly one,
//!   else `pbx1`.
//! - If the file has a server of that name, each `AMI_*` that is set replaces that
//!   setting (so a file can hold everything but the password, and `AMI_PASSWORD` the rest).
//! - Otherwise the variables add a server, and `AMI_HOST`, `AMI_USERNAME` and
//!   `AMI_PASSWORD` must all be set.
//!
//! `DATABASE_URL`, `HTTP_LISTEN`, `LOG_FORMAT` and `RUST_LOG` replace `[database] url`,
//! `[http] listen`, `[log] format` and `[log] level`. An `AMI_*` variable we do not know is
//! an error (a misspelt `AMI_PASWORD` must not leave the service without a password and
//! no word why).

use super::dotenv::Entry;
use super::error::{unknown_hint, ConfigError, Origin};
use super::raw::{default_name, RawConfig, RawServer, SecretSpec, Val};
use super::secret::Secret;
use super::value;
use std::collections::BTreeMap;
use std::path::Path;

/// A variable's value and where it was set.
#[derive(Clone, Debug)]
pub(crate) struct Var {
    pub value: String,
    pub origin: Origin,
}

/// The process environment over `.env`: the real environment wins, as with Node's
/// `dotenv`, so a deployment can override a checked-in `.env`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Env {
    vars: BTreeMap<String, Var>,
}

impl Env {
    pub fn new(process: &BTreeMap<String, String>, dotenv: Option<(&Path, Vec<Entry>)>) -> Self {
        let mut vars = BTreeMap::new();
        if let Some((path, entries)) = dotenv {
            for e in entries {
                let origin = Origin::DotEnv {
                    path: path.to_path_buf(),
                    line: e.line,
                };
                vars.insert(
                    e.key,
                    Var {
                        value: e.value,
                        origin,
                    },
                );
            }
        }
        for (k, v) in process {
            vars.insert(
                k.clone(),
                Var {
                    value: v.clone(),
                    origin: Origin::Env,
                },
            );
        }
        Env { vars }
    }

    pub fn get(&self, name: &str) -> Option<&Var> {
        self.vars.get(name)
    }

    /// A set, non-empty variable converted with `conv`; an error is recorded, not returned.
    fn val<T>(
        &self,
        name: &str,
        errors: &mut Vec<ConfigError>,
        conv: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<Val<T>> {
        let var = self.get(name).filter(|v| !v.value.is_empty())?;
        match conv(&var.value) {
            Ok(v) => Some(Val::new(v, var.origin.clone(), name)),
            Err(msg) => {
                errors.push(ConfigError::new(var.origin.clone(), name, msg));
                None
            }
        }
    }
}

const AMI_VARS: &[&str] = &[
    "AMI_HOST",
    "AMI_PORT",
    "AMI_USERNAME",
    "AMI_PASSWORD",
    "AMI_TLS",
    "AMI_AUTH",
    "AMI_NAME",
];

/// Lays the environment over `raw`.
pub(crate) fn apply(raw: &mut RawConfig, env: &Env, errors: &mut Vec<ConfigError>) {
    for (name, var) in &env.vars {
        if name.starts_with("AMI_") && !AMI_VARS.contains(&name.as_str()) {
            errors.push(
                ConfigError::new(var.origin.clone(), name.clone(), "unknown variable")
                    .with_hint(unknown_hint(name, AMI_VARS).replace("known keys", "known")),
            );
        }
    }
    apply_ami(raw, env, errors);
    let e = errors;
    if let Some(v) = env.val("DATABASE_URL", e, value::database_url) {
        raw.database.url = Some(v);
    }
    if let Some(v) = env.val("HTTP_LISTEN", e, value::listen) {
        raw.http.listen = Some(v);
    }
    if let Some(v) = env.val("LOG_FORMAT", e, value::log_format) {
        raw.log.format = Some(v);
    }
    if let Some(v) = env.val("RUST_LOG", e, value::filter) {
        raw.log.filter = Some(v);
    }
}

fn apply_ami(raw: &mut RawConfig, env: &Env, errors: &mut Vec<ConfigError>) {
    let e = &mut *errors;
    let name = env.val("AMI_NAME", e, |s| Ok(s.trim().to_string()));
    let host = env.val("AMI_HOST", e, |s| Ok(s.trim().to_string()));
    let port = env.val("AMI_PORT", e, value::port);
    let username = env.val("AMI_USERNAME", e, |s| Ok(s.to_string()));
    // Taken as is: a password may well begin or end with a space.
    let secret = env
        .get("AMI_PASSWORD")
        .filter(|v| !v.value.is_empty())
        .map(|v| {
            Val::new(
                SecretSpec::Inline(Secret::new(v.value.clone())),
                v.origin.clone(),
                "AMI_PASSWORD",
            )
        });
    let tls = env.val("AMI_TLS", e, value::boolean);
    let auth = env.val("AMI_AUTH", e, value::auth);
    let any_set = [
        name.is_some(),
        host.is_some(),
        port.is_some(),
        username.is_some(),
        secret.is_some(),
        tls.is_some(),
        auth.is_some(),
    ]
    .contains(&true);
    if !any_set {
        return;
    }
    let target = match &name {
        Some(n) => n.value.clone(),
        None if raw.servers.len() == 1 => raw.effective_name(0),
        None => default_name(0),
    };
    let existing = (0..raw.servers.len()).find(|&i| raw.effective_name(i) == target);
    let server = match existing {
        Some(i) => &mut raw.servers[i],
        None => {
            raw.servers.push(RawServer {
                origin: Origin::Env,
                from_env: true,
                name: Some(
                    name.clone()
                        .unwrap_or_else(|| Val::new(target.clone(), Origin::Default, "AMI_NAME")),
                ),
                ..RawServer::default()
            });
            raw.servers.last_mut().expect("just pushed")
        }
    };
    if let Some(v) = host {
        server.host = Some(v);
    }
    if let Some(v) = port {
        server.port = Some(v);
    }
    if let Some(v) = username {
        server.username = Some(v);
    }
    if let Some(v) = secret {
        server.secret = Some(v);
    }
    if let Some(v) = tls {
        // `AMI_TLS=true` keeps the file's TLS table (its CA file) if it has one.
        let keep = v.value && matches!(&server.tls, Some(Val { value: Some(_), .. }));
        if !keep {
            server.tls = Some(Val::new(v.value.then(Default::default), v.origin, v.key));
        }
    }
    if let Some(v) = auth {
        server.auth = Some(v);
    }
}
