//! Extension presence: hint states (`ExtensionStatus`), device states
//! (`DeviceStateChange`), and the live calls each extension is in.

use super::{header, Tracker};
use crate::names::{endpoint_of_interface, is_plumbing};
use crate::update::{
    state_from_device, state_from_hint, state_from_hint_text, ExtensionView, Update,
};
use ami_wire::Message;

/// Extensions and devices kept.
const MAX_EXTENSIONS: usize = 100_000;

pub(super) struct ExtState {
    state: &'static str,
    hint: Option<String>,
}

impl Tracker {
    /// Extensions with their states and current calls, for `/api/extensions`.
    pub fn extensions(&self) -> Vec<ExtensionView> {
        let mut names: Vec<&String> = self.extensions.keys().collect();
        // Devices of our phones with no hint still say something about the phone.
        for dev in self.devices.keys().filter(|d| !is_plumbing(d)) {
            if let Some(e) = endpoint_of_interface(dev) {
                if self.config.is_extension(e) && !self.extensions.contains_key(e) {
                    names.push(
                        self.devices
                            .get_key_value(dev)
                            .map(|(k, _)| k)
                            .unwrap_or(dev),
                    );
                }
            }
        }
        let mut out: Vec<ExtensionView> = names
            .into_iter()
            .filter_map(|n| {
                let ext = endpoint_of_interface(n).unwrap_or(n);
                self.extension_view(ext)
            })
            .collect();
        out.sort_by(|a, b| a.extension.cmp(&b.extension));
        out.dedup_by(|a, b| a.extension == b.extension);
        out
    }

    /// One extension as `/api/extensions` shows it, if that list has it: one with a hint,
    /// or one of our phones whose device state is known.
    pub fn extension(&self, ext: &str) -> Option<ExtensionView> {
        let listed = self.extensions.contains_key(ext)
            || (self.config.is_extension(ext)
                && self
                    .devices
                    .keys()
                    .any(|d| !is_plumbing(d) && endpoint_of_interface(d) == Some(ext)));
        if listed {
            self.extension_view(ext)
        } else {
            None
        }
    }

    fn extension_view(&self, ext: &str) -> Option<ExtensionView> {
        let (state, hint) = match self.extensions.get(ext) {
            Some(s) => (s.state, s.hint.clone()),
            None => {
                let (dev, st) = self
                    .devices
                    .iter()
                    .find(|(d, _)| endpoint_of_interface(d) == Some(ext))?;
                (*st, Some(dev.clone()))
            }
        };
        let mut calls: Vec<String> = self
            .by_endpoint
            .get(ext)
            .into_iter()
            .flatten()
            .filter_map(|l| self.calls.get(l))
            .filter(|c| {
                c.absorbed_into.is_none()
                    && c.channels
                        .iter()
                        .any(|ch| !ch.hung_up && !ch.local() && ch.endpoint.as_deref() == Some(ext))
            })
            .map(|c| format!("{}:{}", self.config.server, c.linkedid))
            .collect();
        calls.sort();
        Some(ExtensionView {
            server: self.config.server.clone(),
            extension: ext.to_string(),
            state,
            hint,
            calls,
        })
    }

    fn set_extension(
        &mut self,
        ext: &str,
        state: &'static str,
        hint: Option<&str>,
        out: &mut Vec<Update>,
    ) {
        let full = self.extensions.len() >= MAX_EXTENSIONS;
        let changed = match self.extensions.get_mut(ext) {
            Some(e) => {
                if let Some(h) = hint {
                    e.hint = Some(h.to_string());
                }
                std::mem::replace(&mut e.state, state) != state
            }
            None if !full => {
                self.extensions.insert(
                    ext.to_string(),
                    ExtState {
                        state,
                        hint: hint.map(str::to_string),
                    },
                );
                true
            }
            None => false,
        };
        if changed {
            if let Some(v) = self.extension_view(ext) {
                out.push(Update::ExtensionState(v));
            }
        }
    }

    pub(super) fn on_extension_status(&mut self, msg: &Message, out: &mut Vec<Update>) {
        let Some(ext) = header(msg, "Exten").map(str::to_string) else {
            return;
        };
        let state = match header(msg, "Status").and_then(|s| s.parse::<i32>().ok()) {
            Some(s) => state_from_hint(s),
            None => header(msg, "StatusText").map_or("unknown", state_from_hint_text),
        };
        let hint = header(msg, "Hint").map(str::to_string);
        self.set_extension(&ext, state, hint.as_deref(), out);
    }

    pub(super) fn on_device_state(&mut self, msg: &Message, out: &mut Vec<Update>) {
        let (Some(device), Some(state)) = (header(msg, "Device"), header(msg, "State")) else {
            return;
        };
        let state = state_from_device(state);
        if !self.devices.contains_key(device) && self.devices.len() >= MAX_EXTENSIONS {
            return;
        }
        if self.devices.insert(device.to_string(), state) != Some(state) {
            out.push(Update::DeviceState {
                device: device.to_string(),
                state,
            });
        }
    }
}
