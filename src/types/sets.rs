//! Sets as typed operations over the versioned sub-key layout.
