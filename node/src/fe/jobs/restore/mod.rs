//! RESTORE: the statement and SHOW RESTORE (`statement`), the journaled job and its states (`job`),
//! the plan of what lands where (`plan`), and the driver (`driver`).

pub mod driver;
pub mod job;
pub mod plan;
pub mod statement;
