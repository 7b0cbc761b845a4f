"""tests/fakes/aws_sns.py: Amazon SNS's message signing, on loopback, for the envelopes the
fake SQS queue (tests/fakes/aws_sqs.py) holds.

What it implements, as the SNS documentation describes it ("Verifying the signatures of Amazon
SNS messages"): the string to sign of a Notification is each of Message, MessageId, Subject
(when present), Timestamp, TopicArn, Type in that order as "<key>\\n<value>\\n";
SignatureVersion "1" signs it with SHA1withRSA, "2" with SHA256withRSA (PKCS#1 v1.5); the
signature is base64 and SigningCertURL names the PEM certificate whose key verifies it.

A test CA made here (python `cryptography`) issues the server certificate of an HTTPS server on
127.0.0.1 that serves the signing certificate at /SimpleNotificationService-<hex>.pem. The
plugin trusts that CA through `sns_ca_file` and allows the host through
`sns_cert_host_pattern = 127.0.0.1` (config()); nothing else differs from production.

The test's controls: sign(envelope, version) signs as SNS does; forge(envelope) signs with a
key that is not the certificate's; fetches counts the certificate downloads; fail_cert(n)
answers the next n downloads with 503.
"""

import base64
import datetime
import ipaddress
import os
import ssl
import tempfile
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from fakes.loopback import write_answer

SIGNED_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_keys = []  # RSA keys are slow to make: one set per process


def _key(i):
    while len(_keys) <= i:
        _keys.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _keys[i]


def _cert(subject_cn, key, issuer_cn, issuer_key, ca=False, ip=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
         .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)]))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         # wide validity: the plugin checks it at the providers' clock, which tests move
         .not_valid_before(now - datetime.timedelta(days=3650))
         .not_valid_after(now + datetime.timedelta(days=3650))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ip:
        b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
                            critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def string_to_sign(envelope):
    return "".join("%s\n%s\n" % (k, envelope[k]) for k in SIGNED_KEYS
                   if envelope.get(k) is not None)


class FakeSns:
    def __init__(self):
        ca_key, server_key, signing_key = _key(0), _key(1), _key(2)
        ca = _cert("EC Test SNS CA", ca_key, "EC Test SNS CA", ca_key, ca=True)
        server = _cert("127.0.0.1", server_key, "EC Test SNS CA", ca_key, ip="127.0.0.1")
        self.signing_key = signing_key
        self.signing_pem = _pem(_cert("sns.amazonaws.com", signing_key, "EC Test SNS CA", ca_key))
        self.dir = tempfile.mkdtemp(prefix="fake-sns-")
        self.ca_file = os.path.join(self.dir, "ca.pem")
        with open(self.ca_file, "wb") as f:
            f.write(_pem(ca))
        cert_file, key_file = os.path.join(self.dir, "server.pem"), os.path.join(self.dir, "key.pem")
        with open(cert_file, "wb") as f:
            f.write(_pem(server))
        with open(key_file, "wb") as f:
            f.write(server_key.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_file, key_file)
        self.path = "/SimpleNotificationService-%s.pem" % uuid.uuid4().hex
        self.fetches, self._fail_cert = 0, 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.cert_url = "https://127.0.0.1:%d%s" % (self.server.server_address[1], self.path)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def config(self):
        """The [aws] settings that make the plugin trust this fake."""
        return {"sns_ca_file": self.ca_file, "sns_cert_host_pattern": "127.0.0.1"}

    def fail_cert(self, n=1):
        self._fail_cert = n

    def sign(self, envelope, version="1", key=None, cert_url=None):
        envelope["SignatureVersion"] = version
        envelope["SigningCertURL"] = cert_url or self.cert_url
        digest = hashes.SHA1() if version == "1" else hashes.SHA256()
        raw = (key or self.signing_key).sign(string_to_sign(envelope).encode(),
                                             padding.PKCS1v15(), digest)
        envelope["Signature"] = base64.b64encode(raw).decode()
        return envelope

    def forge(self, envelope, version="1"):
        """Signed by a key that is not the one SigningCertURL certifies."""
        return self.sign(envelope, version, key=_key(3))

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                with fake.lock:
                    fake.fetches += 1
                    failing = fake._fail_cert > 0
                    fake._fail_cert -= failing
                status, data = (200, fake.signing_pem) if self.path == fake.path else (404, b"")
                if failing:
                    status, data = 503, b""
                write_answer(self, status, "application/x-x509-ca-cert", data)

            def log_message(self, *args):
                pass

        return Handler
