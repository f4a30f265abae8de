//! portwarden: what is listening on this machine, who owns it, and should it be?
//!
//! The pipeline runs one way: [`platform::enumerate`] lists sockets with their owners, [`registry`] joins each
//! with the IANA port registry, [`classify`] derives range, exposure and flags, and [`render`] writes the result.

pub mod model;
pub mod platform;
pub mod text;
