//! Configuration: `switchboard.toml`, `.env` and the environment → one checked [`Config`].
//!
//! ```no_run
//! let sources = service::config::Sources::from_process(None);
//! match sources.load() {
//!     Ok(config) => println!("{} PBX(es)", config.servers.len()),
//!     // One line per problem: `switchboard.toml:12: servers[1].port: expected ...`
//!     Err(errors) => eprintln!("{errors}"),
//! }
//! ```
//!
//! The pieces, in the order a load runs them: [`file`] reads TOML into a raw form that
//! remembers the line of each value, [`dotenv`] and [`env`] lay `.env` and the
//! environment over it, [`finish`] fills in defaults, reads secrets and checks what
//! involves more than one value. [`model`] is the result.

mod dotenv;
mod env;
mod error;
mod file;
mod finish;
mod model;
mod raw;
mod secret;
mod sources;
mod tracker_only;
mod value;

pub use error::{ConfigError, ConfigErrors, Origin};
pub use model::{
    AuthKind, Backoff, Config, DatabaseConfig, EventMask, ExtensionPattern, HttpConfig, KeepAlive,
    LogConfig, LogFormat, ReadyPolicy, SecretSource, ServerConfig, TlsConfig,
};
pub use secret::{DatabaseUrl, Secret};
pub(crate) use sources::MAX_FILE_BYTES;
pub use sources::{ConfigFile, Sources};
pub use tracker_only::{tracker_settings, tracker_settings_of};
