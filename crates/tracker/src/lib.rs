//! The call tracker: AMI events in, calls, extension states and queue states out.
//!
//! Pure: no I/O, no clock, no tokio. Times come from the events' `Timestamp` headers, so a
//! recording replays the same way every time, in a unit test, in microseconds.
//!
//! # Use
//!
//! ```
//! use tracker::{Tracker, TrackerConfig, Update};
//! let mut t = Tracker::new(TrackerConfig::new("pbx1"));
//! let mut out: Vec<Update> = Vec::new();
//! t.session_started(None, &mut out);          // after each login, before the lists
//! // for every `Event:` message of the session, in wire order (list items included):
//! // t.handle(&msg, Some(received_at), &mut out);
//! t.session_lost(None, &mut out);             // when the connection drops
//! t.end_of_stream(&mut out);                  // end of a recording: open calls → stream_ended
//! // periodically, live: t.expire(now, &mut out);  silent calls → expired
//! // read-only views: t.active_calls(), t.extensions(), t.queues()
//! ```
//!
//! Each [`Update`] is `serde::Serialize` (tagged with `"type"`); `Update::CallEnded` carries
//! the final [`CallRecord`] for the history. Every call announced by `CallStarted` is closed
//! by exactly one `CallEnded` or `CallMerged` (a consultation call folded into its transfer,
//! a pickup's `*8` call) — pinned by `check_lifecycle` in every scenario, suffix and fuzz
//! test.
//!
//! # The model
//!
//! Channels are keyed by `Uniqueid` and grouped into calls by `Linkedid`. Every event that
//! carries a channel snapshot (`Channel`, `Uniqueid`, `Linkedid`, `CallerIDNum`, `Exten`,
//! `ChannelState`, or the `Dest…` ones of Dial/Agent events) refreshes that channel, so
//! nothing depends on events sites filter out (`VarSet`, `Newexten`, `DeviceStateChange`,
//! `Cdr`) nor on `DialState` (absent before Asterisk 13.x) or bridge id casing. A call ends
//! when every channel it has seen hung up. Headers are matched case-insensitively.
//!
//! # The rules (what each field of a record means), and the test that pins each
//!
//! Tests: `tests/rules.rs` (synthetic, shaped on the AMI documentation), `tests/scenarios.rs`
//! (every real recording against its ground truth with the rules of `truthcheck.py`, ported
//! in [`truth`]). Where a rule is applied in one file of `src/tracker/` (one concept per
//! file: `channels`, `dialing`, `bridges`, `answering`, `conference`, `pickup`, `holds`, `transfers`,
//! `queues`, `presence`, `resync`), the rule names it; a record's fields are derived from
//! the call in `src/tracker/call/mod.rs`.
//!
//! - **Caller**: the channel whose `Uniqueid` equals the call's `Linkedid` (the one that
//!   started it). For an AMI Originate (a `DialBegin` without a dialing channel) that is the
//!   phone rung first — through a Local channel, the first real channel of the call.
//!   `from.number` is its `CallerIDNum` (for an Originate's phone, its extension, whatever
//!   caller ID the program set); `from.extension` its endpoint when that is one of ours.
//!   A `NewCallerid` (the dial plan setting the caller ID: a provider's per-account
//!   number, a privacy mask) renames a channel until it dials: the caller's number is the
//!   one the callee was shown; an Originate's phone renamed so by the dial plan is named
//!   that way too (`tracker/channels.rs`: `on_newcallerid`).
//!   — `originate_caller_is_the_first_phone`, `originate_with_custom_caller_id`,
//!   `originate_through_local_channel`, `every_recording_matches_its_ground_truth`,
//!   `the_caller_id_the_dial_plan_sets_is_the_callers_number`.
//! - **`to.number`**: the caller's dial plan `Exten` when it first dials, joins a queue,
//!   enters a conference or voicemail (then frozen: a later transfer does not change it);
//!   never `s`/`h`/empty; else the last such `Exten`, the `DialBegin` `DestExten`, or the
//!   Originate's `Exten`. A call from a trunk is to its first such `Exten` (the DID), even
//!   if an IVR sends it on. A Local caller (an Originate into `Local/ID…@route`) is to
//!   what it dials, not to its route: a Local channel it dials is named by the extension
//!   it runs (`Local/202@ctx` → 202). The exten of an ending channel (`onhangup`, `h`:
//!   its hangup handler) is never what was dialed. A caller outside the dial plan (an
//!   Originate into the `Dial` application, `Exten: s`) is to what its `DialString`
//!   names (`PJSIP/2002` → 2002). — `an_originate_into_dial_is_to_its_dial_string`.
//!   — `ring_group_answered_by_the_phone_that_answered`, `pickup`,
//!   `blind_transfer`, `inbound_to_is_the_did`,
//!   `click_to_dial_through_local_routes_is_to_what_the_route_dials`,
//!   `a_hangup_handler_is_not_what_was_dialed`.
//! - **`answered_by`** (`tracker/call/answering.rs`: `decide` is the rule, and only
//!   `Tracker::answer` sets a call's answer; the other handlers report what they saw): the
//!   first channel other than the caller that goes `Up` (`Newstate`, `DialEnd ANSWER`, or
//!   any snapshot with `ChannelState: 6`), skipping Local channels (they are plumbing: the
//!   phone behind them answers) and an Originate's first leg: its extension, or the dialed
//!   number when it is a trunk. For queue calls `AgentConnect`'s `Interface` names the
//!   agent (`PJSIP/2003` → 2003, `Local/2003@ctx/n` → 2003). A caller entering `ConfBridge`
//!   is answered by the room (its number). A `Pickup` makes the picking phone the answerer,
//!   and so does a dial that reaches a channel already up in another call (Asterisk 13's
//!   pickup by SIP `Replaces`, `tracker/pickup.rs`): its own call is swallowed.
//!   — `a_pickup_by_sip_replaces_is_answered_by_the_picking_phone`.
//!   The PBX answering the caller (voicemail, queue music) never counts. Answered means
//!   connected to the caller: a party dialed by a Local channel (behind a route that runs
//!   dial plan: a "press 1 to accept" prompt, a screening macro) answers only once a chain
//!   of bridges and Local pairs joins it to the caller (`tracker/bridges.rs`); when a call
//!   shows no bridge event at all (a site that filters them), its first such Up counts
//!   when the call ends. A party behind a trunk is named by the number its leg was dialed
//!   with (a call forwarded out: the number that answered, not the DID).
//!   — `a_party_that_refuses_a_prompt_did_not_answer`,
//!   `a_party_connected_through_local_routes_answered_and_is_named_by_its_number`,
//!   `without_bridge_events_an_answer_behind_a_local_route_still_counts`.
//!   — `outbound_answered_by_dialed_number`, `queue_agent_from_interface`,
//!   `conference_answers_with_its_number`, `pickup`, `local_channels_and_asterisk_13`,
//!   `voicemail`; that no other file decides it:
//!   `answered_by_is_decided_only_in_answering`.
//! - **`disposition`** (`tracker/call/mod.rs`): `answered` when someone answered; `abandoned` when the
//!   caller left a queue by `QueueCallerAbandon` (which names the queue and the hold time
//!   when the site filters `QueueCallerJoin`: `queue_caller_abandon_without_the_join_is_abandoned`); `no_answer` for voicemail
//!   (`voicemail: true`, from a `VoiceMail` application or `MessageWaiting` on the call);
//!   else from the dials' last `DialStatus` per destination (app_queue's doubled `DialEnd`
//!   counts once): NOANSWER/CANCEL → `no_answer`, else BUSY → `busy`, else
//!   CONGESTION/CHANUNAVAIL → `failed`; with no dial, the caller's hangup cause (17 → busy;
//!   1, 3, 21, 34, 38, … → failed; else no_answer). — `dial_statuses_and_causes`,
//!   `ring_group_unanswered_is_no_answer`, `queue_abandoned`, `voicemail`.
//! - **Direction** (`tracker/call/mod.rs`): `inbound` when the caller's endpoint is a trunk; `outbound`
//!   when one of ours calls and a trunk leg takes part; else `internal`. Extensions are by
//!   default 2–6-digit endpoint names, configurable with `trunks`.
//!   — `configured_trunks_and_extension_pattern`, `outbound_answered_by_dialed_number`.
//! - **Transfers** (every rule in `tracker/call/transfers.rs`): `BlindTransfer` adds
//!   `{blind, by: transferer, to: Extension}`; `AttendedTransfer` adds
//!   `{attended, by: transferer, to: what the consultation dialed}` and folds the
//!   consultation call into the transferred one (one record per call the caller
//!   experienced), also when the target still rings ("blonde"). An answered party that
//!   dials anew with no `BlindTransfer` before it was moved by a program (AMI `Redirect`):
//!   `{blind, by: "ami:Redirect", to: its new Exten}`; the dial of a blonde transfer's
//!   transferee (`AttendedTransfer` with `DestType: App`: it took over the transferer's
//!   `Dial`) is that transfer's, and one `Dial` ringing several destinations (a group) is
//!   one move, not one per destination. Channels that join after a transfer
//!   have role `transfer_target`. — `blind_transfer`,
//!   `attended_transfer_folds_the_consultation`, `blonde_transfer`,
//!   `ami_redirect_is_a_blind_transfer`, `a_blind_transfer_to_a_group_is_one_transfer`,
//!   `a_redirect_to_a_group_is_one_transfer`, `a_blonde_transfer_is_one_attended_transfer`;
//!   that no other file makes a transfer: `transfers_are_made_only_in_transfers`.
//! - **Older Asterisk** (`tracker/dialing.rs`): chan_sip names, `LocalBridge`, no
//!   `DialState`, `BridgeID` casing (13–17) and the `Dial` `SubEvent` events without
//!   `Linkedid` (11): the dial ties the dialed channel to its call.
//!   — `local_channels_and_asterisk_13`, `legacy_dial_events`,
//!   `asterisk_11_without_linkedid`.
//! - **Holds** (`tracker/holds.rs`): `Hold`/`Unhold` on a channel, `by` its phone.
//!   — `holds`.
//! - **A call needs a channel seen alive** (`tracker/channels.rs`): through `Newchannel`, a
//!   `CoreShowChannel` entry, or an event that describes a live channel (`Newstate`,
//!   `DialBegin`, `BridgeEnter`, …). A `Hangup`, `HangupRequest` or `SoftHangupRequest` of
//!   a channel never seen creates nothing; it is counted ([`Tracker::unknown_hangups`]).
//!   — `lone_hangups_never_invent_a_call`.
//! - **Originate failure** (`OriginateResponse` Failure, `tracker/dialing.rs`) is no call.
//!   — `failed_originate_is_not_a_call`.
//! - **Times**: the event's `Timestamp`; else the last one seen this session; else the
//!   reception time given to `handle`; else null. An unanswered call that fell to
//!   voicemail rang until its dials ended, not while a message was left. — `times`,
//!   `voicemail`.
//! - **Plumbing**: Local channels and Asterisk's own (`CBAnn/`, `CBRec/`, `Announcer/`,
//!   `Recorder/`, `Snoop/`) are never a party nor an extension, whatever number they
//!   carry. — `a_conference_announcer_is_not_an_extension`.
//! - **Ids** are `server:linkedid`; a call is reported once: linkedids of ended calls are
//!   remembered (bounded) so late events start no ghost call. — `load_mix_call_for_call`,
//!   `queue_agent_from_interface`.
//! - **Resync** (`tracker/resync.rs`): [`Tracker::session_started`] notes the open calls;
//!   `CoreShowChannel` items adopt unknown channels (with their call, `to`, queue and
//!   answer state; a channel began `Duration` ago, taken at the middle of its whole
//!   second; a leg listed up answered no later than it began, its start bounds the
//!   answer: `a_call_adopted_up_from_the_list_has_its_times`); at `CoreShowChannelsComplete`, open calls not listed close with
//!   `ended_while_disconnected` (what was known is kept), unlisted legs of listed calls are
//!   marked gone. `QueueStatus` (`QueueParams`/`QueueMember`/`QueueEntry`) rebuilds queues,
//!   `ExtensionStateList` extension states. — `resync_after_reconnect`,
//!   `attach_midcall_adopts_from_lists`.
//! - **End and expiry**: [`Tracker::end_of_stream`] closes open calls with `stream_ended`;
//!   [`Tracker::expire`] those silent longer than `expire_after_secs` with `expired`.
//!   — `expiry`, `open_calls_at_end_of_file_are_stream_ended` (switchboard).
//! - **Any suffix** of a recording replays without panic, and reports only calls the full
//!   replay reports, with the same `from` and `answered_by` when it knows them, and no
//!   answer the full replay does not have (a party whose dial was not seen answers only
//!   once connected; a Local caller seen after the phone it rang still makes that phone
//!   the caller). — `every_suffix_replays_without_panic_and_invents_nothing`,
//!   `a_suffix_of_a_recording_doesnt_invent_a_call` (switchboard, at any byte).
//! - **Extension states** (`tracker/presence.rs`; `idle`, `ringing`, `inuse`,
//!   `inuse_ringing`, `busy`, `onhold`, `unavailable`, `unknown`): from `ExtensionStatus`
//!   (hint bits) and `DeviceStateChange`; each with the live calls the extension has a
//!   channel in. — `extension_and_device_states`.
//! - **Queues** (`tracker/queues.rs`): callers waiting (`QueueCallerJoin`/`Leave`,
//!   `QueueEntry`) and members (`QueueMemberStatus`/`Added`/`Removed`/`Pause`,
//!   `QueueMember`). — `queue_states_from_events_and_lists`.
//!
//! Memory is bounded: legs, dials, holds, transfers and timeline lines per call, callers and
//! members per queue, extensions, and the remembered ended ids all have caps; calls that
//! never hang up are removed by `expire`.
#![forbid(unsafe_code)]

pub mod config;
pub mod names;
pub mod record;
pub mod time;
mod tracker;
pub mod truth;
pub mod update;

pub use config::{ExtensionPattern, TrackerConfig};
pub use record::{
    CallRecord, Direction, Disposition, EndReason, Hold, Leg, LegRole, Party, QueueInfo,
    TimelineEntry, Transfer, TransferKind,
};
pub use time::Timestamp;
pub use tracker::{Checkpoint, CheckpointError, Tracker, CHECKPOINT_VERSION};
pub use update::{
    ActiveCall, CallState, ExtensionView, QueueCaller, QueueMemberView, QueueView, Update,
};
