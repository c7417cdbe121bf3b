//! Zsets commands.

use super::Spec;

pub(super) const TABLE: &[Spec] = &[];
