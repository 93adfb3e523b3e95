//! The operations: what each row of a run becomes — an import (and its
//! updates), an export, a delete, a sync — decided before anything is sent,
//! with the safety rails of the operations that delete and everything a run
//! sets up before its first row. They stand on the engine, never the other
//! way round.

pub(crate) mod deletion;
pub(crate) mod export;
pub(crate) mod import;
pub(crate) mod rails;
pub(crate) mod setup;
