//! The dial plan the simulated PBX pretends to have.
//!
//! The defaults are the plan of the real recordings in `fixtures/asterisk/22.10.1/`: phones
//! `2001…` (PJSIP endpoints named after their extension, context `internal`), the trunk
//! endpoint `pstn`, the DID `5550100` into queue `support`, whose members are `2003` (Carol)
//! and `2004` (Dave), and the ring group `600`.

/// One phone: a PJSIP endpoint named after its extension, with a hint `PJSIP/<ext>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phone {
    /// The extension, which is also the endpoint name (`2001`).
    pub ext: String,
    /// The caller ID name (`Alice`).
    pub name: String,
}

/// A queue and its static members (extensions of phones).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuePlan {
    /// The queue name (`support`).
    pub name: String,
    /// Member extensions, rung all at once (`ringall`).
    pub members: Vec<String>,
}

/// What exists on the simulated PBX.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The phones, in extension order.
    pub phones: Vec<Phone>,
    /// The trunk endpoint (`pstn`).
    pub trunk: String,
    /// The inbound DID that leads into the first queue (`5550100`).
    pub did: String,
    /// The queues.
    pub queues: Vec<QueuePlan>,
    /// The ring group number (`600`), which rings the second and third phones.
    pub ring_group: String,
}

/// The caller ID names of the recordings' phones, then more in the same spirit.
const NAMES: &[&str] = &[
    "Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory",
    "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Ursula", "Victor", "Walter",
];

impl Plan {
    /// Phones `first..=last`, the recordings' trunk, DID and ring group, and one queue per
    /// name, each with two members taken from the third phone on (`2003`, `2004` for the
    /// first queue, as in the recordings).
    pub fn new(first: u32, last: u32, queues: &[String]) -> Plan {
        let phones: Vec<Phone> = (first..=last.max(first))
            .enumerate()
            .map(|(i, ext)| Phone {
                ext: ext.to_string(),
                name: match NAMES.get(i) {
                    Some(n) => (*n).to_string(),
                    None => format!("{} {}", NAMES[i % NAMES.len()], ext),
                },
            })
            .collect();
        let queues = queues
            .iter()
            .enumerate()
            .map(|(q, name)| QueuePlan {
                name: name.clone(),
                members: [2 + 2 * q, 3 + 2 * q]
                    .iter()
                    .filter_map(|&i| phones.get(i).map(|p| p.ext.clone()))
                    .collect(),
            })
            .collect();
        Plan {
            phones,
            trunk: "pstn".into(),
            did: "5550100".into(),
            queues,
            ring_group: "600".into(),
        }
    }

    /// The phone with this extension.
    pub fn phone(&self, ext: &str) -> Option<&Phone> {
        self.phones.iter().find(|p| p.ext == ext)
    }

    /// The caller ID name of an extension, or the number itself for anything else.
    pub fn name_of(&self, ext: &str) -> String {
        self.phone(ext)
            .map_or_else(|| ext.to_string(), |p| p.name.clone())
    }
}

impl Default for Plan {
    /// The plan of the recordings: 2001..2006, queue `support` with 2003 and 2004.
    fn default() -> Plan {
        Plan::new(2001, 2006, &["support".to_string()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_plan_is_the_recordings_plan() {
        let p = Plan::default();
        assert_eq!(p.phones.len(), 6);
        assert_eq!(p.name_of("2004"), "Dave");
        assert_eq!(p.queues[0].members, vec!["2003", "2004"]);
        assert_eq!(p.name_of("0123"), "0123");
    }
}
