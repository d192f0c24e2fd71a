#!/usr/bin/env python3
"""Peak RSS (VmHWM) of `webhook serve` against the Go receiver in receiver.go, in one run.

Each receiver is started fresh for each measure: one signed 256 MiB delivery stored into an
empty folder, then the same delivery again (the repeat path: verified, nothing written).
Rounds alternate between the two receivers; the medians are printed.

    cargo build --release -p authenteq-export-cli
    (cd benches/webhook-rss && go build -o /tmp/go-webhook-receiver .)
    python3 benches/webhook-rss/rss.py target/release/authenteq-export /tmp/go-webhook-receiver
"""
import hashlib, http.client, os, re, shutil, statistics, subprocess, sys, tempfile

OURS, GO = sys.argv[1], sys.argv[2]
MIB = int(os.environ.get("RSS_MIB", "256"))
ROUNDS = int(os.environ.get("RSS_ROUNDS", "5"))
SECRET, CLIENT_ID, BOUNDARY = "rss-secret", "rss-client", "rss-boundary"

head = (
    f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"result\"; filename=\"result.json\"\r\n"
    "Content-Type: application/json\r\n\r\n" '{"id":"rss-1","platform":"WEB"}'
    f"\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"livenessFaceImage\"; "
    "filename=\"livenessFaceImage.jpeg\"\r\nContent-Type: image/jpeg\r\n\r\n"
).encode()
tail = f"\r\n--{BOUNDARY}--\r\n".encode()
chunk = os.urandom(1 << 20)
digest = hashlib.sha256(head)
for _ in range(MIB):
    digest.update(chunk)
digest.update(tail)
digest.update(SECRET.encode())
signature = digest.hexdigest()


def start(binary, out):
    if binary == GO:
        command = [binary, out]
    else:
        limit = str((MIB + 16) << 20)
        command = [binary, "webhook", "serve", "--addr", "127.0.0.1:0", "--client-id", CLIENT_ID,
                   "--out", out, "--max-body-bytes", limit, "--unverified-bytes", limit]
    env = dict(os.environ, AUTHENTEQ_CLIENT_SECRET=SECRET)
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    host, port = re.search(r"http://([\d.]+):(\d+)", child.stdout.readline().decode()).groups()
    return child, host, int(port)


def deliver(host, port):
    connection = http.client.HTTPConnection(host, port, timeout=300)
    connection.putrequest("POST", "/")
    connection.putheader("Content-Type", f"multipart/mixed; boundary={BOUNDARY}")
    connection.putheader("Content-Length", str(len(head) + MIB * len(chunk) + len(tail)))
    connection.putheader("X-CLIENT-ID", CLIENT_ID)
    connection.putheader("X-SIGNATURE", signature)
    connection.endheaders()
    connection.send(head)
    for _ in range(MIB):
        connection.send(chunk)
    connection.send(tail)
    answer = connection.getresponse()
    assert answer.status == 200, (answer.status, answer.read())
    return answer.read().decode().strip()


def peak_kib(child):
    """The peak RSS, and the anonymous (heap, stacks, buffers) part of the RSS after the delivery:
    the rest is mapped code and libraries."""
    with open(f"/proc/{child.pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return int(fields["VmHWM"].split()[0]), int(fields["RssAnon"].split()[0])


def measure(binary):
    out = tempfile.mkdtemp(prefix="webhook-rss-")
    try:
        peaks = []
        for expected in ("stored", "already stored"):
            child, host, port = start(binary, out)
            try:
                assert deliver(host, port) == expected
                peaks.append(peak_kib(child))
            finally:
                child.kill()
                child.wait()
        return peaks
    finally:
        shutil.rmtree(out)


results = {OURS: [], GO: []}
for _ in range(ROUNDS):
    for binary in (OURS, GO):
        results[binary].append(measure(binary))
for name, binary in (("webhook serve", OURS), ("Go receiver", GO)):
    def median(path, part):
        return statistics.median(p[path][part] for p in results[binary]) / 1024
    print(f"{name:14} {MIB} MiB delivery, peak RSS (anonymous after it), median of {ROUNDS}: "
          f"stored {median(0, 0):.1f} MiB ({median(0, 1):.1f}), "
          f"repeat {median(1, 0):.1f} MiB ({median(1, 1):.1f})")
