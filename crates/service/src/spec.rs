//! From a `[[servers]]` entry of the configuration to what a pipeline runs: the AMI
//! client's settings and the tracker's.

use crate::config::{AuthKind, ServerConfig};
use crate::pipeline::PipelineSpec;
use ami::{Auth, ClientConfig, TlsOptions};
use tracker::TrackerConfig;

/// The pipeline spec of one configured PBX. Infallible: whatever the configuration
/// accepted, a pipeline runs.
pub fn pipeline_spec(server: &ServerConfig) -> PipelineSpec {
    let mut client = ClientConfig::new(
        server.host.clone(),
        server.port,
        server.username.clone(),
        // The one place the secret leaves its wrapper: the AMI login needs it.
        server.secret.expose(),
    );
    client.auth = match server.auth {
        AuthKind::Plain => Auth::Plain,
        AuthKind::Md5 => Auth::Md5,
    };
    client.tls = match &server.tls {
        None => None,
        Some(tls) => {
            let mut options = match (tls.pin_sha256, &tls.ca_file, tls.verify) {
                (Some(pin), _, _) => TlsOptions::pin(pin),
                (None, Some(ca), _) => TlsOptions::ca_file(ca.clone()),
                (None, None, false) => TlsOptions::accept_any(),
                (None, None, true) => TlsOptions::system_roots(),
            };
            options.server_name = tls.server_name.clone();
            Some(options)
        }
    };
    client.events = Some(server.events.header_value());
    client.connect_timeout = server.connect_timeout;
    client.ping_interval = server.keepalive.interval;
    client.ping_timeout = server.keepalive.deadline;
    client.backoff.initial = server.backoff.initial;
    client.backoff.max = server.backoff.max.max(server.backoff.initial);

    let mut spec = PipelineSpec::new(server.name.clone(), client);
    spec.tracker = TrackerConfig {
        server: server.name.clone(),
        extensions: server.extensions.clone(),
        trunks: server.trunks.clone(),
        ..TrackerConfig::new(server.name.clone())
    };
    spec
}
