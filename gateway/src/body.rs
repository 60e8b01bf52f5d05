//! Response bodies: file bytes read on a blocking thread and streamed in pieces of
//! [`PIECE`] bytes, at most [`QUEUED`] pieces ahead of the client, so a body of any size
//! holds a few MiB at most. The first piece is read before the response is answered, so a
//! file that fails verification gets an error status instead of headers; a piece that
//! fails later ends the body with an error, which makes hyper abort the connection (the
//! client sees a short body, never a wrong byte).

use std::convert::Infallible;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use colony_store::StoreError;
use futures::Stream;
use http_body::Frame;
use http_body_util::{BodyExt, Empty, Full, StreamBody, combinators::UnsyncBoxBody};
use tokio::sync::mpsc;

use crate::revisions::Opened;

/// Bytes read and sent at a time.
pub(crate) const PIECE: usize = 1 << 20;
/// Pieces read ahead of what the client has taken.
const QUEUED: usize = 2;

/// Errors that end a body (and with it the connection).
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of every response.
pub(crate) type Body = UnsyncBoxBody<Bytes, BoxError>;

/// An empty body.
pub(crate) fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|e: Infallible| match e {})
        .boxed_unsync()
}

/// A body of `bytes`.
pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|e: Infallible| match e {})
        .boxed_unsync()
}

/// A read that failed after the first piece was sent.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct ReadFailed(String);

/// The pieces of one range of one file, in order.
pub(crate) struct Pieces {
    first: Option<Bytes>,
    rx: Option<mpsc::Receiver<Result<Bytes, StoreError>>>,
}

impl Pieces {
    /// Starts reading `range` of file `path` (already checked to exist) and waits for
    /// the first piece. An error before any byte is returned as such.
    pub(crate) async fn start(
        opened: Arc<Opened>,
        path: String,
        range: Range<u64>,
    ) -> Result<Pieces, StoreError> {
        if range.is_empty() {
            return Ok(Pieces {
                first: None,
                rx: None,
            });
        }
        let (tx, mut rx) = mpsc::channel(QUEUED);
        tokio::task::spawn_blocking(move || read_pieces(&opened, &path, range, &tx));
        match rx.recv().await {
            Some(Ok(first)) => Ok(Pieces {
                first: Some(first),
                rx: Some(rx),
            }),
            Some(Err(e)) => Err(e),
            None => Err(StoreError::Refused(
                "the read stopped before any byte".into(),
            )),
        }
    }

    /// A response body of these pieces.
    pub(crate) fn into_body(self) -> Body {
        StreamBody::new(futures::StreamExt::map(self, |r| r.map(Frame::data)))
            .map_err(|e: ReadFailed| -> BoxError { Box::new(e) })
            .boxed_unsync()
    }
}

impl Stream for Pieces {
    type Item = Result<Bytes, ReadFailed>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        let Some(rx) = self.rx.as_mut() else {
            return Poll::Ready(None);
        };
        match rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(b))) => Poll::Ready(Some(Ok(b))),
            Poll::Ready(Some(Err(e))) => {
                eprintln!("colony gateway: aborting a response: {e}");
                self.rx = None;
                Poll::Ready(Some(Err(ReadFailed(e.to_string()))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Reads `range` of `path` piece by piece into `tx` until done, failed, or the receiver
/// is gone (the client went away).
fn read_pieces(
    opened: &Opened,
    path: &str,
    range: Range<u64>,
    tx: &mpsc::Sender<Result<Bytes, StoreError>>,
) {
    let mut at = range.start;
    while at < range.end {
        let want = (range.end - at).min(PIECE as u64) as usize;
        let mut buf = vec![0u8; want];
        let piece = match opened.reader.read_into(path, at, &mut buf) {
            Ok(n) if n == want => Ok(Bytes::from(buf)),
            Ok(n) => Err(StoreError::Refused(format!(
                "{path}: the file ended after {} bytes, before the {} its listing promises",
                at + n as u64,
                range.end
            ))),
            Err(e) => Err(e),
        };
        let failed = piece.is_err();
        if tx.blocking_send(piece).is_err() || failed {
            return;
        }
        at += want as u64;
    }
}
