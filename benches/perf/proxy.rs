//! A throttling HTTP proxy in front of moto, enforcing the AWS quotas the emulator does not:
//! SSM PutParameter and DynamoDB writes each pass through a token bucket, and a request
//! beyond it is answered the way AWS answers it (HTTP 400 `ThrottlingException` or
//! `ProvisionedThroughputExceededException`), so the console's own pacing and retries are
//! what gets measured. Everything else is passed through untouched.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A quota: `rate` per second on average, at most `burst` at once.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub rate: f64,
    pub burst: f64,
}

/// What passed and what was throttled since the last reset.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub ssm_puts: u64,
    pub ssm_throttled: u64,
    /// Write capacity units: 1 per started KB of item, twice that in a transaction.
    pub dynamo_units: u64,
    pub dynamo_throttled: u64,
}

struct Bucket {
    limit: Limit,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(limit: Limit) -> Self {
        Bucket {
            limit,
            tokens: limit.burst,
            at: Instant::now(),
        }
    }

    fn take(&mut self, n: f64) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * self.limit.rate;
        self.tokens = (self.tokens + refill).min(self.limit.burst);
        self.at = now;
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }
}

struct State {
    ssm: Bucket,
    dynamo: Bucket,
    stats: Stats,
}

pub struct Proxy {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to moto on `upstream`.
    pub async fn start(upstream: u16, ssm: Limit, dynamo: Limit) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(Mutex::new(State {
            ssm: Bucket::new(ssm),
            dynamo: Bucket::new(dynamo),
            stats: Stats::default(),
        }));
        let shared = Arc::clone(&state);
        let accept = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let state = Arc::clone(&shared);
                tokio::spawn(async move {
                    if let Err(e) = serve(conn, state, upstream).await {
                        eprintln!("proxy connection ended: {e}");
                    }
                });
            }
        });
        Ok(Proxy {
            endpoint,
            state,
            accept,
        })
    }

    /// Zeroes the counters and fills both buckets.
    pub fn reset(&self) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.ssm = Bucket::new(s.ssm.limit);
        s.dynamo = Bucket::new(s.dynamo.limit);
        s.stats = Stats::default();
    }

    pub fn stats(&self) -> Stats {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stats
    }

    pub fn stop(self) {
        self.accept.abort();
    }
}

/// One HTTP/1.1 message: head lines (start line first) and the decoded body.
struct Message {
    start: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The message with a Content-Length body, without hop-by-hop headers, plus `extra`.
    fn encode(&self, extra: &[(&str, &str)]) -> Vec<u8> {
        let mut out = format!("{}\r\n", self.start);
        for (k, v) in &self.headers {
            let hop = [
                "connection",
                "content-length",
                "transfer-encoding",
                "keep-alive",
            ]
            .iter()
            .any(|h| k.eq_ignore_ascii_case(h));
            if !hop {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
        }
        for (k, v) in extra {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads more bytes into `buf`; false at end of stream.
async fn fill(conn: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    let mut chunk = [0u8; 16 * 1024];
    let n = conn.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n > 0)
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

/// Reads one message from `conn` (bytes past it stay in `buf`). `to_eof`: the body runs to
/// the end of the stream when it has neither a length nor chunks (a response).
async fn read_message(
    conn: &mut TcpStream,
    buf: &mut Vec<u8>,
    to_eof: bool,
) -> std::io::Result<Option<Message>> {
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i;
        }
        if !fill(conn, buf).await? {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(bad("connection closed inside a message head"))
            };
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    buf.drain(..head_end + 4);
    let mut lines = head.split("\r\n");
    let start = lines.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut msg = Message {
        start,
        headers,
        body: Vec::new(),
    };
    let chunked = msg
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        loop {
            let line_end = loop {
                if let Some(i) = find(buf, b"\r\n") {
                    break i;
                }
                if !fill(conn, buf).await? {
                    return Err(bad("connection closed inside a chunk size"));
                }
            };
            let size_text = String::from_utf8_lossy(&buf[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| bad("bad chunk size"))?;
            buf.drain(..line_end + 2);
            if size == 0 {
                // Trailers, if any, end with an empty line.
                loop {
                    if let Some(i) = find(buf, b"\r\n") {
                        let empty = i == 0;
                        buf.drain(..i + 2);
                        if empty {
                            break;
                        }
                    } else if !fill(conn, buf).await? {
                        break;
                    }
                }
                break;
            }
            while buf.len() < size + 2 {
                if !fill(conn, buf).await? {
                    return Err(bad("connection closed inside a chunk"));
                }
            }
            msg.body.extend_from_slice(&buf[..size]);
            buf.drain(..size + 2);
        }
    } else if let Some(len) = msg.header("content-length") {
        let len: usize = len.parse().map_err(|_| bad("bad content-length"))?;
        while buf.len() < len {
            if !fill(conn, buf).await? {
                if to_eof {
                    break;
                }
                return Err(bad("connection closed inside a body"));
            }
        }
        let len = len.min(buf.len());
        msg.body = buf.drain(..len).collect();
    } else if to_eof {
        while fill(conn, buf).await? {}
        msg.body = std::mem::take(buf);
    }
    Ok(Some(msg))
}

/// What a request costs against a quota, if it is a throttled kind of write.
enum Cost {
    Ssm,
    Dynamo(f64),
}

/// 1 write unit per started KB of an item.
fn units(item: &serde_json::Value) -> f64 {
    (item.to_string().len() as f64 / 1024.0).ceil().max(1.0)
}

fn cost(req: &Message) -> Option<Cost> {
    let target = req.header("x-amz-target")?;
    if target == "AmazonSSM.PutParameter" {
        return Some(Cost::Ssm);
    }
    let op = target.strip_prefix("DynamoDB_20120810.")?;
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
    match op {
        "PutItem" => Some(Cost::Dynamo(units(&body["Item"]))),
        "UpdateItem" | "DeleteItem" => Some(Cost::Dynamo(units(&body["Key"]))),
        "TransactWriteItems" => {
            let items = body["TransactItems"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let sum: f64 = items
                .iter()
                .map(|t| {
                    let item = &t["Put"]["Item"];
                    if item.is_null() { 1.0 } else { units(item) }
                })
                .sum();
            Some(Cost::Dynamo(2.0 * sum))
        }
        "BatchWriteItem" => {
            let sum: f64 = body["RequestItems"]
                .as_object()
                .map(|tables| {
                    tables
                        .values()
                        .filter_map(|reqs| reqs.as_array())
                        .flatten()
                        .map(|r| {
                            let item = &r["PutRequest"]["Item"];
                            if item.is_null() { 1.0 } else { units(item) }
                        })
                        .sum()
                })
                .unwrap_or(0.0);
            Some(Cost::Dynamo(sum))
        }
        _ => None,
    }
}

/// None: forward the request; Some: the throttling answer.
fn admit(state: &Mutex<State>, req: &Message) -> Option<Vec<u8>> {
    let cost = cost(req)?;
    let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
    let (content_type, body) = match cost {
        Cost::Ssm => {
            if s.ssm.take(1.0) {
                s.stats.ssm_puts += 1;
                return None;
            }
            s.stats.ssm_throttled += 1;
            (
                "application/x-amz-json-1.1",
                r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
            )
        }
        Cost::Dynamo(n) => {
            if s.dynamo.take(n) {
                s.stats.dynamo_units += n as u64;
                return None;
            }
            s.stats.dynamo_throttled += 1;
            (
                "application/x-amz-json-1.0",
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API."}"#,
            )
        }
    };
    let msg = Message {
        start: "HTTP/1.1 400 Bad Request".into(),
        headers: vec![
            ("Content-Type".into(), content_type.into()),
            ("x-amzn-RequestId".into(), "throttled-by-bench-proxy".into()),
        ],
        body: body.as_bytes().to_vec(),
    };
    Some(msg.encode(&[]))
}

async fn forward(upstream: u16, req: &Message) -> std::io::Result<Vec<u8>> {
    let mut conn = TcpStream::connect(("127.0.0.1", upstream)).await?;
    conn.write_all(&req.encode(&[("Connection", "close")]))
        .await?;
    let mut buf = Vec::new();
    let resp = read_message(&mut conn, &mut buf, true)
        .await?
        .ok_or_else(|| bad("moto closed the connection without answering"))?;
    Ok(resp.encode(&[]))
}

async fn serve(
    mut conn: TcpStream,
    state: Arc<Mutex<State>>,
    upstream: u16,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    while let Some(req) = read_message(&mut conn, &mut buf, false).await? {
        let answer = match admit(&state, &req) {
            Some(throttled) => throttled,
            None => forward(upstream, &req).await?,
        };
        conn.write_all(&answer).await?;
    }
    Ok(())
}
