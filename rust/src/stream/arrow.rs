//! Log lines as Apache Arrow record batches: `job_id`, `seq`, `line`, built from the queue's batches.
//!
//! The consumer copies the lines of the batches it takes from the queue (the same batches
//! `.batches()` turns into Python lists) into one Arrow batch: the text in one copy per queue
//! batch, offsets, sequence numbers and dictionary keys in flat vectors. No Python object is
//! made per line; the arrays are built with arrow-rs's checked constructors.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, DictionaryArray, Int32Array, LargeStringArray, RecordBatch, StringArray, UInt64Array};
use arrow_buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};

use crate::stream::queue::Batch;

/// When a batch is handed out.
#[derive(Debug, Clone, Copy)]
pub struct Sizing {
    /// Rows per batch at most.
    pub max_rows: usize,
    /// Bytes of line text per batch: a batch is handed out once it holds about this much.
    pub max_bytes: usize,
    /// How long the first row of a batch waits for more before the batch is handed out anyway.
    pub max_delay: Duration,
}

impl Default for Sizing {
    fn default() -> Self {
        Self { max_rows: 32_768, max_bytes: 4 << 20, max_delay: Duration::from_millis(100) }
    }
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let job = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    Arc::new(Schema::new(vec![
        Field::new("job_id", job, false),
        Field::new("seq", DataType::UInt64, false),
        Field::new("line", DataType::LargeUtf8, false),
    ]))
});

/// The schema of every batch: `job_id` (dictionary of `int32` to `string`), `seq` (`uint64`), `line` (`large_string`).
pub fn schema() -> SchemaRef {
    Arc::clone(&SCHEMA)
}

/// One Arrow batch being filled.
#[derive(Default)]
pub struct Builder {
    /// Dictionary of this batch's job ids, and the key of each stream (by its queue key) in it.
    jobs: Vec<Arc<str>>,
    keys_of: HashMap<u64, i32>,
    keys: Vec<i32>,
    seqs: Vec<u64>,
    /// Line ends in `text` (the start offset 0 is implied).
    ends: Vec<i64>,
    text: Vec<u8>,
    /// When the first row came.
    started: Option<Instant>,
}

impl Builder {
    /// Rows held.
    pub fn rows(&self) -> usize {
        self.seqs.len()
    }

    /// Whether the batch is as large as `sizing` lets it be.
    pub fn full(&self, sizing: &Sizing) -> bool {
        self.rows() >= sizing.max_rows || self.text.len() >= sizing.max_bytes
    }

    /// How long until the batch is due (its first row has waited `max_delay`); `None` when empty.
    pub fn due_in(&self, sizing: &Sizing) -> Option<Duration> {
        self.started.map(|t| sizing.max_delay.saturating_sub(t.elapsed()))
    }

    /// Appends lines `from..` of `batch`, stream `key` of job `job`, numbered from `seq`, as many
    /// as `sizing` leaves room for (at least one); returns how many were taken.
    pub fn append(&mut self, key: u64, job: &Arc<str>, seq: u64, batch: &Batch, from: usize, sizing: &Sizing) -> usize {
        if from >= batch.len() {
            return 0;
        }
        let room_rows = sizing.max_rows.saturating_sub(self.rows()).max(1);
        let room_bytes = sizing.max_bytes.saturating_sub(self.text.len());
        let (text, ends) = (batch.text().as_bytes(), batch.ends());
        let start = if from == 0 { 0 } else { ends[from - 1] };
        let mut to = (from + room_rows).min(ends.len());
        // Fewer lines when their text would pass the byte bound (but at least one line).
        if ends[to - 1] - start > room_bytes {
            to = from + 1 + ends[from + 1..to].partition_point(|&end| end - start <= room_bytes);
        }
        let job_key = self.key_of(key, job);
        let base = self.text.len() as i64 - start as i64;
        self.text.extend_from_slice(&text[start..ends[to - 1]]);
        self.ends.extend(ends[from..to].iter().map(|&end| base + end as i64));
        self.seqs.extend(seq..seq + (to - from) as u64);
        self.keys.resize(self.keys.len() + (to - from), job_key);
        self.started.get_or_insert_with(Instant::now);
        to - from
    }

    fn key_of(&mut self, key: u64, job: &Arc<str>) -> i32 {
        if let Some(&k) = self.keys_of.get(&key) {
            return k;
        }
        let k = i32::try_from(self.jobs.len()).unwrap_or(i32::MAX);
        self.jobs.push(Arc::clone(job));
        self.keys_of.insert(key, k);
        k
    }

    /// The batch built so far (`None` when empty); the builder starts over, empty.
    pub fn finish(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        if self.seqs.is_empty() {
            return Ok(None);
        }
        let rows = self.rows();
        let full = std::mem::take(self);
        self.text.reserve(full.text.capacity());
        self.ends.reserve(rows);
        self.seqs.reserve(rows);
        self.keys.reserve(rows);
        let values = StringArray::from_iter_values(full.jobs.iter().map(|j| &**j));
        let job_id = DictionaryArray::<Int32Type>::try_new(Int32Array::from(full.keys), Arc::new(values))?;
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0_i64);
        offsets.extend(full.ends);
        let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
        let line = LargeStringArray::try_new(offsets, Buffer::from_vec(full.text), None)?;
        let columns: Vec<ArrayRef> = vec![Arc::new(job_id), Arc::new(UInt64Array::from(full.seqs)), Arc::new(line)];
        RecordBatch::try_new(schema(), columns).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;

    fn batch(lines: &[&str]) -> Batch {
        let mut b = Batch::default();
        lines.iter().for_each(|l| b.push(l));
        b
    }

    fn lines(rb: &RecordBatch) -> Vec<(String, u64, String)> {
        let job = rb.column(0).as_any().downcast_ref::<DictionaryArray<Int32Type>>().unwrap();
        let names = job.values().as_any().downcast_ref::<StringArray>().unwrap();
        let seq = rb.column(1).as_any().downcast_ref::<UInt64Array>().unwrap();
        let line = rb.column(2).as_any().downcast_ref::<LargeStringArray>().unwrap();
        (0..rb.num_rows())
            .map(|i| {
                let k = job.keys().value(i) as usize;
                (names.value(k).to_owned(), seq.value(i), line.value(i).to_owned())
            })
            .collect()
    }

    #[test]
    fn rows_keep_job_seq_and_text() {
        let sizing = Sizing::default();
        let mut b = Builder::default();
        let (a, z): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("z"));
        assert_eq!(b.append(1, &a, 0, &batch(&["x", "ééé", ""]), 0, &sizing), 3);
        assert_eq!(b.append(2, &z, 7, &batch(&["skip", "y"]), 1, &sizing), 1);
        assert_eq!(b.append(1, &a, 3, &batch(&["w"]), 0, &sizing), 1);
        let rb = b.finish().unwrap().unwrap();
        let want = [("a", 0, "x"), ("a", 1, "ééé"), ("a", 2, ""), ("z", 7, "y"), ("a", 3, "w")];
        let want: Vec<_> = want.iter().map(|(j, s, l)| ((*j).to_owned(), *s, (*l).to_owned())).collect();
        assert_eq!(lines(&rb), want);
        assert_eq!(rb.column(0).as_any().downcast_ref::<DictionaryArray<Int32Type>>().unwrap().values().len(), 2);
        assert!(b.finish().unwrap().is_none(), "the builder starts over");
    }

    #[test]
    fn rows_and_bytes_bound_a_batch() {
        let job: Arc<str> = Arc::from("j");
        let sizing = Sizing { max_rows: 3, max_bytes: 5, ..Sizing::default() };
        let mut b = Builder::default();
        assert_eq!(b.append(0, &job, 0, &batch(&["ab", "cd", "ef", "gh"]), 0, &sizing), 2, "4 of 5 bytes");
        assert!(!b.full(&sizing));
        assert_eq!(b.append(0, &job, 2, &batch(&["ab", "cd", "ef", "gh"]), 2, &sizing), 1, "one line at least");
        assert!(b.full(&sizing));
        let sizing = Sizing { max_rows: 2, max_bytes: 100, ..Sizing::default() };
        let mut b = Builder::default();
        assert_eq!(b.append(0, &job, 0, &batch(&["a", "b", "c"]), 0, &sizing), 2);
        assert!(b.full(&sizing));
        assert!(b.due_in(&sizing).is_some());
    }
}
