use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::broker::{self, BrokerConfig};
use crate::shutdown::Shutdown;

fn no_properties() -> BTreeMap<String, String> {
    BTreeMap::new()
}

/// The behaviour every [`RepoStore`] shares. `root` is a fresh directory of the store.
async fn contract(store: Arc<dyn RepoStore>, root: &str) {
    let p = |name: &str| format!("{root}/{name}");

    // put / get / exists / size
    assert!(!store.exists(&p("a/__meta")).await.unwrap());
    assert_eq!(store.get(&p("a/__meta")).await.unwrap_err(), RepoError::NotFound(p("a/__meta")));
    store.put(&p("a/__meta"), b"hello".to_vec()).await.unwrap();
    assert!(store.exists(&p("a/__meta")).await.unwrap());
    assert_eq!(store.get(&p("a/__meta")).await.unwrap(), b"hello");
    assert_eq!(store.size_bytes(&p("a/__meta")).await.unwrap(), 5);
    store.put(&p("a/__meta"), b"hello world".to_vec()).await.unwrap();
    assert_eq!(store.get(&p("a/__meta")).await.unwrap(), b"hello world");
    store.put(&p("empty"), Vec::new()).await.unwrap();
    assert_eq!(store.get(&p("empty")).await.unwrap(), b"");

    // get_range: inside, cut at the end, at the end, past the end
    assert_eq!(store.get_range(&p("a/__meta"), 6, 5).await.unwrap(), b"world");
    assert_eq!(store.get_range(&p("a/__meta"), 6, 100).await.unwrap(), b"world");
    assert_eq!(store.get_range(&p("a/__meta"), 11, 4).await.unwrap(), b"");
    assert_eq!(store.get_range(&p("a/__meta"), 0, 0).await.unwrap(), b"");
    assert!(matches!(store.get_range(&p("a/__meta"), 12, 4).await, Err(RepoError::Invalid(_))));
    assert!(matches!(store.get_range(&p("missing"), 0, 4).await, Err(RepoError::NotFound(_))));

    // list: sorted, string prefixes, directories
    store.put(&p("a/__info_2"), b"22".to_vec()).await.unwrap();
    store.put(&p("a/__info_1"), b"1".to_vec()).await.unwrap();
    store.put(&p("a/b/c/deep"), b"333".to_vec()).await.unwrap();
    store.put(&p("ab"), b"x".to_vec()).await.unwrap();
    let listed = store.list(&p("a/")).await.unwrap();
    let paths: Vec<String> = listed.iter().map(|e| e.path.clone()).collect();
    assert_eq!(paths, vec![p("a/__info_1"), p("a/__info_2"), p("a/__meta"), p("a/b/c/deep")]);
    assert_eq!(listed[1].size_bytes, 2);
    let info: Vec<RepoEntry> = store.list(&p("a/__info_")).await.unwrap();
    assert_eq!(
        info,
        vec![RepoEntry { path: p("a/__info_1"), size_bytes: 1 }, RepoEntry { path: p("a/__info_2"), size_bytes: 2 }]
    );
    let with_a: Vec<String> = store.list(&p("a")).await.unwrap().into_iter().map(|e| e.path).collect();
    assert_eq!(with_a.len(), 5, "{with_a:?}");
    assert_eq!(with_a.last(), Some(&p("ab")));
    assert!(store.list(&p("nothing/here/")).await.unwrap().is_empty());

    // list_shallow: one level, files and directories that start with the prefix, and the same
    // answer as a whole list cut to one level
    let shallow = store.list_shallow(&p("a/")).await.unwrap();
    let files: Vec<String> = shallow.files.iter().map(|e| e.path.clone()).collect();
    assert_eq!(files, vec![p("a/__info_1"), p("a/__info_2"), p("a/__meta")]);
    assert_eq!(shallow.dirs, vec![p("a/b")]);
    assert_eq!(shallow, crate::repository::Shallow::of(&p("a/"), store.list(&p("a/")).await.unwrap()));
    let shallow = store.list_shallow(&p("a")).await.unwrap();
    assert_eq!(shallow.files.iter().map(|e| e.path.clone()).collect::<Vec<_>>(), vec![p("ab")]);
    assert_eq!(shallow.dirs, vec![p("a")]);
    assert_eq!(store.list_shallow(&p("a/__info_")).await.unwrap().files, info);
    assert_eq!(store.list_shallow(&p("nothing/here/")).await.unwrap(), crate::repository::Shallow::default());

    // delete (a missing file is fine)
    store.delete(&p("a/__info_1")).await.unwrap();
    store.delete(&p("a/__info_1")).await.unwrap();
    store.delete(&p("never/was")).await.unwrap();
    assert!(!store.exists(&p("a/__info_1")).await.unwrap());

    // put_if_absent
    assert!(store.put_if_absent(&p("label"), b"first".to_vec()).await.unwrap());
    assert!(!store.put_if_absent(&p("label"), b"second".to_vec()).await.unwrap());
    assert_eq!(store.get(&p("label")).await.unwrap(), b"first");

    // rename (replacing the target), into a new directory
    store.put(&p("x.part"), b"data".to_vec()).await.unwrap();
    store.rename(&p("x.part"), &p("new/dir/x.md5")).await.unwrap();
    assert!(!store.exists(&p("x.part")).await.unwrap());
    assert_eq!(store.get(&p("new/dir/x.md5")).await.unwrap(), b"data");
    store.put(&p("y.part"), b"newer".to_vec()).await.unwrap();
    store.rename(&p("y.part"), &p("new/dir/x.md5")).await.unwrap();
    assert_eq!(store.get(&p("new/dir/x.md5")).await.unwrap(), b"newer");
    assert!(matches!(store.rename(&p("missing"), &p("other")).await, Err(RepoError::NotFound(_))));

    // bad paths are refused, not resolved
    for bad in ["", "/abs", "a//b", "a/../b", "./a"] {
        assert!(matches!(store.put(bad, Vec::new()).await, Err(RepoError::Invalid(_))), "{bad}");
        assert!(matches!(store.writer(bad).await, Err(RepoError::Invalid(_))), "{bad}");
    }

    // a conditional create is for small files
    let too_big = vec![0u8; MAX_PUT_IF_ABSENT_BYTES as usize + 1];
    assert!(matches!(store.put_if_absent(&p("huge"), too_big).await, Err(RepoError::Invalid(_))));
    assert!(!store.exists(&p("huge")).await.unwrap());

    // clean up through the API
    for entry in store.list(&format!("{root}/")).await.unwrap() {
        store.delete(&entry.path).await.unwrap();
    }
    assert!(store.list(&format!("{root}/")).await.unwrap().is_empty());
}

/// Bytes that differ from part to part and are not aligned to anything.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i % 251) ^ (i / 4093 % 256)) as u8).collect()
}

/// Writes `data` through a writer in pieces that do not line up with parts or wire chunks.
async fn write_pieces(writer: &mut dyn RepoWriter, data: &[u8]) {
    for piece in data.chunks(WIRE_CHUNK_BYTES + 7) {
        writer.write(piece).await.unwrap();
    }
}

/// What every [`RepoStore::writer`] does: several parts round-trip, nothing shows before finish
/// (an earlier file stays), abort and drop leave nothing, small and empty files work.
async fn writer_contract(store: Arc<dyn RepoStore>, root: &str) {
    let p = |name: &str| format!("{root}/{name}");
    let big = pattern(2 * STREAM_PART_BYTES + 3 * WIRE_CHUNK_BYTES + 12_345);

    store.put(&p("big.dat"), b"old".to_vec()).await.unwrap();
    let mut writer = store.writer(&p("big.dat")).await.unwrap();
    write_pieces(writer.as_mut(), &big).await;
    // Two full parts are sent by now, and none of it shows.
    assert_eq!(store.get(&p("big.dat")).await.unwrap(), b"old");
    assert_eq!(store.list(&format!("{root}/")).await.unwrap(), vec![RepoEntry { path: p("big.dat"), size_bytes: 3 }]);
    assert_eq!(writer.finish().await.unwrap(), big.len() as u64);
    assert_eq!(store.size_bytes(&p("big.dat")).await.unwrap(), big.len() as u64);
    assert!(store.get(&p("big.dat")).await.unwrap() == big, "the streamed object differs from what was written");

    let mut aborted = store.writer(&p("aborted.dat")).await.unwrap();
    write_pieces(aborted.as_mut(), &big[..STREAM_PART_BYTES + 10]).await;
    aborted.abort().await;
    assert!(!store.exists(&p("aborted.dat")).await.unwrap());

    let mut dropped = store.writer(&p("dropped.dat")).await.unwrap();
    write_pieces(dropped.as_mut(), &big[..STREAM_PART_BYTES + 10]).await;
    drop(dropped);
    assert!(!store.exists(&p("dropped.dat")).await.unwrap());

    let mut small = store.writer(&p("small.dat")).await.unwrap();
    small.write(b"hel").await.unwrap();
    small.write(b"").await.unwrap();
    small.write(b"lo").await.unwrap();
    assert_eq!(small.finish().await.unwrap(), 5);
    assert_eq!(store.get(&p("small.dat")).await.unwrap(), b"hello");
    let empty = store.writer(&p("empty.dat")).await.unwrap();
    assert_eq!(empty.finish().await.unwrap(), 0);
    assert_eq!(store.size_bytes(&p("empty.dat")).await.unwrap(), 0);

    let listed: Vec<String> = store.list(&format!("{root}/")).await.unwrap().into_iter().map(|e| e.path).collect();
    assert_eq!(listed, vec![p("big.dat"), p("empty.dat"), p("small.dat")]);
    for path in listed {
        store.delete(&path).await.unwrap();
    }
}

fn temp_dir(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("palo-repo-{name}-{}", std::process::id()));
    dir.to_string_lossy().into_owned()
}

#[tokio::test]
async fn mem_store_keeps_the_contract() {
    let store = open_direct("mem://contract-bucket/some/prefix", &no_properties()).unwrap();
    contract(store, "__palo_repository_r").await;
}

#[tokio::test]
async fn mem_writer_streams_parts_and_publishes_on_finish() {
    let store = open_direct("mem://writer-bucket/prefix", &no_properties()).unwrap();
    writer_contract(store, "__palo_repository_r").await;
}

#[tokio::test]
async fn file_writer_streams_parts_and_publishes_on_finish() {
    let dir = temp_dir("writer");
    let store = open_direct(&format!("file://{dir}"), &no_properties()).unwrap();
    writer_contract(Arc::clone(&store), "w").await;

    // An aborted multipart upload leaves no staging file (`<path>#<n>`, which listings hide).
    let mut aborted = store.writer("w/aborted.dat").await.unwrap();
    write_pieces(aborted.as_mut(), &pattern(STREAM_PART_BYTES + 1)).await;
    aborted.abort().await;
    use crate::disk::Disk;
    let disk = crate::disk::RealDisk::new(&dir);
    let left: Vec<String> = disk
        .read_dir(std::path::Path::new(&format!("{dir}/w")))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .filter(|name| name.starts_with("aborted.dat"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    disk.remove_dir_all(std::path::Path::new(&dir)).await.unwrap();
}

#[tokio::test]
async fn mem_buckets_are_shared_by_name_and_prefixes_separate() {
    let a = open_direct("mem://shared-bucket/p", &no_properties()).unwrap();
    let b = open_direct("mem://shared-bucket/p", &no_properties()).unwrap();
    let root = open_direct("mem://shared-bucket", &no_properties()).unwrap();
    let other = open_direct("mem://other-bucket/p", &no_properties()).unwrap();
    a.put("f", b"1".to_vec()).await.unwrap();
    assert_eq!(b.get("f").await.unwrap(), b"1");
    assert_eq!(root.get("p/f").await.unwrap(), b"1");
    assert!(!other.exists("f").await.unwrap());
}

#[tokio::test]
async fn file_store_keeps_the_contract() {
    let dir = temp_dir("contract");
    let location = format!("file://{dir}/nested/root");
    let store = open_direct(&location, &no_properties()).unwrap();
    contract(Arc::clone(&store), "__palo_repository_r").await;
    // Reopening finds what is there.
    store.put("kept", b"k".to_vec()).await.unwrap();
    let again = open_direct(&location, &no_properties()).unwrap();
    assert_eq!(again.get("kept").await.unwrap(), b"k");
    again.delete("kept").await.unwrap();
}

#[test]
fn md5_helpers() {
    assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(md5_hex(b"hello"), "5d41402abc4b2a76b9719d911017c592");
    let name = with_md5("__meta", &md5_hex(b"hello"));
    assert_eq!(name, "__meta.5d41402abc4b2a76b9719d911017c592");
    assert_eq!(split_md5(&name), Some(("__meta", "5d41402abc4b2a76b9719d911017c592")));
    assert_eq!(
        split_md5("10001_0.dat.d41d8cd98f00b204e9800998ecf8427e"),
        Some(("10001_0.dat", "d41d8cd98f00b204e9800998ecf8427e"))
    );
    assert_eq!(split_md5("__repo_info"), None);
    assert_eq!(split_md5("x.part"), None);
    assert_eq!(split_md5(".d41d8cd98f00b204e9800998ecf8427e"), None);
    assert_eq!(split_md5("x.z41d8cd98f00b204e9800998ecf8427e"), None);
}

#[tokio::test]
async fn bad_locations_and_properties_are_refused() {
    let err = open_direct("ftp://host/x", &no_properties()).err().unwrap();
    assert!(err.to_string().contains("file:///"), "{err}");

    let mut props = no_properties();
    props.insert("s3.acess_key".into(), "k".into());
    let err = open_direct("s3://bucket/p", &props).err().unwrap();
    assert!(matches!(err, RepoError::Invalid(_)));
    assert!(err.to_string().contains("s3.acess_key") && err.to_string().contains("s3.access_key"), "{err}");

    let mut props = no_properties();
    props.insert("s3.region".into(), "us-east-1".into());
    let err = open_direct("file:///tmp/palo-repo-props", &props).err().unwrap();
    assert!(err.to_string().contains("only to s3://"), "{err}");
    // mem:// stands in for S3 in the simulator: it takes S3's properties.
    assert!(open_direct("mem://bucket/p", &props).is_ok());
}

#[cfg(not(madsim))]
#[tokio::test]
async fn s3_needs_static_keys_and_a_valid_style() {
    let mut props = no_properties();
    props.insert("s3.endpoint".into(), "http://127.0.0.1:1".into());
    let err = open_direct("s3://bucket/p", &props).err().unwrap();
    assert_eq!(err, RepoError::Invalid("s3.access_key and s3.secret_key are required".into()));
    props.insert("s3.access_key".into(), "ak".into());
    props.insert("s3.secret_key".into(), "sk".into());
    props.insert("use_path_style".into(), "maybe".into());
    assert!(open_direct("s3://bucket/p", &props).is_err());
    props.insert("use_path_style".into(), "false".into());
    assert!(open_direct("s3://bucket/p", &props).is_ok());
    props.insert("use_path_style".into(), "true".into());
    let store = open_direct("s3://bucket/p", &props).unwrap();
    // Nothing listens on port 1: a quick, clear failure, not a hang.
    let err = store.get("x").await.unwrap_err();
    assert!(matches!(err, RepoError::Unreachable(_)), "{err}");
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds an ephemeral port");
    listener.local_addr().expect("has an address").port()
}

/// Starts a broker on a free port and waits until it answers.
async fn start_broker() -> (String, crate::shutdown::ShutdownTrigger) {
    let config = BrokerConfig { listen_host: "127.0.0.1".into(), port: free_port() };
    let addr = format!("127.0.0.1:{}", config.port);
    let (trigger, shutdown) = Shutdown::new();
    tokio::spawn(broker::run(config, shutdown));
    let channel = crate::rpc::channel(&addr, BROKER_TIMEOUTS).unwrap();
    let mut client = crate::rpc::broker_client(channel);
    for _ in 0..100 {
        let ping = crate::rpc::proto::BrokerPingRequest { fe_addr: "fe".into(), cluster_id: 1 };
        if client.ping(ping).await.is_ok() {
            return (addr, trigger);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the broker at {addr} never answered");
}

#[tokio::test]
async fn broker_store_through_a_real_broker() {
    let (addr, stop) = start_broker().await;
    let location = "mem://broker-loopback/repo";
    let store = BrokerStore::new(&addr, location, &no_properties());
    let direct = open_direct(location, &no_properties()).unwrap();

    // A multi-chunk write, read back whole and in a range that spans chunks.
    let big: Vec<u8> = (0..(WIRE_CHUNK_BYTES * 2 + 12_345)).map(|i| (i % 251) as u8).collect();
    store.put("snap/big.dat", big.clone()).await.unwrap();
    assert_eq!(direct.get("snap/big.dat").await.unwrap(), big);
    assert_eq!(store.get("snap/big.dat").await.unwrap(), big);
    let start = WIRE_CHUNK_BYTES - 10;
    let range = store.get_range("snap/big.dat", start as u64, WIRE_CHUNK_BYTES as u64 + 20).await.unwrap();
    assert_eq!(range, big[start..start + WIRE_CHUNK_BYTES + 20]);
    assert_eq!(store.size_bytes("snap/big.dat").await.unwrap(), big.len() as u64);

    // A shallow list through the broker: one level.
    store.put("snap/deep/er/file", b"x".to_vec()).await.unwrap();
    let shallow = store.list_shallow("snap/").await.unwrap();
    assert_eq!(shallow.files.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(), vec!["snap/big.dat"]);
    assert_eq!(shallow.dirs, vec!["snap/deep".to_string()]);
    store.delete("snap/deep/er/file").await.unwrap();

    // list, exists, conditional create, rename, delete, errors mapped back
    store.put("snap/__meta.x", b"m".to_vec()).await.unwrap();
    let listed = store.list("snap/").await.unwrap();
    assert_eq!(
        listed,
        vec![
            RepoEntry { path: "snap/__meta.x".into(), size_bytes: 1 },
            RepoEntry { path: "snap/big.dat".into(), size_bytes: big.len() as u64 }
        ]
    );
    assert!(store.put_if_absent("snap/label", b"one".to_vec()).await.unwrap());
    assert!(!store.put_if_absent("snap/label", b"two".to_vec()).await.unwrap());
    assert_eq!(store.get("snap/label").await.unwrap(), b"one");
    store.rename("snap/label", "snap/label.done").await.unwrap();
    assert!(store.exists("snap/label.done").await.unwrap());
    assert!(!store.exists("snap/label").await.unwrap());
    store.delete("snap/big.dat").await.unwrap();
    store.delete("snap/big.dat").await.unwrap();
    assert_eq!(store.get("snap/big.dat").await.unwrap_err(), RepoError::NotFound("snap/big.dat".into()));
    assert!(matches!(store.get_range("snap/__meta.x", 5, 1).await, Err(RepoError::Invalid(_))));
    assert_eq!(store.get_range("snap/__meta.x", 1, 0).await.unwrap(), b"");

    // A bad location or property comes back as Invalid, with the broker's message.
    let mut props = no_properties();
    props.insert("s3.nope".into(), "x".into());
    let bad = BrokerStore::new(&addr, location, &props);
    let err = bad.exists("f").await.unwrap_err();
    assert!(matches!(&err, RepoError::Invalid(m) if m.contains("s3.access_key")), "{err}");

    // Streamed writes through the broker keep the writer contract.
    writer_contract(Arc::new(BrokerStore::new(&addr, location, &no_properties())), "streamed").await;

    // An unreachable broker is Unreachable.
    stop.trigger();
    let gone = BrokerStore::new(&format!("127.0.0.1:{}", free_port()), location, &no_properties());
    assert!(matches!(gone.exists("f").await, Err(RepoError::Unreachable(_))));
}

/// The broker publishes a write only after the message marked `last`, and bounds conditional
/// creates.
#[tokio::test]
async fn broker_writes_nothing_for_a_stream_cut_short() {
    use crate::rpc::proto::BrokerWriteRequest;
    let (addr, stop) = start_broker().await;
    let location = "mem://broker-cut/repo";
    let direct = open_direct(location, &no_properties()).unwrap();
    let channel = crate::rpc::channel(&addr, BROKER_TIMEOUTS).unwrap();
    let mut client = crate::rpc::broker_client(channel);
    let header = |path: &str, if_absent: bool| BrokerWriteRequest {
        location: location.into(),
        path: path.into(),
        if_absent,
        ..Default::default()
    };
    let data = |len: usize, last: bool| BrokerWriteRequest { data: vec![7; len], last, ..Default::default() };

    for if_absent in [false, true] {
        let cut = vec![header("cut", if_absent), data(WIRE_CHUNK_BYTES, false), data(10, false)];
        let status = client.broker_write(futures_util::stream::iter(cut)).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Aborted, "{status:?}");
        assert!(!direct.exists("cut").await.unwrap());
    }

    let after_last = vec![header("late", false), data(10, true), data(10, false)];
    let status = client.broker_write(futures_util::stream::iter(after_last)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(!direct.exists("late").await.unwrap());

    let chunks = MAX_PUT_IF_ABSENT_BYTES as usize / WIRE_CHUNK_BYTES;
    let mut too_big = vec![header("marker", true)];
    too_big.extend((0..chunks).map(|_| data(WIRE_CHUNK_BYTES, false)));
    too_big.push(data(1, true));
    let status = client.broker_write(futures_util::stream::iter(too_big)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(!direct.exists("marker").await.unwrap());

    let whole = vec![header("whole", false), data(3, false), data(2, true)];
    let response = client.broker_write(futures_util::stream::iter(whole)).await.unwrap().into_inner();
    assert_eq!((response.created, response.size_bytes), (true, 5));
    assert_eq!(direct.get("whole").await.unwrap(), vec![7; 5]);
    stop.trigger();
}

/// A broker whose store publishes one byte less than it was sent (a multipart write that lost
/// a part still completes): every other call is refused.
struct ShortBroker;

type NoStream<T> = std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<T, tonic::Status>> + Send>>;

#[tonic::async_trait]
impl crate::rpc::proto::broker_server::Broker for ShortBroker {
    type BrokerListStream = NoStream<crate::rpc::proto::BrokerListChunk>;
    type BrokerReadStream = NoStream<crate::rpc::proto::BrokerReadChunk>;

    async fn ping(
        &self,
        _: tonic::Request<crate::rpc::proto::BrokerPingRequest>,
    ) -> Result<tonic::Response<crate::rpc::proto::BrokerPingResponse>, tonic::Status> {
        Ok(tonic::Response::new(Default::default()))
    }
    async fn broker_list(
        &self,
        _: tonic::Request<crate::rpc::proto::BrokerListRequest>,
    ) -> Result<tonic::Response<Self::BrokerListStream>, tonic::Status> {
        Err(tonic::Status::unimplemented("list"))
    }
    async fn broker_exists(
        &self,
        _: tonic::Request<crate::rpc::proto::BrokerExistsRequest>,
    ) -> Result<tonic::Response<crate::rpc::proto::BrokerExistsResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("exists"))
    }
    async fn broker_delete(
        &self,
        _: tonic::Request<crate::rpc::proto::BrokerDeleteRequest>,
    ) -> Result<tonic::Response<crate::rpc::proto::BrokerDeleteResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("delete"))
    }
    async fn broker_rename(
        &self,
        _: tonic::Request<crate::rpc::proto::BrokerRenameRequest>,
    ) -> Result<tonic::Response<crate::rpc::proto::BrokerRenameResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("rename"))
    }
    async fn broker_read(
        &self,
        _: tonic::Request<crate::rpc::proto::BrokerReadRequest>,
    ) -> Result<tonic::Response<Self::BrokerReadStream>, tonic::Status> {
        Err(tonic::Status::unimplemented("read"))
    }
    async fn broker_write(
        &self,
        request: tonic::Request<tonic::Streaming<crate::rpc::proto::BrokerWriteRequest>>,
    ) -> Result<tonic::Response<crate::rpc::proto::BrokerWriteResponse>, tonic::Status> {
        let mut stream = request.into_inner();
        let mut received = 0u64;
        while let Some(message) = stream.message().await? {
            received += message.data.len() as u64;
        }
        Ok(tonic::Response::new(crate::rpc::proto::BrokerWriteResponse {
            created: true,
            size_bytes: received.saturating_sub(1),
        }))
    }
    async fn broker_put_files(
        &self,
        request: tonic::Request<crate::rpc::proto::BrokerPutFilesRequest>,
    ) -> Result<tonic::Response<crate::rpc::proto::BrokerPutFilesResponse>, tonic::Status> {
        let files = request.into_inner().files;
        let size_bytes = files.iter().map(|f| (f.data.len() as u64).saturating_sub(1)).collect();
        Ok(tonic::Response::new(crate::rpc::proto::BrokerPutFilesResponse { size_bytes }))
    }
}

/// A put whose bytes the broker did not all publish fails (seed 2356: a backup's `__info`
/// written through the broker lost its only part, the put said OK, and the job FINISHED with
/// an empty `__info` in the repository).
#[tokio::test]
async fn a_put_the_broker_published_short_fails() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let (trigger, mut shutdown) = Shutdown::new();
    let listen: std::net::SocketAddr = addr.parse().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(crate::rpc::proto::broker_server::BrokerServer::new(ShortBroker))
            .serve_with_shutdown(listen, async move { shutdown.wait().await }),
    );
    let store = BrokerStore::new(&addr, "mem://short/repo", &no_properties());
    let mut last = None;
    for _ in 0..100 {
        match store.put("snap/__info", b"{\"a\":1}".to_vec()).await {
            Err(RepoError::Unreachable(m)) if m.contains("connect") || m.contains("transport") => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => {
                last = Some(other);
                break;
            }
        }
    }
    let err = last.expect("the fake broker answered").unwrap_err();
    assert!(err.to_string().contains("the broker wrote 6 bytes, 7 were sent"), "{err}");
    // The same for small files put in one call.
    let files = vec![("snap/a".to_string(), vec![1; 3]), ("snap/b".to_string(), vec![2; 5])];
    let err = store.put_files(files).await.unwrap_err();
    assert!(err.to_string().contains("a put of 2 files from snap/a: the broker wrote [2, 4] bytes, [3, 5]"), "{err}");
    trigger.trigger();
}

/// Small files put in one call through the broker are each published whole; the limits hold.
#[tokio::test]
async fn the_broker_puts_small_files_in_one_call() {
    let (addr, stop) = start_broker().await;
    let location = "mem://put-files/repo";
    let store = BrokerStore::new(&addr, location, &no_properties());
    let files: Vec<(String, Vec<u8>)> = (0..5u8).map(|i| (format!("d/f{i}"), vec![i; 10 + i as usize])).collect();
    let result = store.put_files(files.clone()).await;
    result.expect("put");
    let direct = open_direct(location, &BTreeMap::new()).unwrap();
    for (path, data) in &files {
        assert_eq!(&direct.get(path).await.unwrap(), data, "{path}");
    }
    let too_many: Vec<(String, Vec<u8>)> = (0..MAX_PUT_FILES + 1).map(|i| (format!("d/m{i}"), vec![])).collect();
    let err = store.put_files(too_many).await.unwrap_err();
    assert!(err.to_string().contains("more than 1024"), "{err}");
    let too_big = vec![("d/big".to_string(), vec![0; MAX_PUT_FILES_BYTES as usize + 1])];
    assert!(matches!(store.put_files(too_big).await, Err(RepoError::Invalid(_))));
    assert!(!direct.exists("d/big").await.unwrap() && !direct.exists("d/m0").await.unwrap());
    stop.trigger();
}
