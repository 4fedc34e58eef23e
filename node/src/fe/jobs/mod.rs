//! BACKUP and RESTORE jobs. The files here are what both kinds share: the driver loop that runs
//! one job state by state (`driver`), the scheduler that starts a driver per running job
//! (`scheduler`), what a running job knows beyond the journal (`runtime`), statuses (`status`),
//! limits (`limits`), per-backend batches of tablet work (`batches`) and the holds a running restore puts on tables (`holds`). Each kind has a
//! room of its own; restore reads what backup writes (`backup::layout`), never the other way.

pub mod backup;
pub mod batches;
pub mod driver;
pub mod holds;
pub mod journaled;
pub mod limits;
pub mod restore;
pub mod runtime;
pub mod scheduler;
pub mod state;
pub mod status;
pub mod transfer;
