//! The AWS emulator for these tests: one moto server (`scripts/moto-serial.py`, moto behind one
//! lock; see there) per test binary on a free loopback
//! port, shared by every test (each test uses its own table, bucket and project names).
//! A missing moto fails the tests; it never skips them.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A running moto server. Dropping it stops the server; the shared one is also stopped
/// when the test process exits (its wrapper shell kills moto once its stdin closes).
pub struct Moto {
    child: Child,
    /// Held open for the server's lifetime; closing it makes the wrapper stop moto.
    stdin: Option<ChildStdin>,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Does something answer HTTP on `port`?
fn answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 8];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/")
}

impl Moto {
    /// Starts `python3 scripts/moto-serial.py -H 127.0.0.1 -p PORT` and waits until it answers.
    pub fn start() -> Moto {
        let program = PathBuf::from("python3");
        let has_moto = Command::new(&program)
            .args(["-c", "import moto.moto_server.werkzeug_app"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            has_moto,
            "python3 cannot import moto: the AWS backend tests need the moto emulator. Install \
             it with `python3 -m pip install 'moto[server]'` (scripts/test does)"
        );
        let port = free_port();
        // The wrapper shell kills moto when its stdin reaches EOF, i.e. when this process
        // (which holds the other end) exits, even if the server is never dropped.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#""$0" "$2" -H 127.0.0.1 -p "$1" </dev/null >/dev/null 2>&1 & pid=$!; cat >/dev/null; kill $pid; wait $pid"#)
            .arg(&program)
            .arg(port.to_string())
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/moto-serial.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let stdin = child.stdin.take();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !answers(port) {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "the moto server exited before answering ({status}); run scripts/moto-serial.py by hand to see why"
                );
            }
            assert!(
                Instant::now() < deadline,
                "the moto server did not answer on 127.0.0.1:{port} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            child,
            stdin,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }
}

/// The server shared by this test binary. Also sets static test credentials for the SDK.
pub fn shared() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        // SAFETY: set once, before any AWS client of these tests reads them; the values are
        // the same for every test.
        unsafe {
            std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
            std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        }
        Moto::start()
    })
}
