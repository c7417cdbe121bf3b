//! List differential tests (work in progress).
