//! Introspection and administration: INFO, CONFIG, COMMAND, CLIENT.

use super::Spec;

pub(super) const TABLE: &[Spec] = &[];
