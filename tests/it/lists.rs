//! List integration tests (work in progress).
