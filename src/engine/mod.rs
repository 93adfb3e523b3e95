//! The engine: how decided requests are sent — the pipeline (reader,
//! bounded channel, workers, reporter), a job and how its end reads, the one
//! retry loop every request goes through, and stopping. It knows no
//! operation: the operations hand it jobs.

pub(crate) mod job;
pub(crate) mod pipeline;
pub(crate) mod retry;
pub(crate) mod stop;
