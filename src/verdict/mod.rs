//! Stage 4: the judgement of each listener. A socket with its owners, joined with its IANA records, becomes a
//! [`Listener`]: range tier, exposure, flags with reasons, severity ([`classify`]); many make a [`Report`]
//! ([`listener`]); [`story`] tells the whole story of one port for `explain`.

mod classify;
mod judge;
pub mod knowledge;
mod listener;
mod story;

pub use classify::{
    is_silent, obscure_share, obscure_signals, port_flags, related, socket_flags, stem, Exposure, Flag, FlagKind, Iana,
    ObscureShare, Range, Severity, Signal,
};
pub use judge::{Judge, Judgement, Verdict};
pub use listener::{
    build, by_severity, listener, sort_by_port, sort_by_severity, stream, summarise, Listener, Report, Summary,
    SCHEMA_VERSION,
};
pub(crate) use listener::{in_report_order, listener_at, Tally};
pub use story::{story, PortSpec, Story, RELATED_WINDOW};
