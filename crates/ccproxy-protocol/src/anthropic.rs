//! The Anthropic Messages API: what an OAuth (subscription) token requires of a request.
//!
//! See `SPEC.md` §2. The request body is treated as opaque bytes except for the one top-level
//! `system` field, so unknown fields, thinking blocks and `role:"system"` turns pass untouched.

pub mod beta;
pub mod identity;
pub mod usage;
