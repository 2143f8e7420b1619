//! Reading Asterisk's channel names and member interfaces.
//!
//! A channel name is `<tech>/<resource>-<sequence>`: `PJSIP/2001-0000001a`, `SIP/2001-0000abcd`
//! (chan_sip of Asterisk ≤ 20), `IAX2/trunk-1234`. Local channels are
//! `Local/<exten>@<context>-<sequence>;1` and `;2`: the two halves of one pseudo-channel that
//! runs dial plan; they are never a person, so the tracker looks through them.

/// The endpoint of a channel name: `PJSIP/2001-0000001a` → `2001`,
/// `Local/2002@internal-00000001;2` → `2002`.
pub fn endpoint_of_channel(channel: &str) -> Option<&str> {
    let (_tech, rest) = channel.split_once('/')?;
    let rest = rest.split(';').next().unwrap_or(rest);
    // `Local/2002@internal-0001`: the exten before `@`.
    if let Some((exten, _)) = rest.split_once('@') {
        return non_empty(exten);
    }
    // Strip the `-<sequence>` Asterisk appends to make the name unique.
    let base = match rest.rsplit_once('-') {
        Some((base, seq)) if !seq.is_empty() && seq.bytes().all(|b| b.is_ascii_hexdigit()) => base,
        _ => rest,
    };
    non_empty(base)
}

/// The endpoint of a queue member interface: `PJSIP/2003` → `2003`,
/// `Local/2003@from-queue/n` → `2003`, `SIP/2003` → `2003`.
pub fn endpoint_of_interface(interface: &str) -> Option<&str> {
    let (_tech, rest) = interface.split_once('/')?;
    let rest = rest.split(['@', '/']).next().unwrap_or(rest);
    non_empty(rest)
}

/// The other half of a Local channel: `Local/2002@internal-00000001;1` ↔ `…;2`.
pub fn local_pair(channel: &str) -> Option<String> {
    if !is_local(channel) {
        return None;
    }
    let (base, half) = channel.rsplit_once(';')?;
    let other = match half {
        "1" => "2",
        "2" => "1",
        _ => return None,
    };
    Some(format!("{base};{other}"))
}

/// Channel technologies of Asterisk's own that are no device: the conference announcer
/// and recorder (`CBAnn/700-…`, `CBRec/…`), bridge media (`Announcer/`, `Recorder/`),
/// `Snoop/` (ChanSpy, MixMonitor), `Message/`, and `Local/`. Never a person, never an
/// extension, whatever number they carry.
pub fn is_plumbing(channel_or_device: &str) -> bool {
    let tech = channel_or_device.split('/').next().unwrap_or("");
    [
        "Local",
        "CBAnn",
        "CBRec",
        "Announcer",
        "Recorder",
        "Snoop",
        "Message",
    ]
    .iter()
    .any(|p| tech.eq_ignore_ascii_case(p))
        && channel_or_device.contains('/')
}

/// True for either half of a Local channel.
pub fn is_local(channel: &str) -> bool {
    channel
        .get(..6)
        .is_some_and(|t| t.eq_ignore_ascii_case("Local/"))
}

/// A caller ID number worth keeping: not empty, not Asterisk's `<unknown>`.
pub fn known_number(n: Option<&str>) -> Option<&str> {
    let n = n?.trim();
    if n.is_empty() || n.eq_ignore_ascii_case("<unknown>") || n.eq_ignore_ascii_case("unknown") {
        None
    } else {
        Some(n)
    }
}

/// A dial plan extension that says what was dialed: not empty, not the `s` start extension,
/// not the `h`/`i`/`t` special ones.
pub fn dialed_exten(e: Option<&str>) -> Option<&str> {
    let e = e?.trim();
    match e {
        "" | "s" | "h" | "i" | "t" | "T" | "failed" => None,
        _ => Some(e),
    }
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names() {
        assert_eq!(endpoint_of_channel("PJSIP/2001-0000001a"), Some("2001"));
        assert_eq!(endpoint_of_channel("SIP/2001-0000abcd"), Some("2001"));
        assert_eq!(endpoint_of_channel("PJSIP/pstn-00000001"), Some("pstn"));
        assert_eq!(
            endpoint_of_channel("PJSIP/my-trunk-00000001"),
            Some("my-trunk")
        );
        assert_eq!(
            endpoint_of_channel("Local/2002@internal-00000001;2"),
            Some("2002")
        );
        assert_eq!(endpoint_of_channel("garbage"), None);
        assert!(is_local("Local/2002@internal-00000001;1"));
        assert!(!is_local("PJSIP/2002-1"));
    }

    #[test]
    fn interfaces() {
        assert_eq!(endpoint_of_interface("PJSIP/2003"), Some("2003"));
        assert_eq!(
            endpoint_of_interface("Local/2003@from-queue/n"),
            Some("2003")
        );
        assert_eq!(endpoint_of_interface("SIP/2004"), Some("2004"));
    }

    #[test]
    fn numbers_and_extens() {
        assert_eq!(known_number(Some("<unknown>")), None);
        assert_eq!(known_number(Some(" 2001 ")), Some("2001"));
        assert_eq!(dialed_exten(Some("s")), None);
        assert_eq!(dialed_exten(Some("5550100")), Some("5550100"));
    }
}
