//! List commands (work in progress).

use super::Spec;

pub(super) const TABLE: &[Spec] = &[];
