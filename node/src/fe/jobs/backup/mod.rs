//! BACKUP: the statement and SHOW BACKUP (`statement`), the journaled job and its states (`job`),
//! the driver that moves it through them (`driver`), and the repository layout it writes (`layout`).

pub mod driver;
pub mod job;
pub mod layout;
pub mod statement;
