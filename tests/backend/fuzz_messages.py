"""A seeded fuzzer for the backend's wire, against a real backend subprocess on 127.0.0.1.

It sends a mix of well-formed and hostile messages (odd parameter values, NaN and 1e400 in numbers,
looks that are not names, JSON nested 1,500 deep, values of hundreds of KB, bad buffer declarations,
short and long buffers, PNG bombs, requests before hello, unknown types, oversized frames, clients'
own events) and counts what comes back:

- ``crashes``: the backend process exited, or a thread of it died of an uncaught exception (its log
  says so), or a request or a job got an ``INTERNAL`` error (a bug reached the client);
- ``hangs``: a request that got no answer within ``reply_timeout`` while its connection stayed open;
- ``error_replies`` (by code), ``ok_replies``, ``closed`` (connections the server closed after input
  it could not parse: allowed).

``python tests/backend/fuzz_messages.py --messages 10000 --seed 1`` (in ``.venv-backend``) prints the
figures; ``test_fuzz.py`` runs a few thousand in the suite.
"""
from __future__ import annotations

import argparse
import collections
import json
import pathlib
import random
import struct
import sys
import tempfile
import threading
import time
import zlib
from typing import Optional

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from backend_harness import Backend  # noqa: E402

BIG = "@@1e400@@"  # replaced by the bare JSON number 1e400 (Python's json cannot write it)
TYPES = ["session.hello", "job.submit", "job.input", "job.cancel", "backend.status", "models.list", "debug.echo"]
# (session.shutdown is real: it is sent only before hello, where it must be refused)
LOOKS = ["test_invert", "toon", "paint", "pencil", "watercolor", "none", "diffusion", "nope"]


def odd_value(rng: random.Random, depth: int = 0):
    """A value a hostile or careless client might put anywhere."""
    pick = rng.randrange(22)
    if pick == 0:
        return float("nan")
    if pick == 1:
        return rng.choice([float("inf"), -float("inf")])
    if pick == 2:
        return BIG
    if pick == 3:
        return rng.choice([1e30, -1e30, 2**64, -(2**63), 10**300])
    if pick == 4:
        return rng.randint(-5, 20)
    if pick == 5:
        return rng.random() * rng.choice([1, 100, 1e6])
    if pick == 6:
        return "x" * rng.choice([0, 1, 100, 5000, 60_000])
    if pick == 7:
        return rng.choice(["", " ", "a\0b", "é☃\u202e", "1e400", "nan", "inf", "40,180,60", "1,2,3,4", "auto",
                           "/", "/etc/passwd", "../../x", "m:canny:2", "x:nan", "frame"])
    if pick == 8:
        return None
    if pick == 9:
        return rng.choice([True, False])
    if pick in (10, 11) and depth < 3:
        return [odd_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if pick in (12, 13) and depth < 3:
        return {rng.choice(["a", "look", "name", "params", "", "x" * 50]): odd_value(rng, depth + 1)
                for _ in range(rng.randrange(3))}
    if pick == 14:
        return rng.choice(LOOKS)
    return rng.choice([0, 1, -1, 0.5, "0.5", "3", 7])


def png_bytes(width: int, height: int) -> bytes:
    """A valid PNG of a black RGB image, built row by row (a 6000x6000 one is ~100 KB)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    comp, row = zlib.compressobj(9), b"\0" * (1 + 3 * width)
    body = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def answered_id(raw: bytes) -> Optional[str]:
    """The id the server must answer for this raw envelope: a request-like message with a usable id
    (a client's own events and responses are ignored)."""
    try:
        env = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(env, dict) or env.get("kind") in ("response", "event"):
        return None
    msg_id = env.get("id")
    return msg_id if isinstance(msg_id, str) and 0 < len(msg_id) <= 128 else None


class Conn:
    """One raw authenticated connection with a reader thread that files answers by ``re``."""

    def __init__(self, backend: Backend, job_ends: collections.Counter):
        self.job_ends = job_ends  # job.done status/code -> count
        self.link = backend.raw_link()
        self.replies: dict = {}
        self.unmatched: list = []
        self.closed = threading.Event()
        self.cond = threading.Condition()
        self.helloed = False
        self.jobs: list = []  # (job_id, width, height)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            while True:
                msg = self.link.recv()
                if msg.kind == "event" and msg.type == "job.done":
                    error = msg.body.get("error") or {}
                    self.job_ends[f"{msg.body.get('status')}:{error.get('code', '-')}"] += 1
                if msg.kind != "response":
                    continue
                with self.cond:
                    if msg.re is not None:
                        self.replies[msg.re] = msg
                    else:
                        self.unmatched.append(msg)
                    self.cond.notify_all()
        except Exception:  # EOF, reset, or bytes the client cannot parse: the connection is over
            pass
        finally:
            self.closed.set()
            with self.cond:
                self.cond.notify_all()

    def send_raw(self, envelope: bytes, frames=()) -> bool:
        try:
            self.link.conn.send_bytes(envelope)
            for frame in frames:
                self.link.conn.send_bytes(frame)
            return True
        except (OSError, TypeError):  # TypeError: the link was closed meanwhile
            return False

    def wait(self, msg_id: str, timeout: float):
        """The answer to ``msg_id``; ``"closed"`` if the connection ended first; None after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while msg_id not in self.replies:
                if self.closed.is_set():
                    return "closed"
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 0.5))
            return self.replies.pop(msg_id)

    def close(self) -> None:
        self.link.close()


class Fuzzer:
    def __init__(self, backend: Backend, seed: int, reply_timeout: float = 20.0):
        self.backend = backend
        self.rng = random.Random(seed)
        self.reply_timeout = reply_timeout
        self.counts = collections.Counter()
        self.codes = collections.Counter()
        self.job_ends = collections.Counter()
        self.ids = (f"f{seed}-{n}" for n in range(10**9))
        self.models_dir = tempfile.mkdtemp(prefix="kino-fuzz-models-")
        self.conn: Optional[Conn] = None
        self.bomb = png_bytes(3000, 3000)
        self.good_png = png_bytes(8, 4)

    # -- the run -------------------------------------------------------------------------------
    def run(self, messages: int) -> dict:
        started = time.monotonic()
        for _ in range(messages):
            if self.conn is None or self.conn.closed.is_set() or self.rng.random() < 0.01:
                self._reconnect(hello=self.rng.random() > 0.05)
            self._one()
            self.counts["messages"] += 1
            if self.backend.proc.poll() is not None:
                self.counts["crashes"] += 1
                break
        if self.conn is not None:
            self.conn.close()
        self.counts["crashes"] += self._crash_lines()
        self.counts["crashes"] += self.codes.get("INTERNAL", 0)
        self.counts["crashes"] += sum(n for end, n in self.job_ends.items() if end.endswith(":INTERNAL"))
        return {"messages": self.counts["messages"], "crashes": self.counts["crashes"], "hangs": self.counts["hangs"],
                "error_replies": sum(self.codes.values()), "error_codes": dict(sorted(self.codes.items())),
                "ok_replies": self.counts["ok"], "closed_by_server": self.counts["closed"],
                "jobs_ended": dict(sorted(self.job_ends.items())),
                "seconds": round(time.monotonic() - started, 1)}

    def _crash_lines(self) -> int:
        try:
            return self.backend.log_path.read_text(errors="replace").count(" CRITICAL kino.crash ")
        except OSError:
            return 0

    def _reconnect(self, hello: bool = True) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = Conn(self.backend, self.job_ends)
        if hello:
            self._request("session.hello", {"protocol": [1, 0], "client": "fuzz/1"})
            self.conn.helloed = True

    # -- sending -------------------------------------------------------------------------------
    def _envelope(self, type_: str, body, msg_id: Optional[str] = None, kind: str = "request",
                  buffers=(), extra: Optional[dict] = None) -> tuple:
        msg_id = msg_id or next(self.ids)
        env = {"v": 1, "id": msg_id, "kind": kind, "type": type_, "body": body, "buffers": list(buffers)}
        env.update(extra or {})
        text = json.dumps(env, separators=(",", ":")).replace(json.dumps(BIG), "1e400")
        return msg_id, text.encode()

    def _request(self, type_: str, body, buffers=(), frames=(), timeout: Optional[float] = None, **kw):
        msg_id, raw = self._envelope(type_, body, buffers=buffers, **kw)
        if len(raw) > (1 << 20):
            raw = raw[: 1 << 19]  # would be an oversized frame: send it cut (invalid JSON) instead
        if not self.conn.send_raw(raw, frames):
            self.counts["closed"] += 1
            return None
        self.last = f"{type_} {raw[:300]!r}"
        return self._await(msg_id, timeout)

    def _await(self, msg_id: str, timeout: Optional[float] = None):
        reply = self.conn.wait(msg_id, timeout or self.reply_timeout)
        if reply is None:
            self.counts["hangs"] += 1
            print(f"hang: no answer to {msg_id} ({getattr(self, 'last', '?')})", file=sys.stderr)
            self.conn.close()
            return None
        if reply == "closed":
            self.counts["closed"] += 1
            return None
        if reply.error:
            self.codes[reply.error.get("code")] += 1
        else:
            self.counts["ok"] += 1
        return reply

    def _probe(self) -> None:
        """After a message that needs no answer: the connection must still answer (or be closed)."""
        if self.conn.closed.is_set():
            self.counts["closed"] += 1
            return
        self._request("backend.status", {})

    # -- message kinds -------------------------------------------------------------------------
    def _one(self) -> None:
        kinds = [(self._status, 4), (self._hello, 3), (self._submit_odd, 22), (self._submit_run, 10),
                 (self._input, 14), (self._cancel, 4), (self._models, 4), (self._echo, 3), (self._unknown, 4),
                 (self._client_event, 3), (self._raw_junk, 12), (self._bad_buffers, 8), (self._fatal, 2),
                 (self._shutdown_odd, 1)]
        fn = self.rng.choices([k for k, _ in kinds], [w for _, w in kinds])[0]
        fn()

    def _status(self):
        self._request("backend.status", self.rng.choice([{}, {"x": odd_value(self.rng)}]))

    def _hello(self):
        reply = self._request("session.hello", {"protocol": self.rng.choice([[1, 0], [2, 0], [1], [], "1.0", [BIG, 0],
                                                                             odd_value(self.rng)]),
                                                "client": odd_value(self.rng)})
        if reply is not None and not reply.error:
            self.conn.helloed = True  # from now on session.shutdown would be obeyed: never send it

    def _workflow(self):
        rng = self.rng
        look = rng.choice(LOOKS) if rng.random() < 0.8 else odd_value(rng)
        stage = look if isinstance(look, str) and look != "nope" else "test_invert"
        params = {rng.choice(["delay", "fail_at", "levels", "edge_thickness", "strength", "model", "lora",
                              "controlnet", "key_color", "garbage_matte", "bogus", "x" * 300]): odd_value(rng)
                  for _ in range(rng.randrange(3))}
        stages = [{"name": stage, "enabled": rng.choice([True, True, False, "yes"]), "params": params}]
        if rng.random() < 0.3:
            stages.append({"name": rng.choice(["temporal", "key", "test_matte", "stabilize", "nope"]),
                           "params": {"strength": odd_value(rng)}})
        if rng.random() < 0.1:
            stages = odd_value(rng)
        return {"version": rng.choice([1, 1, 1, 2, odd_value(rng)]), "look": look, "stages": stages}

    def _frames(self):
        rng = self.rng
        if rng.random() < 0.7:
            return {"count": rng.randint(1, 4), "first": 1, "width": 8, "height": 4}
        return {"count": odd_value(rng), "width": odd_value(rng), "height": odd_value(rng)}

    def _submit_odd(self):
        body = {"workflow": self._workflow(), "frames": self._frames(),
                "options": self.rng.choice([{}, {"seed": odd_value(self.rng)}, {"device": odd_value(self.rng)},
                                            {"models_dir": odd_value(self.rng)}, odd_value(self.rng)])}
        reply = self._request("job.submit", body)
        self._remember(reply, body)

    def _remember(self, reply, body) -> None:
        if reply is not None and not reply.error and "job_id" in reply.body:
            frames = body["frames"]
            self.conn.jobs.append((reply.body["job_id"], frames["width"], frames["height"]))

    def _submit_run(self):
        """A job that runs: a real or test look on tiny frames sent with the submit."""
        rng = self.rng
        look = rng.choice(["test_invert", "toon", "watercolor", "none", "pencil"])
        count = rng.randint(1, 3)
        frames = {"count": count, "first": 1, "width": 8, "height": 4}
        wf = {"version": 1, "look": look, "stages": [{"name": look, "params": {}}]}
        specs, data = [], []
        for i in range(rng.randint(0, count)):
            if rng.random() < 0.3:
                specs.append({"name": f"f{i}", "nbytes": len(self.good_png), "dtype": "uint8", "shape": [4, 8, 3],
                              "encoding": "png"})
                data.append(self.good_png)
            else:
                specs.append({"name": f"f{i}", "nbytes": 96, "dtype": "uint8", "shape": [4, 8, 3], "encoding": "raw"})
                data.append(bytes(rng.randrange(256) for _ in range(96)))
        body = {"workflow": wf, "frames": frames, "options": {"seed": rng.randint(0, 99)}}
        self._remember(self._request("job.submit", body, buffers=specs, frames=data), body)

    def _input(self):
        rng = self.rng
        job = rng.choice(self.conn.jobs) if self.conn.jobs and rng.random() < 0.8 else (odd_value(rng), 8, 4)
        job_id, w, h = job
        choice = rng.randrange(6)
        if choice == 0:  # a PNG bomb
            spec = {"name": "f", "nbytes": len(self.bomb), "dtype": "uint8", "shape": [h, w, 3], "encoding": "png"}
            frame = self.bomb
        elif choice == 1:  # not a PNG
            frame = b"GIF89a" + bytes(30)
            spec = {"name": "f", "nbytes": len(frame), "dtype": "uint8", "shape": [h, w, 3], "encoding": "png"}
        elif choice == 2:  # the wrong size
            frame = bytes(2 * 2 * 3)
            spec = {"name": "f", "nbytes": 12, "dtype": "uint8", "shape": [2, 2, 3], "encoding": "raw"}
        else:
            n = (w if isinstance(w, int) else 8) * (h if isinstance(h, int) else 4) * 3
            frame = bytes(rng.randrange(256) for _ in range(min(n, 4096)))
            spec = {"name": "f", "nbytes": len(frame), "dtype": "uint8", "shape": [h, w, 3], "encoding": "raw"}
        body = {"job_id": job_id, "frame": rng.choice([1, 2, 3, 4, 0, -1, odd_value(rng)])}
        self._request("job.input", body, buffers=[spec], frames=[frame])

    def _cancel(self):
        job = self.rng.choice(self.conn.jobs)[0] if self.conn.jobs and self.rng.random() < 0.6 else odd_value(self.rng)
        self._request("job.cancel", {"job_id": job})

    def _models(self):
        rng = self.rng
        body = {"models_dir": rng.choice([self.models_dir, self.models_dir + "/nope", odd_value(rng)]),
                "kind": rng.choice([None, "checkpoint", "lora", odd_value(rng)]), "hf_cache": rng.choice([False, odd_value(rng)])}
        self._request("models.list", body, timeout=self.reply_timeout + 25)  # a scan may take its full 20 s

    def _echo(self):
        n = self.rng.randint(0, 3)
        specs = [{"name": f"e{i}", "nbytes": 6, "dtype": "uint8", "shape": [1, 2, 3], "encoding": "raw"} for i in range(n)]
        self._request("debug.echo", {}, buffers=specs, frames=[bytes(6)] * n)

    def _unknown(self):
        self._request(self.rng.choice(["job.teleport", "session.hello2", "a.b", "models.delete"]), odd_value(self.rng))

    def _client_event(self):
        msg_id, raw = self._envelope(self.rng.choice(["job.progress", "job.done", "x.y"]), {"a": 1},
                                     kind=self.rng.choice(["event", "response"]),
                                     buffers=[{"name": "b", "nbytes": 4, "dtype": "uint8", "shape": [4], "encoding": "raw"}])
        if self.conn.send_raw(raw, [b"abcd"]):
            self._probe()

    def _raw_junk(self):
        rng = self.rng
        choice = rng.randrange(8)
        msg_id = next(self.ids)
        frames: list = []
        if choice == 0:
            raw = rng.choice([b"{not json", b"[]", b"42", b"\xff\xfe", b"", b"null", b'"str"'])
        elif choice == 1:
            depth = rng.choice([40, 900, 1500, 5000])
            raw = ('{"v":1,"id":"%s","kind":"request","type":"backend.status","body":{"d":%s}}'
                   % (msg_id, "[" * depth + "]" * depth)).encode()
        elif choice == 2:
            raw = self._envelope("job.submit", {"workflow": {"version": 1, "look": "x" * 300_000,
                                                             "stages": [{"name": "y" * 300_000}]},
                                                "frames": {"count": 1, "width": 8, "height": 4}}, msg_id)[1]
        elif choice == 3:
            raw = self._envelope(rng.choice(TYPES), odd_value(rng), msg_id,
                                 extra={rng.choice(["v", "kind", "type", "re", "error", "id"]): odd_value(rng)})[1]
        elif choice == 4:
            raw = self._envelope(rng.choice(TYPES), {}, msg_id, extra={"v": "x" * 400_000})[1]
        elif choice == 5:
            raw = self._envelope(rng.choice(TYPES), {"n": BIG, "m": float("nan")}, msg_id)[1]
        else:
            declared = odd_value(rng)
            raw = self._envelope(rng.choice(TYPES), {"k": odd_value(rng)}, msg_id, extra={"buffers": declared})[1]
            if isinstance(declared, list):  # the stream carries one frame per declaration, valid or not
                frames = [bytes(rng.randrange(8)) for _ in declared]
        if not self.conn.send_raw(raw, frames):
            self.counts["closed"] += 1
            return
        expected = answered_id(raw)
        if expected:
            self.last = f"raw {raw[:300]!r}"
            self._await(expected)  # its answer, or the connection closes (input it cannot parse)
        if self.conn is not None and not self.conn.closed.is_set():
            self._probe()

    def _bad_buffers(self):
        rng = self.rng
        spec = {"name": odd_value(rng) if rng.random() < 0.2 else "b", "nbytes": rng.choice([12, 0, -1, 2**40, BIG, 13]),
                "dtype": rng.choice(["uint8", "f4", None]), "shape": rng.choice([[2, 2, 3], [], [0], [2**31, 2**31], "x"]),
                "encoding": rng.choice(["raw", "png", "gif"])}
        size = rng.choice([12, 5, 0, 13])
        if size > 12 and spec["nbytes"] == 12:
            size = 12  # a longer frame than declared is a fatal error: _fatal covers it
        self._request(rng.choice(["debug.echo", "job.input", "job.submit", "backend.status"]), {},
                      buffers=[spec], frames=[bytes(size)])
        if self.conn is not None and not self.conn.closed.is_set():
            self._probe()

    def _fatal(self):
        """Input after which the stream cannot be trusted: the server answers and closes, or just closes."""
        rng = self.rng
        choice = rng.randrange(3)
        if choice == 0:  # a buffer longer than declared
            msg_id, raw = self._envelope("debug.echo", {}, buffers=[{"name": "b", "nbytes": 4, "dtype": "uint8",
                                                                     "shape": [4], "encoding": "raw"}])
            self.conn.send_raw(raw, [bytes(9)])
        elif choice == 1:  # a frame header claiming 2 GiB
            try:
                self.conn.link.conn._send(struct.pack("!i", 2**31 - 1))
            except OSError:
                pass
        sender = None
        if choice == 2:  # an envelope over 1 MiB, written while the server reads (and closes)
            sender = threading.Thread(target=self.conn.send_raw, args=(b" " * ((1 << 20) + 5),), daemon=True)
            sender.start()
        closed = self.conn.closed.wait(self.reply_timeout)
        if not closed:
            self.counts["hangs"] += 1
            print("hang: the server kept a connection whose stream is broken", file=sys.stderr)
        if sender is not None:
            sender.join(self.reply_timeout)  # before closing: its descriptor must not be reused under it
        self.counts["closed"] += 1
        self.conn.close()

    def _shutdown_odd(self):
        """session.shutdown is a real request: only sent before hello (refused), never after."""
        if not self.conn.helloed:
            self._request("session.shutdown", {})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Fuzz a real Kino backend on 127.0.0.1 and count what goes wrong.")
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reply-timeout", type=float, default=20.0, help="seconds before a missing answer is a hang")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kino-fuzz-") as tmp:
        backend = Backend(pathlib.Path(tmp), stderr_to_file=True)
        try:
            figures = Fuzzer(backend, args.seed, args.reply_timeout).run(args.messages)
        finally:
            backend.stop()
    print(json.dumps(figures) if args.json else "\n".join(f"{k}: {v}" for k, v in figures.items()))
    return 0 if figures["crashes"] == 0 and figures["hangs"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
