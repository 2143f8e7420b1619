//! What an action gets back.

use crate::message::Message;

/// The answer to one action: the `Response:` message and, for an action answered with an
/// event list (`EventList: start`), every event of that list in wire order, the closing
/// `…Complete` event last.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    /// The `Response:` message (`Success`, `Follows`, `Goodbye`, …; `Error` never gets here,
    /// it becomes an [`AmiError`](crate::AmiError)).
    pub message: Message,
    /// The list's events, if the response opened a list.
    pub events: Vec<Message>,
}

impl Response {
    /// A header of the response message, case-insensitive.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.message.get(key)
    }

    /// Lines of a `Command` action's output (either format).
    pub fn output(&self) -> impl Iterator<Item = &str> + '_ {
        self.message.output()
    }

    /// True when the response opened an event list.
    pub fn is_list(&self) -> bool {
        is_list_start(&self.message)
    }

    /// The list's items, without the closing `…Complete` event.
    pub fn items(&self) -> impl Iterator<Item = &Message> + '_ {
        self.events.iter().filter(|m| !is_list_end(m))
    }
}

/// `EventList: start` on a response: list items follow.
pub(crate) fn is_list_start(m: &Message) -> bool {
    m.get("EventList")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("start"))
}

/// `EventList: Complete` on an event: the list is over.
pub(crate) fn is_list_end(m: &Message) -> bool {
    m.get("EventList")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("Complete"))
}
