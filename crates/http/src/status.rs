//! The status types `/api/servers` and `/ready` serve are `pbx-status`'s: the service
//! computes them and this crate only serves them, so there is one definition of each.

pub use pbx_status::{ConnectionState, Lag, Readiness, ReadyPolicy, ServerStatus};
