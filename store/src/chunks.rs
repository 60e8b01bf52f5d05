//! The chunk store: shards on disk plus an on-disk index from record hash to location.
//!
//! The index is a redb B-tree, so it does not have to fit in memory. It is only ever
//! updated after the shard it points into is durable under its final name; a crash can
//! leave a shard that is not indexed yet (found and re-indexed by `gc`, reported by
//! `fsck`), never an index entry whose bytes are missing.
//!
//! A record may be held by more than one shard (two datasets that stored the same chunk,
//! then fetched each other's shards). The index keeps one location per record, the
//! first one indexed, and remembers the others as alternates: a read whose copy fails
//! verification (a damaged disk, or a store poisoned before received shards were checked
//! record by record) falls back to them, and `gc` makes a good alternate the record's
//! location before it deletes any copy.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use redb::{
    Database, DatabaseError, MultimapTableDefinition, MultimapTableHandle, ReadOnlyDatabase,
    ReadTransaction, ReadableDatabase, ReadableMultimapTable, ReadableTable, ReadableTableMetadata,
    TableDefinition, WriteTransaction,
};

use crate::Hash;
use crate::error::{Result, StoreError};
use crate::shard::{EntryKind, SealedShard, ShardEntry, ShardFile, ShardWriter, TARGET_SHARD_SIZE};
use crate::shard_path;

/// record hash → shard id (32 bytes) ++ encoded [`ShardEntry`] (49 bytes).
const RECORDS: TableDefinition<[u8; 32], [u8; 81]> = TableDefinition::new("records");
/// shard id → file size.
const SHARDS: TableDefinition<[u8; 32], u64> = TableDefinition::new("shards");
/// record hash → other locations of the same record (encoded as in [`RECORDS`]), where
/// reads fall back when the copy in [`RECORDS`] fails verification. Indexes written
/// before this table existed lack it until opened for writing (then it starts empty,
/// and `gc` fills it in as it reads every shard's table).
const ALTERNATES: MultimapTableDefinition<[u8; 32], [u8; 81]> =
    MultimapTableDefinition::new("alternates");
/// Facts about the index itself. [`ALTERNATES_INCOMPLETE`] is set when [`ALTERNATES`]
/// was added to an index that already held records (written before alternates were
/// kept), until [`ChunkStore::complete_alternates`] has run.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const ALTERNATES_INCOMPLETE: &str = "alternates_incomplete";

/// Where a record lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    /// The shard holding it.
    pub shard: Hash,
    /// Its table entry in that shard.
    pub entry: ShardEntry,
}

/// Shards plus their index. Cheap to share between threads.
pub struct ChunkStore {
    dir: PathBuf,
    tmp: PathBuf,
    db: IndexDb,
    open_files: Mutex<HashMap<Hash, Arc<ShardFile>>>,
}

/// Totals of one write session.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct WriteStats {
    /// Record bytes written to new shards.
    pub new_bytes: u64,
    /// New records.
    pub new_records: u64,
    /// Shards sealed.
    pub shards: u64,
}

impl ChunkStore {
    /// Opens (creating if needed) the store whose shards live in `dir` and index in `index`,
    /// for reading and writing. Only one process may hold it so; the store lock sees to that.
    pub fn open(dir: &Path, index: &Path) -> Result<ChunkStore> {
        let db = retry_while_open(|| create_index(index))?;
        ChunkStore::with_index(dir, IndexDb::Writable(db))
    }

    /// Opens the store for reading only. Any number of processes (and connections of one
    /// `serve`) may hold it at once; none may write it meanwhile, which the store lock
    /// guarantees. An index that is missing, or was left unclean by a killed writer, is
    /// created or repaired first, briefly taking it for writing.
    pub fn open_read_only(dir: &Path, index: &Path) -> Result<ChunkStore> {
        let open = || {
            Database::builder()
                .set_cache_size(64 << 20)
                .open_read_only(index)
        };
        // Missing (a dataset that never stored a chunk) or unclean (a killed writer).
        let needs_writer = |e: &DatabaseError| match e {
            DatabaseError::RepairAborted => true,
            DatabaseError::Storage(redb::StorageError::Io(e)) => {
                e.kind() == std::io::ErrorKind::NotFound
            }
            _ => false,
        };
        let db = retry_while_open(|| match open() {
            Err(e) if needs_writer(&e) => {
                drop(create_index(index)?);
                Ok(open()?)
            }
            r => Ok(r?),
        })?;
        ChunkStore::with_index(dir, IndexDb::ReadOnly(db))
    }

    fn with_index(dir: &Path, db: IndexDb) -> Result<ChunkStore> {
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&tmp)
            .map_err(|e| StoreError::io(format!("create {}", tmp.display()), e))?;
        Ok(ChunkStore {
            dir: dir.to_path_buf(),
            tmp,
            db,
            open_files: Mutex::new(HashMap::new()),
        })
    }

    /// Whether this handle may change the index.
    pub fn is_writable(&self) -> bool {
        matches!(self.db, IndexDb::Writable(_))
    }

    fn begin_read(&self) -> Result<ReadTransaction> {
        Ok(match &self.db {
            IndexDb::Writable(db) => db.begin_read()?,
            IndexDb::ReadOnly(db) => db.begin_read()?,
        })
    }

    fn begin_write(&self) -> Result<WriteTransaction> {
        match &self.db {
            IndexDb::Writable(db) => Ok(db.begin_write()?),
            IndexDb::ReadOnly(_) => Err(StoreError::Index(
                "the chunk index was opened read-only, so this command cannot add or drop \
                 chunks (a bug: it should take the store for writing)"
                    .into(),
            )),
        }
    }

    /// The shard directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where a record is, if the index knows it.
    pub fn locate(&self, hash: &Hash) -> Result<Option<Location>> {
        let txn = self.begin_read()?;
        let table = txn.open_table(RECORDS)?;
        Ok(table.get(hash.0)?.map(|v| decode_location(&v.value())))
    }

    /// Whether the index knows the record.
    pub fn contains(&self, hash: &Hash) -> Result<bool> {
        Ok(self.locate(hash)?.is_some())
    }

    /// Which of `hashes` the index does not know (order kept).
    pub fn missing(&self, hashes: &[Hash]) -> Result<Vec<bool>> {
        let txn = self.begin_read()?;
        let table = txn.open_table(RECORDS)?;
        hashes
            .iter()
            .map(|h| Ok(table.get(h.0)?.is_none()))
            .collect()
    }

    /// Opens shard `id` (cached).
    pub fn shard(&self, id: &Hash) -> Result<Arc<ShardFile>> {
        let mut files = self.open_files.lock().expect("shard cache poisoned");
        if let Some(f) = files.get(id) {
            return Ok(f.clone());
        }
        if files.len() >= 64 {
            files.clear();
        }
        let f = Arc::new(ShardFile::open(*id, &shard_path(&self.dir, id))?);
        files.insert(*id, f.clone());
        Ok(f)
    }

    /// Reads a record, verified against its hash. When the indexed copy fails (an
    /// unreadable shard, bytes that do not hash to the record's id) the other copies the
    /// index knows of are tried in turn; the error is the first copy's.
    pub fn read(&self, hash: &Hash, kind: &'static str) -> Result<Vec<u8>> {
        let loc = self
            .locate(hash)?
            .ok_or(StoreError::Missing { kind, hash: *hash })?;
        match self.read_at(&loc) {
            Ok(bytes) => Ok(bytes),
            Err(first) => {
                for alt in self.alternates(hash)? {
                    if let Ok(bytes) = self.read_at(&alt) {
                        return Ok(bytes);
                    }
                }
                Err(first)
            }
        }
    }

    /// Reads the copy of a record at `loc`, verified against its hash (no fallback).
    pub fn read_at(&self, loc: &Location) -> Result<Vec<u8>> {
        self.shard(&loc.shard)?.read(&loc.entry)
    }

    /// The other copies of a record the index knows of, beside [`ChunkStore::locate`]'s.
    pub fn alternates(&self, hash: &Hash) -> Result<Vec<Location>> {
        let txn = self.begin_read()?;
        let table = match txn.open_multimap_table(ALTERNATES) {
            Ok(t) => t,
            // An index written before alternates were kept, opened read-only.
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for v in table.get(hash.0)? {
            out.push(decode_location(&v?.value()));
        }
        Ok(out)
    }

    /// Every (record hash, alternate location) in the index, passed to `f`.
    pub fn for_each_alternate(&self, mut f: impl FnMut(Hash, Location)) -> Result<()> {
        let txn = self.begin_read()?;
        let table = match txn.open_multimap_table(ALTERNATES) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        for item in table.iter()? {
            let (k, values) = item?;
            let h = Hash(k.value());
            for v in values {
                f(h, decode_location(&v?.value()));
            }
        }
        Ok(())
    }

    /// Every shard the index knows, with its size.
    pub fn indexed_shards(&self) -> Result<Vec<(Hash, u64)>> {
        let txn = self.begin_read()?;
        let table = txn.open_table(SHARDS)?;
        let mut out = Vec::new();
        for item in table.iter()? {
            let (k, v) = item?;
            out.push((Hash(k.value()), v.value()));
        }
        Ok(out)
    }

    /// Every shard file present in the shard directory.
    pub fn shard_files(&self) -> Result<Vec<Hash>> {
        let mut out = Vec::new();
        let rd = std::fs::read_dir(&self.dir).map_err(|e| StoreError::io("list shards", e))?;
        for sub in rd.flatten() {
            if !sub.file_type().is_ok_and(|t| t.is_dir()) || sub.file_name() == "tmp" {
                continue;
            }
            let Ok(inner) = std::fs::read_dir(sub.path()) else {
                continue;
            };
            for f in inner.flatten() {
                let name = f.file_name();
                let name = name.to_string_lossy();
                if let Some(h) = name.strip_suffix(".shard").and_then(|h| h.parse().ok()) {
                    out.push(h);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Number of records in the index.
    pub fn record_count(&self) -> Result<u64> {
        let txn = self.begin_read()?;
        Ok(txn.open_table(RECORDS)?.len()?)
    }

    /// Every (record hash, location) in the index, in hash order, passed to `f`.
    pub fn for_each_record(&self, mut f: impl FnMut(Hash, Location)) -> Result<()> {
        let txn = self.begin_read()?;
        let table = txn.open_table(RECORDS)?;
        for item in table.iter()? {
            let (k, v) = item?;
            f(Hash(k.value()), decode_location(&v.value()));
        }
        Ok(())
    }

    /// Records a sealed shard in the index, in one transaction. Records already indexed
    /// elsewhere keep their old location, and this shard's copy becomes one of their
    /// alternates. Only shards whose every record was verified (written here, or passed
    /// through [`crate::shard::verify_shard_file`]) may be indexed.
    pub fn index_shard(&self, shard: &SealedShard) -> Result<()> {
        let txn = self.begin_write()?;
        {
            let mut records = txn.open_table(RECORDS)?;
            let mut alternates = txn.open_multimap_table(ALTERNATES)?;
            for e in &shard.entries {
                let here = encode_location(&shard.id, e);
                let elsewhere = records
                    .get(e.hash.0)?
                    .map(|v| decode_location(&v.value()).shard != shard.id);
                match elsewhere {
                    None => {
                        records.insert(e.hash.0, here)?;
                    }
                    Some(true) => {
                        alternates.insert(e.hash.0, here)?;
                    }
                    Some(false) => {}
                }
            }
            txn.open_table(SHARDS)?.insert(shard.id.0, shard.size)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Whether the index knows every copy of every record in its shards (as the record's
    /// location or an alternate). False for an index written before alternates were
    /// kept, until [`ChunkStore::complete_alternates`] has run.
    pub fn alternates_complete(&self) -> Result<bool> {
        let txn = self.begin_read()?;
        if !txn
            .list_multimap_tables()?
            .any(|t| t.name() == ALTERNATES.name())
        {
            return Ok(false);
        }
        let meta = match txn.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        Ok(meta.get(ALTERNATES_INCOMPLETE)?.is_none())
    }

    /// Makes the index look as one written before alternates were kept (tests only).
    #[cfg(test)]
    pub(crate) fn mark_alternates_incomplete_for_test(&self) {
        let txn = self.begin_write().unwrap();
        txn.delete_multimap_table(ALTERNATES).unwrap();
        txn.open_multimap_table(ALTERNATES).unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(ALTERNATES_INCOMPLETE, 1)
            .unwrap();
        txn.commit().unwrap();
    }

    /// Writes (not indexes) what a hostile mirror serves: a validly named shard listing
    /// every record of shard `honest` over garbage (tests only).
    #[cfg(test)]
    pub(crate) fn forge_copy_for_test(&self, honest: &Hash) -> SealedShard {
        let table = self.shard(honest).unwrap().table().unwrap();
        let mut w = ShardWriter::create(&self.tmp).unwrap();
        for (i, e) in table.iter().enumerate() {
            let garbage: Vec<u8> = (0..e.raw_len)
                .map(|j| (j.wrapping_add(i as u32).wrapping_mul(2654435761) >> 9) as u8)
                .collect();
            w.append(e.hash, e.kind, e.raw_len, &garbage, false)
                .unwrap();
        }
        w.seal(&self.dir).unwrap().unwrap()
    }

    /// Reads the table of every indexed shard and records, as alternates, the copies of
    /// records whose location is another shard; then marks the alternates complete.
    /// Needed once for an index written before alternates were kept (`gc` runs it).
    /// Returns how many copies were added. A shard whose table cannot be read adds none
    /// (none of its records can be read either; `fsck` names it).
    pub fn complete_alternates(&self) -> Result<u64> {
        let mut added = 0;
        for (id, _) in self.indexed_shards()? {
            let Ok(table) = self.shard(&id).and_then(|s| s.table()) else {
                continue;
            };
            let txn = self.begin_write()?;
            {
                let records = txn.open_table(RECORDS)?;
                let mut alternates = txn.open_multimap_table(ALTERNATES)?;
                for e in &table {
                    let elsewhere = records
                        .get(e.hash.0)?
                        .is_some_and(|v| decode_location(&v.value()).shard != id);
                    if elsewhere && !alternates.insert(e.hash.0, encode_location(&id, e))? {
                        added += 1;
                    }
                }
            }
            txn.commit()?;
        }
        let txn = self.begin_write()?;
        txn.open_table(META)?.remove(ALTERNATES_INCOMPLETE)?;
        txn.commit()?;
        Ok(added)
    }

    /// Makes `loc` the record's indexed location (its copy there was verified; the one
    /// it replaces was found damaged and is dropped from the index).
    pub fn promote(&self, hash: &Hash, loc: &Location) -> Result<()> {
        let txn = self.begin_write()?;
        {
            let v = encode_location(&loc.shard, &loc.entry);
            txn.open_table(RECORDS)?.insert(hash.0, v)?;
            txn.open_multimap_table(ALTERNATES)?.remove(hash.0, v)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Points records at `shard` (used by repacking), replacing old locations.
    pub fn reindex_shard(&self, shard: &SealedShard) -> Result<()> {
        let txn = self.begin_write()?;
        {
            let mut records = txn.open_table(RECORDS)?;
            for e in &shard.entries {
                records.insert(e.hash.0, encode_location(&shard.id, e))?;
            }
            txn.open_table(SHARDS)?.insert(shard.id.0, shard.size)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Drops dead records (every copy of them) and removed shards from the index, after
    /// a gc decided they are dead. Each shard comes with its table, so that the
    /// alternates pointing into it go too.
    pub fn forget(&self, records: &[Hash], shards: &[(Hash, &[ShardEntry])]) -> Result<()> {
        let txn = self.begin_write()?;
        {
            let mut table = txn.open_table(RECORDS)?;
            let mut alternates = txn.open_multimap_table(ALTERNATES)?;
            for h in records {
                table.remove(h.0)?;
                alternates.remove_all(h.0)?;
            }
            let mut table = txn.open_table(SHARDS)?;
            for (id, entries) in shards {
                table.remove(id.0)?;
                for e in *entries {
                    alternates.remove(e.hash.0, encode_location(id, e))?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Deletes a shard file.
    pub fn remove_shard_file(&self, id: &Hash) -> Result<()> {
        self.open_files
            .lock()
            .expect("shard cache poisoned")
            .remove(id);
        let p = shard_path(&self.dir, id);
        match std::fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io(format!("remove {}", p.display()), e)),
        }
    }

    /// Removes temporary files left by killed writers.
    pub fn clean_temporaries(&self) -> Result<u64> {
        let mut n = 0;
        if let Ok(rd) = std::fs::read_dir(&self.tmp) {
            for f in rd.flatten() {
                if std::fs::remove_file(f.path()).is_ok() {
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// A sink that appends new records to shards, shared by ingest threads.
    pub fn sink(&self) -> RecordSink<'_> {
        RecordSink {
            store: self,
            state: Mutex::new(SinkState::default()),
        }
    }
}

/// The redb index behind a [`ChunkStore`], held for writing or shared for reading.
enum IndexDb {
    Writable(Database),
    ReadOnly(ReadOnlyDatabase),
}

/// Creates or opens the index for writing, with its tables present.
fn create_index(index: &Path) -> Result<Database, redb::Error> {
    let db = Database::builder().set_cache_size(64 << 20).create(index)?;
    let txn = db.begin_write()?;
    let had_alternates = txn
        .list_multimap_tables()?
        .any(|t| t.name() == ALTERNATES.name());
    let had_records = !txn.open_table(RECORDS)?.is_empty()?;
    txn.open_table(SHARDS)?;
    txn.open_multimap_table(ALTERNATES)?;
    let mut meta = txn.open_table(META)?;
    if !had_alternates && had_records {
        meta.insert(ALTERNATES_INCOMPLETE, 1)?;
    }
    drop(meta);
    txn.commit()?;
    Ok(db)
}

/// Runs `open` until the index is not held by another handle, for as long as the store
/// lock would wait. Handles of one kind never exclude each other for long: a reader that
/// finds the index unclean holds it for writing only while redb repairs it.
fn retry_while_open<T>(open: impl Fn() -> Result<T, redb::Error>) -> Result<T> {
    let start = std::time::Instant::now();
    let limit = crate::lock::timeout();
    loop {
        match open() {
            Err(redb::Error::DatabaseAlreadyOpen) if start.elapsed() < limit => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(redb::Error::DatabaseAlreadyOpen) => {
                return Err(StoreError::Index(format!(
                    "the chunk index stayed in use by another handle for {}s; \
                     is a colony process stuck? (set COLONY_LOCK_TIMEOUT to wait longer)",
                    limit.as_secs()
                )));
            }
            r => return Ok(r?),
        }
    }
}

fn encode_location(shard: &Hash, e: &ShardEntry) -> [u8; 81] {
    let mut v = [0u8; 81];
    v[..32].copy_from_slice(&shard.0);
    v[32..].copy_from_slice(&e.encode());
    v
}

fn decode_location(v: &[u8; 81]) -> Location {
    Location {
        shard: Hash(v[..32].try_into().expect("32 bytes")),
        entry: ShardEntry::decode(&v[32..]).expect("index entries are written by us"),
    }
}

#[derive(Default)]
struct SinkState {
    writer: Option<ShardWriter>,
    /// Records written in this session and not yet indexed (open or sealing shards).
    pending: HashSet<Hash>,
    /// Shards being made durable in the background, oldest first.
    sealing: std::collections::VecDeque<std::thread::JoinHandle<Result<Option<SealedShard>>>>,
    stats: WriteStats,
}

/// Shards allowed to be sealing at once before writers wait.
const MAX_SEALING: usize = 2;

/// Appends records to shards, skipping any the store or this session already holds.
/// Sealed shards are indexed at once; call [`RecordSink::finish`] to seal the last one.
pub struct RecordSink<'a> {
    store: &'a ChunkStore,
    state: Mutex<SinkState>,
}

/// A record ready to store: its hash, kind, raw length and stored bytes.
pub struct PreparedRecord {
    /// BLAKE3 of the raw bytes.
    pub hash: Hash,
    /// Chunk or manifest.
    pub kind: EntryKind,
    /// Uncompressed length.
    pub raw_len: u32,
    /// Bytes to write.
    pub stored: Vec<u8>,
    /// Whether `stored` is zstd.
    pub compressed: bool,
}

impl RecordSink<'_> {
    /// Whether the record is already stored or pending in this session.
    pub fn has(&self, hash: &Hash) -> Result<bool> {
        if self
            .state
            .lock()
            .expect("sink poisoned")
            .pending
            .contains(hash)
        {
            return Ok(true);
        }
        self.store.contains(hash)
    }

    /// For each hash, whether it still needs storing.
    pub fn needed(&self, hashes: &[Hash]) -> Result<Vec<bool>> {
        let mut need = self.store.missing(hashes)?;
        let state = self.state.lock().expect("sink poisoned");
        for (n, h) in need.iter_mut().zip(hashes) {
            if *n && state.pending.contains(h) {
                *n = false;
            }
        }
        Ok(need)
    }

    /// Appends records not yet stored; seals and indexes a shard when it is full.
    pub fn put(&self, records: Vec<PreparedRecord>) -> Result<()> {
        let mut state = self.state.lock().expect("sink poisoned");
        for r in records {
            if state.pending.contains(&r.hash) || self.store.contains(&r.hash)? {
                continue;
            }
            if state.writer.is_none() {
                state.writer = Some(ShardWriter::create(&self.store.tmp)?);
            }
            let w = state.writer.as_mut().expect("just created");
            w.append(r.hash, r.kind, r.raw_len, &r.stored, r.compressed)?;
            let full = w.len() >= TARGET_SHARD_SIZE;
            state.pending.insert(r.hash);
            state.stats.new_bytes += r.stored.len() as u64;
            state.stats.new_records += 1;
            if full {
                self.seal_locked(&mut state)?;
            }
        }
        Ok(())
    }

    /// Hands the open shard to a background thread that fsyncs and renames it, so
    /// ingest goes on while the disk catches up; indexing happens when it is joined.
    fn seal_locked(&self, state: &mut SinkState) -> Result<()> {
        if let Some(w) = state.writer.take() {
            let dir = self.store.dir.clone();
            state
                .sealing
                .push_back(std::thread::spawn(move || w.seal(&dir)));
        }
        while state.sealing.len() > MAX_SEALING {
            self.join_oldest(state)?;
        }
        Ok(())
    }

    /// Waits for the oldest sealing shard and indexes it (only after it is durable).
    fn join_oldest(&self, state: &mut SinkState) -> Result<()> {
        let Some(handle) = state.sealing.pop_front() else {
            return Ok(());
        };
        let sealed = handle
            .join()
            .map_err(|_| StoreError::Index("shard writer thread panicked".into()))??;
        if let Some(sealed) = sealed {
            self.store.index_shard(&sealed)?;
            state.stats.shards += 1;
            for e in &sealed.entries {
                state.pending.remove(&e.hash);
            }
        }
        Ok(())
    }

    /// Seals the open shard, waits for every shard to be durable and indexed, and returns
    /// what this session wrote.
    pub fn finish(self) -> Result<WriteStats> {
        let mut state = self.state.lock().expect("sink poisoned");
        self.seal_locked(&mut state)?;
        while !state.sealing.is_empty() {
            self.join_oldest(&mut state)?;
        }
        Ok(state.stats)
    }
}

/// Compresses `raw` with zstd at `level`, or keeps it raw when that does not save 1/16.
pub fn prepare(hash: Hash, kind: EntryKind, raw: &[u8], level: i32) -> PreparedRecord {
    thread_local! {
        static COMPRESSOR: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
            const { std::cell::RefCell::new(None) };
    }
    // A 4 KiB sample that zstd cannot shrink means the chunk is (almost surely) already
    // compressed or random: skip the full attempt, which would cost as much as hashing.
    const SAMPLE: usize = 4096;
    let hopeless = |z: &mut zstd::bulk::Compressor<'static>| {
        raw.len() > 4 * SAMPLE
            && z.compress(&raw[..SAMPLE])
                .is_ok_and(|c| c.len() >= SAMPLE - SAMPLE / 16)
    };
    let compressed = if level == 0 {
        None
    } else {
        COMPRESSOR.with(|c| {
            let mut c = c.borrow_mut();
            if c.as_ref().is_none_or(|(l, _)| *l != level) {
                *c = zstd::bulk::Compressor::new(level).ok().map(|z| (level, z));
            }
            let (_, z) = c.as_mut()?;
            if hopeless(z) {
                return None;
            }
            z.compress(raw).ok()
        })
    };
    match compressed {
        Some(z) if z.len() < raw.len() - raw.len() / 16 => PreparedRecord {
            hash,
            kind,
            raw_len: raw.len() as u32,
            stored: z,
            compressed: true,
        },
        _ => PreparedRecord {
            hash,
            kind,
            raw_len: raw.len() as u32,
            stored: raw.to_vec(),
            compressed: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_seal_index_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(&dir.path().join("shards"), &dir.path().join("idx")).unwrap();
        let sink = store.sink();
        let a = vec![7u8; 100_000];
        let b: Vec<u8> = (0..50_000u32)
            .map(|i| i.wrapping_mul(2654435761) as u8)
            .collect();
        let recs = vec![
            prepare(Hash::of(&a), EntryKind::Chunk, &a, 3),
            prepare(Hash::of(&b), EntryKind::Chunk, &b, 3),
            prepare(Hash::of(&a), EntryKind::Chunk, &a, 3),
        ];
        sink.put(recs).unwrap();
        let stats = sink.finish().unwrap();
        assert_eq!(stats.new_records, 2);
        assert_eq!(stats.shards, 1);
        assert_eq!(store.read(&Hash::of(&a), "chunk").unwrap(), a);
        assert_eq!(store.read(&Hash::of(&b), "chunk").unwrap(), b);
        let shards = store.shard_files().unwrap();
        assert_eq!(shards.len(), 1);
        assert_eq!(
            store.shard(&shards[0]).unwrap().hash_file().unwrap(),
            shards[0]
        );
        // A second session stores nothing new.
        let sink = store.sink();
        sink.put(vec![prepare(Hash::of(&a), EntryKind::Chunk, &a, 3)])
            .unwrap();
        assert_eq!(sink.finish().unwrap().new_records, 0);
    }

    #[test]
    fn flipped_byte_is_caught_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(&dir.path().join("shards"), &dir.path().join("idx")).unwrap();
        let a: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        let sink = store.sink();
        sink.put(vec![prepare(Hash::of(&a), EntryKind::Chunk, &a, 0)])
            .unwrap();
        sink.finish().unwrap();
        let id = store.shard_files().unwrap()[0];
        let p = shard_path(store.dir(), &id);
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[100] ^= 1;
        std::fs::write(&p, bytes).unwrap();
        let err = store.read(&Hash::of(&a), "chunk").unwrap_err().to_string();
        assert!(err.contains(&id.to_hex()), "{err}");
    }

    /// A store poisoned the way issue 21 showed (a forged copy indexed first, the honest
    /// shard indexed later owning nothing): reads fail on the forged copy; indexing the
    /// honest shard again (what a re-fetch does) records its copies as alternates, and
    /// reads fall back to them. Dropping the forged shard's copies leaves the record
    /// readable through its good copy once promoted.
    #[test]
    fn a_forged_copy_indexed_first_falls_back_to_the_honest_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(&dir.path().join("shards"), &dir.path().join("idx")).unwrap();
        let a: Vec<u8> = (0..90_000u32).map(|i| (i * 7 % 253) as u8).collect();
        let ha = Hash::of(&a);
        let sink = store.sink();
        sink.put(vec![prepare(ha, EntryKind::Chunk, &a, 3)])
            .unwrap();
        sink.finish().unwrap();
        let honest_id = store.shard_files().unwrap()[0];
        let honest_table = store.shard(&honest_id).unwrap().table().unwrap();
        let honest = SealedShard {
            id: honest_id,
            size: std::fs::metadata(shard_path(store.dir(), &honest_id))
                .unwrap()
                .len(),
            entries: honest_table.clone(),
        };

        let mut w = ShardWriter::create(&dir.path().join("shards/tmp")).unwrap();
        w.append(ha, EntryKind::Chunk, 90_000, &vec![0xAB; 90_000], false)
            .unwrap();
        let forged = w.seal(store.dir()).unwrap().unwrap();
        // The old behaviour: the forged shard owns the record, no alternate is known.
        store.reindex_shard(&forged).unwrap();
        let err = store.read(&ha, "chunk").unwrap_err().to_string();
        assert!(err.contains(&forged.id.to_hex()), "{err}");

        // Re-fetching the honest shard indexes it again: its copy becomes an alternate.
        store.index_shard(&honest).unwrap();
        assert_eq!(store.locate(&ha).unwrap().unwrap().shard, forged.id);
        assert_eq!(store.alternates(&ha).unwrap().len(), 1);
        assert_eq!(store.read(&ha, "chunk").unwrap(), a);

        // Promoting the good copy makes it the indexed one; forgetting the forged shard
        // leaves nothing pointing into it.
        let good = store.alternates(&ha).unwrap()[0];
        store.promote(&ha, &good).unwrap();
        assert_eq!(store.locate(&ha).unwrap(), Some(good));
        assert!(store.alternates(&ha).unwrap().is_empty());
        store.index_shard(&forged).unwrap();
        assert_eq!(store.alternates(&ha).unwrap().len(), 1);
        store.forget(&[], &[(forged.id, &forged.entries)]).unwrap();
        assert!(store.alternates(&ha).unwrap().is_empty());
        assert_eq!(store.read(&ha, "chunk").unwrap(), a);
    }

    /// An index written before alternates were kept is marked incomplete when first
    /// opened for writing, and `complete_alternates` learns the copies from the tables.
    #[test]
    fn an_old_index_learns_its_alternates() {
        let dir = tempfile::tempdir().unwrap();
        let (shards, idx) = (dir.path().join("shards"), dir.path().join("idx"));
        let store = ChunkStore::open(&shards, &idx).unwrap();
        assert!(store.alternates_complete().unwrap());
        let a = vec![9u8; 50_000];
        let ha = Hash::of(&a);
        for n in 0..2u8 {
            // Two shards holding the same record (as two datasets' shards would).
            let mut w = ShardWriter::create(&shards.join("tmp")).unwrap();
            let r = prepare(ha, EntryKind::Chunk, &a, 3);
            w.append(ha, r.kind, r.raw_len, &r.stored, r.compressed)
                .unwrap();
            w.append(Hash::of(&[n]), EntryKind::Chunk, 1, &[n], false)
                .unwrap();
            let sealed = w.seal(&shards).unwrap().unwrap();
            store.index_shard(&sealed).unwrap();
        }
        assert_eq!(store.alternates(&ha).unwrap().len(), 1);
        // Make it look old: no alternates table.
        {
            let IndexDb::Writable(db) = &store.db else {
                unreachable!()
            };
            let txn = db.begin_write().unwrap();
            txn.delete_multimap_table(ALTERNATES).unwrap();
            txn.commit().unwrap();
        }
        drop(store);
        let store = ChunkStore::open(&shards, &idx).unwrap();
        assert!(!store.alternates_complete().unwrap());
        assert!(store.alternates(&ha).unwrap().is_empty());
        assert_eq!(store.complete_alternates().unwrap(), 1);
        assert!(store.alternates_complete().unwrap());
        assert_eq!(store.alternates(&ha).unwrap().len(), 1);
    }

    /// Readers share the index (two `serve` connections, `serve` beside a local `diff`);
    /// a writer waits until they are gone; a reader finds a missing index empty.
    #[test]
    fn readers_share_the_index_and_a_writer_waits_for_them() {
        let dir = tempfile::tempdir().unwrap();
        let (shards, idx) = (dir.path().join("shards"), dir.path().join("idx"));
        let empty = ChunkStore::open_read_only(&shards, &idx).unwrap();
        assert_eq!(empty.record_count().unwrap(), 0);
        assert!(!empty.is_writable());
        drop(empty);
        let a = vec![3u8; 20_000];
        {
            let store = ChunkStore::open(&shards, &idx).unwrap();
            let sink = store.sink();
            sink.put(vec![prepare(Hash::of(&a), EntryKind::Chunk, &a, 3)])
                .unwrap();
            sink.finish().unwrap();
        }
        let r1 = ChunkStore::open_read_only(&shards, &idx).unwrap();
        let r2 = ChunkStore::open_read_only(&shards, &idx).unwrap();
        assert_eq!(r1.read(&Hash::of(&a), "chunk").unwrap(), a);
        assert_eq!(r2.read(&Hash::of(&a), "chunk").unwrap(), a);
        let sink = r1.sink();
        let b = vec![4u8; 1000];
        sink.put(vec![prepare(Hash::of(&b), EntryKind::Chunk, &b, 3)])
            .unwrap();
        let err = sink.finish().unwrap_err().to_string();
        assert!(err.contains("read-only"), "{err}");
        let writer = std::thread::spawn({
            let (shards, idx) = (shards.clone(), idx.clone());
            move || ChunkStore::open(&shards, &idx).map(|s| s.is_writable())
        });
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(
            !writer.is_finished(),
            "a writer opened the index beside two readers"
        );
        drop((r1, r2));
        assert!(writer.join().unwrap().unwrap());
    }
}
