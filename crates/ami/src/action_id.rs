//! ActionIDs: how a response finds the action that asked for it.
//!
//! Asterisk copies the `ActionID:` of an action into its response and into every event of
//! the list the action asked for. The session owns this header: it overwrites whatever a
//! caller put there, so two actions in flight can never share an id. Ids carry the session
//! number, so an answer meant for an earlier session could never be mistaken for one of
//! this session's.

/// Hands out `sb<session>-<n>`, unique within a client's life.
#[derive(Debug)]
pub(crate) struct ActionIds {
    session: u64,
    next: u64,
}

impl ActionIds {
    pub(crate) fn new(session: u64) -> ActionIds {
        ActionIds { session, next: 1 }
    }

    pub(crate) fn next_id(&mut self) -> String {
        let id = format!("sb{}-{}", self.session, self.next);
        self.next += 1;
        id
    }
}
