"""Several jobs of one client side by side: each reader takes only its job's events, in order, and
events of other jobs wait for their own readers."""
import pytest

from kino_addon.protocol.client import BackendClient
from kino_addon.protocol.envelope import Message
from kino_addon.protocol.errors import BackendError, DISCONNECTED

from test_protocol_client import KEY, FakeBackend

pytestmark = pytest.mark.timeout(60)


def test_next_event_of_one_job_leaves_the_others():
    def script(link, msg):
        for job, frame in (("a", 1), ("b", 1), ("a", 2), ("b", 2)):
            link.send(Message(kind="event", type="job.frame", re=msg.id, body={"job_id": job, "frame": frame}))
        link.send(Message(kind="event", type="job.done", re=msg.id, body={"job_id": "b"}))
        link.close()

    fake = FakeBackend(script)
    client = BackendClient.connect("127.0.0.1", fake.port, KEY)
    with pytest.raises(BackendError):
        client.request("backend.status", {})  # the scripted server answers with events, then closes
    b = [client.next_event(5, job_id="b") for _ in range(3)]
    assert [(e.type, e.body.get("frame")) for e in b] == [("job.frame", 1), ("job.frame", 2), ("job.done", None)]
    client.discard("c")  # nothing of c: nothing changes
    assert client.next_event(5, job_id="a").body["frame"] == 1
    assert client.next_event(5).body == {"job_id": "a", "frame": 2}  # any job
    with pytest.raises(BackendError) as info:
        client.next_event(5, job_id="a")
    assert info.value.code == DISCONNECTED
    fake.close()


def test_discard_drops_a_finished_jobs_events():
    def script(link, msg):
        for frame in (1, 2):
            link.send(Message(kind="event", type="job.frame", re=msg.id, body={"job_id": "x", "frame": frame}))
        link.send(Message(kind="response", type=msg.type, re=msg.id, body={"ok": True}))

    fake = FakeBackend(script)
    with BackendClient.connect("127.0.0.1", fake.port, KEY) as client:
        client.request("backend.status", {})
        client.discard("x")
        assert client.next_event(0.1, job_id="x") is None
        assert client.next_event(0.1) is None
    fake.close()
