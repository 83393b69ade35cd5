//! Tables read once from streams of batches that come from outside the
//! engine (a database's rows as they arrive), so that writing them keeps
//! memory flat however many rows there are.

use std::sync::{Arc, Mutex};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::DataFrame;
use futures::StreamExt;
use futures::stream::BoxStream;

use super::Engine;
use crate::base::error::{Error, Result};

/// One partition's stream, handed out to the first plan that executes it.
struct OneShot {
    schema: SchemaRef,
    stream: Mutex<Option<BoxStream<'static, Result<RecordBatch>>>>,
}

impl std::fmt::Debug for OneShot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OneShot")
    }
}

impl PartitionStream for OneShot {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let taken = self.stream.lock().ok().and_then(|mut s| s.take());
        let stream = match taken {
            Some(s) => s.map(|b| b.map_err(Into::into)).boxed(),
            None => futures::stream::once(async {
                Err(Error::failed("a stream of rows was read twice").into())
            })
            .boxed(),
        };
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

impl Engine {
    /// A DataFrame over `streams` (one partition each), readable once: a
    /// stream's error comes out of the query that reads it unchanged.
    pub fn read_batches(
        &self,
        schema: SchemaRef,
        streams: Vec<BoxStream<'static, Result<RecordBatch>>>,
    ) -> Result<DataFrame> {
        let partitions = streams
            .into_iter()
            .map(|s| {
                Arc::new(OneShot {
                    schema: schema.clone(),
                    stream: Mutex::new(Some(s)),
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        let table = StreamingTable::try_new(schema, partitions)?;
        Ok(self.ctx.read_table(Arc::new(table))?)
    }
}
