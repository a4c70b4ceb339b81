"""tools/radload: its packets are what pyrad (an independent RADIUS implementation) reads,
its reply check rejects forged replies, and its CPU accounting counts reaped children."""

import hashlib
import hmac
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyrad import packet
from pyrad.dictionary import Dictionary

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

from radload import codec, cpu  # noqa: E402

SECRET = b"test-router-secret-0123456789"
DICTIONARY = Dictionary(*(f"/usr/share/freeradius/dictionary.{name}"
                          for name in ("rfc2865", "rfc2866", "rfc2869")))


def static_attributes(username: str) -> bytes:
    return (codec.attribute(codec.USER_NAME, username.encode())
            + codec.address(codec.NAS_IP_ADDRESS, "10.5.0.1"))


@pytest.mark.parametrize("password", ["x", "exactly-16-bytes", "a-password-longer-than-16-bytes"])
def test_pap_request_is_what_pyrad_decodes(password):
    data, authenticator = codec.access_request(7, SECRET, static_attributes("STU000001"),
                                               password.encode())
    request = packet.AuthPacket(packet=data, secret=SECRET, dict=DICTIONARY)
    assert request.code == packet.AccessRequest and request.id == 7
    assert request.authenticator == authenticator
    assert request["User-Name"] == ["STU000001"]
    assert request["NAS-IP-Address"] == ["10.5.0.1"]
    assert request.PwDecrypt(request["User-Password"][0]) == password
    assert request.verify_message_authenticator()


def test_chap_request_carries_the_rfc1994_digest():
    data, authenticator = codec.access_request(9, SECRET, static_attributes("STU000002"),
                                               b"bench-password", chap=True)
    request = packet.AuthPacket(packet=data, secret=SECRET, dict=DICTIONARY)
    chap = request["CHAP-Password"][0]
    expected = hashlib.md5(chap[:1] + b"bench-password" + authenticator,
                           usedforsecurity=False).digest()
    assert chap[1:] == expected
    assert request.verify_message_authenticator()


def test_accounting_request_authenticator_is_valid():
    attributes = (codec.integer(codec.ACCT_STATUS_TYPE, codec.STATUS_INTERIM)
                  + codec.attribute(codec.ACCT_SESSION_ID, b"live-1")
                  + codec.integer(codec.ACCT_INPUT_OCTETS, 1234))
    data, _ = codec.accounting_request(3, SECRET, attributes)
    request = packet.AcctPacket(packet=data, secret=SECRET, dict=DICTIONARY)
    assert request.VerifyAcctRequest()
    assert request["Acct-Status-Type"] == ["Interim-Update"]
    assert request["Acct-Input-Octets"] == [1234]


def test_reply_check_accepts_a_real_reply_and_refuses_a_forged_one():
    data, authenticator = codec.access_request(5, SECRET, static_attributes("STU000003"), b"pw")
    request = packet.AuthPacket(packet=data, secret=SECRET, dict=DICTIONARY)
    reply = request.CreateReply()
    raw = reply.ReplyPacket()
    assert codec.reply_valid(raw, authenticator, SECRET)
    assert not codec.reply_valid(raw, authenticator, b"another-secret-0123456789")
    forged = raw[:4] + hmac.digest(b"k", raw, "md5") + raw[20:]
    assert not codec.reply_valid(forged, authenticator, SECRET)


def test_attribute_longer_than_253_bytes_is_refused():
    with pytest.raises(ValueError, match="253"):
        codec.attribute(codec.USER_NAME, b"u" * 254)


def test_process_tree_cpu_counts_children_that_already_exited():
    shell = subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess, sys, time\n"
         "subprocess.run([sys.executable, '-c', 'import time\\nt = time.process_time()\\n"
         "while time.process_time() - t < 0.3: pass'])\n"
         "time.sleep(30)"])
    try:
        before = cpu.process_tree_cpu(shell.pid)
        deadline = time.monotonic() + 20
        while cpu.process_tree_cpu(shell.pid) - before < 0.25:
            assert time.monotonic() < deadline, "the child's CPU never showed"
            time.sleep(0.05)
    finally:
        shell.kill()
        shell.wait()


class DropFirstCopy:
    """A UDP accounting server (pyrad's packets) that ignores the first copy of every request
    and answers the next: what an overloaded server's full socket buffer looks like."""

    def __init__(self):
        import socket
        import threading
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.seen: set[bytes] = set()
        self.copies = 0
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @property
    def address(self) -> tuple[str, int]:
        return self.sock.getsockname()

    def serve(self) -> None:
        while not self.stopping:
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            self.copies += 1
            if data[:20] not in self.seen:  # code, identifier, length, authenticator
                self.seen.add(data[:20])
                continue
            request = packet.AcctPacket(packet=data, secret=SECRET, dict=DICTIONARY)
            self.sock.sendto(request.CreateReply().ReplyPacket(), peer)

    def close(self) -> None:
        self.stopping = True
        self.thread.join()
        self.sock.close()


# A second copy's answer must arrive within it on a loaded machine (CI runs this beside
# molecule and the integration tests): 0.3 s lost half the answers at a load average of 20.
TIMEOUT = 1.0


@pytest.mark.parametrize("retries", [0, 1])
def test_unanswered_requests_are_retransmitted_as_a_nas_does(retries):
    from radload import load
    server = DropFirstCopy()
    try:
        work = load.Workload(kind="acct", server=server.address, secret=SECRET,
                             users=[(f"STU{i:06d}", f"s-{i}") for i in range(20)], count=40,
                             rate=200.0, timeout=TIMEOUT, retries=retries)
        report = load.run(work, processes=1)
    finally:
        server.close()
    if retries:
        # Every request answered on its second copy, the same bytes the server saw first.
        assert (report.answered, report.lost, report.retransmitted) == (40, 0, 40)
        assert server.copies == 80
        assert report.p50_ms >= TIMEOUT * 1000  # a NAS's latency counts from its first copy
    else:
        assert (report.answered, report.lost, report.retransmitted) == (0, 40, 0)
        assert server.copies == 40
