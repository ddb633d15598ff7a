//! The endpoints for the blocking servers, server-rouille and server-std: the request's own
//! thread makes the first upstream call and each other call of `/multiple` blocks a
//! thread of a [`CachedPool`], one blocked thread per call in flight, as the blocking
//! model means. `App` is the whole handler both serve, so what differs between them is
//! only how a request reaches it.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use super::{Endpoint, route};
use crate::Config;
use crate::cached_pool::CachedPool;
use crate::query::{MultipleQuery, SingleQuery};
use crate::reply::{Answer, BenchError, ProxyReply, sum_calls};
use crate::upstream::{Upstream, UpstreamError};

/// The state and handler of a blocking server, shared by all its threads.
#[cfg(feature = "ureq")]
pub struct App {
    config: Config,
    /// The one ureq agent of the process: every thread shares it, and its pool keeps the
    /// upstream connections alive between calls.
    upstream: crate::ureq_client::UreqUpstream,
    /// The threads `/multiple`'s calls after the first run on.
    fanout: CachedPool,
}

#[cfg(feature = "ureq")]
impl App {
    /// The app of a server with up to `threads` request threads calling upstream at once,
    /// whose `/multiple` runs its other calls on a pool of at most `fanout_threads` threads
    /// named `fanout_name`. Fails only if the upstream's TLS config cannot be built.
    pub fn new(config: Config, threads: usize, fanout_name: &str, fanout_threads: usize) -> std::io::Result<Arc<Self>> {
        let upstream = crate::ureq_client::UreqUpstream::new(&config, Some(threads))?;
        let fanout = CachedPool::new(fanout_name, crate::cached_pool::THREAD_KEEP_ALIVE, fanout_threads);
        Ok(Arc::new(Self { config, upstream, fanout }))
    }

    /// The whole request handler but for the HTTP: routes `method` and `target` (path and
    /// raw query), runs the endpoint, answers, and logs the request ([`RequestLog`]).
    /// Never panics.
    ///
    /// [`RequestLog`]: crate::request_log::RequestLog
    pub fn answer(self: &Arc<Self>, method: &str, target: &str) -> Answer {
        let log = crate::request_log::RequestLog::begin(method, target);
        let app = Arc::clone(self);
        let call = move |url: &str| app.upstream.call(url);
        let answer = answer_blocking(method, target, &self.config, &self.fanout, call);
        log.end(answer.status);
        answer
    }
}

/// `App::answer` over any client: routes `method` and `target` (path and raw query), runs
/// the endpoint with `call` on the calling thread and, for `/multiple`'s other calls, on
/// `pool`, and answers.
pub fn answer_blocking<F>(method: &str, target: &str, config: &Config, pool: &CachedPool, call: F) -> Answer
where
    F: Fn(&str) -> Result<u64, UpstreamError> + Clone + Send + 'static,
{
    let target = match origin_form(target) {
        Ok(target) => target,
        Err(reason) => return Answer::error(400, reason),
    };
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    Answer::from(match route(method, path) {
        Ok(Endpoint::Health) => return Answer::health(),
        Ok(Endpoint::Single) => single_blocking(query, &config.upstream, call),
        Ok(Endpoint::Multiple) => multiple_blocking(query, config.fanout, &config.upstream, pool, call),
        Err(e) => Err(e),
    })
}

/// The path and query of a request-target, which both blocking servers' HTTP layers hand
/// over as sent: origin-form as it is, absolute-form (`http://host/path?query`) without its
/// scheme and authority, since a server must accept it (RFC 9112, 3.2.2). Anything else
/// (authority-form, as `CONNECT host:port` sends; asterisk-form, `OPTIONS *`) names no
/// resource here, and a raw `#` is not a request-target character at all: 400, whose
/// reason this returns.
fn origin_form(target: &str) -> Result<&str, &'static str> {
    if target.contains('#') {
        return Err("'#' is not allowed in a request-target");
    }
    if target.starts_with('/') {
        return Ok(target);
    }
    let scheme = ["http://", "https://"]
        .into_iter()
        .find(|scheme| target.get(..scheme.len()).is_some_and(|prefix| prefix.eq_ignore_ascii_case(scheme)));
    let Some(scheme) = scheme else {
        return Err("request-target must be origin-form or absolute-form");
    };
    let rest = &target[scheme.len()..];
    // The authority ends at the path, or at the query when there is no path.
    Ok(rest.find(['/', '?']).map_or("/", |at| &rest[at..]))
}

/// Blocking `GET /single`, for thread-per-request servers.
fn single_blocking<F>(query: Option<&str>, upstream: &Upstream, call: F) -> Result<ProxyReply, BenchError>
where
    F: FnOnce(&str) -> Result<u64, UpstreamError>,
{
    let q = SingleQuery::parse(query)?;
    sum_calls([call(&upstream.sleep_url(q.ms))])
}

/// Blocking `GET /multiple`: the `n` calls run at once, the request's own thread making the
/// first and `pool` threads the others, and all are waited for.
///
/// `pool` rather than a scoped thread per call: see [`CachedPool`] for what a spawn costs.
/// The `n - 1` threads are taken all at once or not at all: without them the request
/// answers 503 ([`BenchError::NoThread`]) at once and makes no call. The outcomes keep the
/// calls' order, so the first failing call decides the status, as in [`super::multiple`].
fn multiple_blocking<F>(
    query: Option<&str>,
    default_fanout: usize,
    upstream: &Upstream,
    pool: &CachedPool,
    call: F,
) -> Result<ProxyReply, BenchError>
where
    F: Fn(&str) -> Result<u64, UpstreamError> + Clone + Send + 'static,
{
    let q = MultipleQuery::parse(query, default_fanout)?;
    let url: Arc<str> = upstream.sleep_url(q.ms).into();
    let batch = Arc::new(Batch::new(q.n));
    let jobs = (1..q.n)
        .map(|i| {
            let (url, call, slot) = (Arc::clone(&url), call.clone(), Arc::clone(&batch));
            // Every slot must be filled, or the request would wait forever: hence the
            // panic guard.
            Box::new(move || slot.fill(i, guarded(&call, &url))) as Box<dyn FnOnce() + Send>
        })
        .collect();
    // Refused: no call was handed out (or, when the OS refused a thread part-way, the ones
    // that were finish on their own and fill slots nobody waits for).
    pool.execute_all(jobs)?;
    batch.fill(0, guarded(&call, &url));
    sum_calls(batch.wait())
}

/// One blocking call, where a panicking client is a broken upstream exchange (502), not a
/// crashed server.
fn guarded<F>(call: &F, url: &str) -> Result<u64, UpstreamError>
where
    F: Fn(&str) -> Result<u64, UpstreamError>,
{
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| call(url)))
        .unwrap_or_else(|_| Err(UpstreamError::Broken("client panicked".into())))
}

/// The outcomes of one fan-out, filled from several threads; the waiter wakes once, when
/// the last arrives (a channel would wake it for each).
struct Batch {
    slots: Mutex<Slots>,
    done: Condvar,
}

struct Slots {
    outcomes: Vec<Option<Result<u64, UpstreamError>>>,
    missing: usize,
}

impl Batch {
    fn new(n: usize) -> Self {
        Self { slots: Mutex::new(Slots { outcomes: vec![None; n], missing: n }), done: Condvar::new() }
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        // Nothing panics while holding it; a poisoned lock still holds whole outcomes.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Fills slot `i` (each exactly once).
    fn fill(&self, i: usize, outcome: Result<u64, UpstreamError>) {
        let mut slots = self.lock();
        slots.outcomes[i] = Some(outcome);
        slots.missing -= 1;
        if slots.missing == 0 {
            self.done.notify_one();
        }
    }

    /// Waits until every slot is filled; the outcomes in call order.
    fn wait(&self) -> Vec<Result<u64, UpstreamError>> {
        let mut slots = self.lock();
        while slots.missing > 0 {
            slots = self.done.wait(slots).unwrap_or_else(PoisonError::into_inner);
        }
        std::mem::take(&mut slots.outcomes).into_iter().flatten().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::MAX_FANOUT_THREADS;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    fn pool() -> CachedPool {
        CachedPool::new("test-fanout", Duration::from_secs(10), MAX_FANOUT_THREADS)
    }

    fn upstream() -> Upstream {
        Upstream::parse("http://127.0.0.1:9").unwrap()
    }

    #[test]
    fn origin_form_routes_absolute_form_by_its_path_and_refuses_the_other_forms() {
        assert_eq!(origin_form("/health?x=1"), Ok("/health?x=1"));
        assert_eq!(origin_form("http://other/health"), Ok("/health"));
        assert_eq!(origin_form("HTTP://other:8080/single?ms=5"), Ok("/single?ms=5"));
        assert_eq!(origin_form("https://other?ms=5"), Ok("?ms=5"));
        assert_eq!(origin_form("http://other"), Ok("/"));
        for bad in ["127.0.0.1:22", "*", "/health#x", "http://other/health#x", "health", ""] {
            assert!(origin_form(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn multiple_blocking_runs_calls_at_once() {
        // Each call returns once all 8 are under way: calls made one after another never get
        // there, and panic (a 502) after `eventually`'s deadline.
        let begun = Arc::new(AtomicUsize::new(0));
        let reply = multiple_blocking(Some("n=8&ms=5"), 5, &upstream(), &pool(), move |url| {
            assert_eq!(url, "http://127.0.0.1:9/sleep?ms=5");
            begun.fetch_add(1, Ordering::SeqCst);
            crate::cached_pool::eventually(|| begun.load(Ordering::SeqCst) == 8);
            Ok(10)
        });
        assert_eq!(reply, Ok(ProxyReply { calls: 8, bytes: 80 }), "the 8 calls were not under way at once");
    }

    #[test]
    fn multiple_blocking_sees_every_call_through_and_reports_a_failure() {
        let made = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&made);
        let reply = multiple_blocking(None, 4, &upstream(), &pool(), move |_| {
            if counter.fetch_add(1, Ordering::SeqCst) == 0 { Err(UpstreamError::Status(500)) } else { Ok(1) }
        });
        assert_eq!(reply, Err(BenchError::Upstream(UpstreamError::Status(500))));
        assert_eq!(made.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn multiple_blocking_reports_a_panicking_call_as_broken_and_returns() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let reply = multiple_blocking(Some("n=3"), 5, &upstream(), &pool(), move |_| {
            if counter.fetch_add(1, Ordering::SeqCst) == 1 { panic!("client bug") } else { Ok(1) }
        });
        assert_eq!(reply, Err(BenchError::Upstream(UpstreamError::Broken("client panicked".into()))));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn multiple_blocking_reuses_pool_threads_across_requests() {
        let pool = pool();
        for _ in 0..20 {
            let reply = multiple_blocking(Some("n=4"), 5, &upstream(), &pool, |_| Ok(2));
            assert_eq!(reply, Ok(ProxyReply { calls: 4, bytes: 8 }));
            crate::cached_pool::eventually(|| pool.idle() == pool.threads());
        }
        // 3 helpers serve every request: a thread per call would be 60.
        assert_eq!(pool.threads(), 3);
    }

    #[test]
    fn multiple_blocking_without_threads_for_its_calls_is_503_and_calls_nothing() {
        let pool = CachedPool::new("test-fanout", Duration::from_secs(10), 3);
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let call = move |_: &str| {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(1)
        };
        // n=5 needs 4 pool threads of the 3.
        let reply = multiple_blocking(Some("n=5"), 5, &upstream(), &pool, call.clone());
        assert_eq!(reply, Err(BenchError::NoThread(crate::cached_pool::PoolError::Full(3))));
        assert_eq!(Answer::from(reply).status, 503);
        assert_eq!(calls.load(Ordering::SeqCst), 0, "a refused fan-out made calls");
        assert_eq!(multiple_blocking(Some("n=4"), 5, &upstream(), &pool, call), Ok(ProxyReply { calls: 4, bytes: 4 }));
    }

    #[test]
    fn answer_blocking_routes_and_only_the_proxy_endpoints_call_upstream() {
        let config = Config::for_upstream(upstream());
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let call = move |_: &str| {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(10)
        };
        let answer = |method: &str, target: &str| answer_blocking(method, target, &config, &pool(), call.clone());
        assert_eq!(answer("GET", "/health"), Answer::health());
        assert_eq!(answer("GET", "/nowhere?ms=1").status, 404);
        assert_eq!(answer("POST", "/single").allow, Some(crate::ALLOW));
        assert_eq!(answer("GET", "/multiple?n=x").status, 400);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert_eq!(answer("GET", "/single?ms=1").body, br#"{"calls":1,"bytes":10}"#);
        assert_eq!(answer("GET", "/multiple?n=3").body, br#"{"calls":3,"bytes":30}"#);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn bad_query_makes_no_call() {
        let r = single_blocking(Some("ms=x"), &upstream(), |_| panic!("called"));
        assert!(matches!(r, Err(BenchError::Query(_))));
        let r = multiple_blocking(Some("n=0"), 5, &upstream(), &pool(), |_| panic!("called"));
        assert!(matches!(r, Err(BenchError::Query(_))));
    }
}
