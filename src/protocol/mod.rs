//! The wire protocol: request framing ([`request`]) and reply encoding ([`reply`]).

pub mod reply;
pub mod request;

pub use reply::Reply;
