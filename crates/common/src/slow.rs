//! Slow clients: every request body is read under two clocks ([`crate::server::ClientLimits`]).
//!
//! - **Idle**: while the server waits for more of the body, the client may stay silent at
//!   most `body_idle_timeout`. Time the server spends elsewhere (encoding what it has,
//!   writing to the store) does not count: the clock runs only while a read is waiting.
//! - **Total**: the whole body must arrive within `body_timeout` of the request's start.
//!
//! Either failing ends the body with an error that names the limit; the handler reading
//! it fails the request without applying anything (as for a body that broke off), and the
//! connection is closed. A request that never reads its body is unaffected.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::server::ClientLimits;

/// Wraps every request body of `router` in the clocks of `limits`.
pub fn limit_bodies(router: Router, limits: ClientLimits) -> Router {
    router.layer(axum::middleware::map_request(move |req: Request| {
        let limits = limits;
        async move { req.map(|body| Body::new(TimedBody::new(body, limits))) }
    }))
}

/// Why a body was cut off.
#[derive(Debug, thiserror::Error)]
pub enum SlowBody {
    #[error(
        "the client sent no request body bytes for {0:?} ([gateway] body_idle_timeout); \
         nothing was applied"
    )]
    Idle(Duration),
    #[error(
        "the request body took longer than {0:?} ([gateway] body_timeout); nothing was applied"
    )]
    Total(Duration),
}

/// A request body under an idle clock and an overall deadline.
pub struct TimedBody {
    inner: Body,
    idle: Duration,
    /// Armed when a read starts waiting; `None` between reads.
    idle_timer: Option<Pin<Box<Sleep>>>,
    total: Option<(Duration, Pin<Box<Sleep>>)>,
}

impl TimedBody {
    pub fn new(inner: Body, limits: ClientLimits) -> TimedBody {
        TimedBody {
            inner,
            idle: limits.body_idle_timeout,
            idle_timer: None,
            total: limits
                .body_timeout
                .map(|d| (d, Box::pin(tokio::time::sleep(d)))),
        }
    }
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.idle_timer = None;
            return Poll::Ready(frame);
        }
        if let Some((limit, deadline)) = &mut this.total
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Some(Err(axum::Error::new(SlowBody::Total(*limit)))));
        }
        let idle = this.idle;
        let timer = this
            .idle_timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now() + idle)));
        if timer.as_mut().poll(cx).is_ready() {
            this.idle_timer = None;
            return Poll::Ready(Some(Err(axum::Error::new(SlowBody::Idle(idle)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;

    fn limits(idle_ms: u64, total_ms: Option<u64>) -> ClientLimits {
        ClientLimits {
            header_read_timeout: Duration::from_secs(1),
            body_idle_timeout: Duration::from_millis(idle_ms),
            body_timeout: total_ms.map(Duration::from_millis),
        }
    }

    /// A client body of `left` one-byte chunks, each after a pause of `gap`.
    struct Trickle {
        left: usize,
        gap: Duration,
        pause: Option<Pin<Box<Sleep>>>,
    }

    impl http_body::Body for Trickle {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            let this = self.get_mut();
            if this.left == 0 {
                return Poll::Ready(None);
            }
            let gap = this.gap;
            let pause = this
                .pause
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(gap)));
            if pause.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.pause = None;
            this.left -= 1;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"x")))))
        }
    }

    fn trickle(chunks: usize, gap_ms: u64) -> Body {
        Body::new(Trickle {
            left: chunks,
            gap: Duration::from_millis(gap_ms),
            pause: None,
        })
    }

    async fn next(body: &mut TimedBody) -> Option<Result<usize, String>> {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await?;
        Some(
            frame
                .map(|f| f.into_data().map_or(0, |d| d.len()))
                .map_err(|e| e.to_string()),
        )
    }

    /// Reads the whole body, pausing `busy` after each chunk (the handler's own work).
    async fn read_all(mut body: TimedBody, busy: Duration) -> Result<usize, String> {
        let mut got = 0;
        while let Some(n) = next(&mut body).await {
            got += n?;
            tokio::time::sleep(busy).await;
        }
        Ok(got)
    }

    #[tokio::test]
    async fn a_body_that_keeps_moving_is_read_whole() {
        let body = TimedBody::new(trickle(20, 20), limits(500, None));
        assert_eq!(read_all(body, Duration::ZERO).await, Ok(20));
    }

    #[tokio::test]
    async fn a_silent_client_is_cut_off_naming_the_limit() {
        let body = TimedBody::new(trickle(3, 3000), limits(300, None));
        let err = read_all(body, Duration::ZERO).await.unwrap_err();
        assert!(err.contains("body_idle_timeout"), "{err}");
    }

    #[tokio::test]
    async fn a_trickle_past_the_total_is_cut_off_naming_the_limit() {
        let body = TimedBody::new(trickle(200, 20), limits(500, Some(600)));
        let err = read_all(body, Duration::ZERO).await.unwrap_err();
        assert!(err.contains("body_timeout"), "{err}");
    }

    #[tokio::test]
    async fn time_the_server_spends_elsewhere_is_not_idle() {
        // The handler is busy (e.g. writing to the store) far past the idle limit after
        // each chunk; the client itself is never slow.
        let body = TimedBody::new(trickle(3, 10), limits(300, None));
        assert_eq!(read_all(body, Duration::from_millis(800)).await, Ok(3));
    }
}
