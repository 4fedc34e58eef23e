//! What the FE tells the simulator about its jobs (`palo_buggify::job_state`), as the nemesis's
//! aims and the coverage table read it.
#![cfg(madsim)]

/// Two clusters of one world number their jobs alike (each FE's first job is 20 001 or so): a
/// job of one must not hide, or end, the other's. Keyed by job id alone, the second cluster's
/// job overwrote the first's state, and its end took the first off the running jobs.
#[test]
fn jobs_of_two_clusters_with_one_id_are_both_running() {
    let runtime = madsim::runtime::Runtime::with_seed_and_config(1, madsim::Config::default());
    runtime.block_on(async {
        let handle = madsim::runtime::Handle::current();
        let fe = handle.create_node().name("fe").build();
        let second = handle.create_node().name("second-fe").build();
        let state = |node: &madsim::runtime::NodeHandle, state: &'static str, ended: bool| {
            node.spawn(async move { palo_buggify::job_state("backup", 20_001, state, 3, ended) })
        };
        state(&fe, "UPLOADING", false).await.expect("the FE's task");
        state(&second, "PENDING", false).await.expect("the second FE's task");
        let mut running = palo_buggify::running_jobs();
        running.sort();
        assert_eq!(running, vec![("backup", "PENDING"), ("backup", "UPLOADING")]);
        state(&second, "FINISHED", true).await.expect("the second FE's task");
        assert_eq!(palo_buggify::running_jobs(), vec![("backup", "UPLOADING")]);
    });
    let _ = palo_buggify::take_coverage();
}
