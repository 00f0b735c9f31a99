//! Bounded parallelism over hosts, results kept in host order.

use futures_util::stream::{self, StreamExt};
use std::future::Future;

/// Runs `f` on every item with at most `limit` at once; the results come
/// back in the items' order.
pub(crate) async fn map<T, R, F, Fut>(items: Vec<T>, limit: usize, f: F) -> Vec<R>
where
    F: Fn(usize, T) -> Fut,
    Fut: Future<Output = R>,
{
    let mut out: Vec<(usize, R)> = stream::iter(items.into_iter().enumerate())
        .map(|(i, t)| {
            let fut = f(i, t);
            async move { (i, fut.await) }
        })
        .buffer_unordered(limit.max(1))
        .collect()
        .await;
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}
