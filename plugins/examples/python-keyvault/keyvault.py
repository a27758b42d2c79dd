#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A wgplex key vault plugin in Python, on Debian's python3-grpcio and
python3-cryptography.

    wgplex --keyvault "python3 /path/to/keyvault.py -key /etc/wireguard/wg0.key" wg0

It speaks go-plugin's protocol by hand, as any non-Go plugin must (see
docs/plugins-any-language.md): check the magic cookie, pick a protocol
version, listen on a Unix socket with TLS (AutoMTLS), print the handshake
line, serve the key vault service, go-plugin's controller (Shutdown) and
health services, and log JSON lines on stderr.

The messages of wgplex.keyvault.v1 have one field each, so they are coded
by hand below instead of through generated stubs; a plugin with a larger
service generates them from plugins/proto with grpc_tools.protoc.
"""

import argparse
import base64
import datetime
import json
import os
import signal
import sys
import tempfile
import threading
from concurrent import futures

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.x509.oid import NameOID

MAGIC_COOKIE_KEY = "WGPLEX_PLUGIN"
MAGIC_COOKIE_VALUE = "b9a3c0e4-wgplex-plugin-2f1d7e6a"
CORE_PROTOCOL_VERSION = 1  # go-plugin's own protocol
APP_PROTOCOL_VERSION = 1  # wgplex's key vault protocol served here


def log(level, message, **fields):
    """One JSON line on stderr, the format the daemon re-logs with the
    plugin's name, at the given level (trace, debug, info, warn, error)."""
    rec = {
        "@level": level,
        "@message": message,
        "@module": "python-keyvault",
        "@timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(),
    }
    rec.update(fields)
    sys.stderr.write(json.dumps(rec) + "\n")
    sys.stderr.flush()


# --- protobuf wire format for messages of at most one field -------------


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode_bytes_field(value):
    """A message whose field 1 is `bytes` (PublicKeyResponse, DHResponse,
    GenerateKeyResponse)."""
    return b"\x0a" + _varint(len(value)) + value


def decode_field1(data, max_len=64):
    """Field 1 of a message as bytes (length-delimited) or int (varint);
    None if absent. Unknown fields are skipped, as protobuf requires."""
    i, found = 0, None

    def varint():
        nonlocal i
        shift, n = 0, 0
        while True:
            if i >= len(data) or shift > 63:
                raise ValueError("truncated varint")
            b = data[i]
            i += 1
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7

    while i < len(data):
        tag = varint()
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            v = varint()
        elif wire == 2:
            n = varint()
            if n > len(data) - i:
                raise ValueError("truncated field")
            v = data[i : i + n]
            i += n
        elif wire == 1:
            i += 8
            v = None
        elif wire == 5:
            i += 4
            v = None
        else:
            raise ValueError("unsupported wire type")
        if field == 1:
            if isinstance(v, bytes) and len(v) > max_len:
                raise ValueError("field too long")
            found = v
    return found


def raw(data):
    return data


# --- the key vault ------------------------------------------------------


class KeyVault:
    def __init__(self, key_file):
        with open(key_file, "rb") as f:
            text = f.read()
        try:
            priv = base64.b64decode(text.strip(), validate=True)
        except ValueError:
            priv = b""
        if len(priv) != 32:
            raise ValueError(f"{key_file}: not a base64 WireGuard private key")
        self._key = x25519.X25519PrivateKey.from_private_bytes(priv)
        self.public = self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    def PublicKey(self, request, context):
        return encode_bytes_field(self.public)

    def DH(self, request, context):
        try:
            peer = decode_field1(request)
        except ValueError as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"malformed request: {e}")
        if not isinstance(peer, bytes) or len(peer) != 32:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "peer public key is not 32 bytes")
        try:
            shared = self._key.exchange(x25519.X25519PublicKey.from_public_bytes(peer))
        except ValueError:
            # cryptography refuses the all-zero result of a low-order point.
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "low-order peer public key")
        return encode_bytes_field(shared)

    def GenerateKey(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "this vault reads its key from a file; use wg genkey")


# --- go-plugin's side of the handshake ----------------------------------


def server_certificate():
    """A fresh self-signed certificate for AutoMTLS: the daemon checks it
    against the copy in the handshake line and the name "localhost"."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "wgplex python key vault")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(seconds=30))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_encipherment=True, key_cert_sign=True,
                content_commitment=False, data_encipherment=False, key_agreement=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH, x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM), cert.public_bytes(serialization.Encoding.DER)


def unary(fn):
    return grpc.unary_unary_rpc_method_handler(fn, request_deserializer=raw, response_serializer=raw)


def main():
    if os.environ.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
        sys.stderr.write("This is a wgplex plugin: the wgplex daemon starts it (--keyvault).\n")
        return 1
    offered = [v for v in os.environ.get("PLUGIN_PROTOCOL_VERSIONS", "1").split(",") if v]
    if str(APP_PROTOCOL_VERSION) not in offered:
        sys.stderr.write(f"this plugin speaks protocol version {APP_PROTOCOL_VERSION}; the daemon offers {offered}\n")
        return 1

    ap = argparse.ArgumentParser()
    ap.add_argument("-key", required=True, help="private key file (wg genkey)")
    args = ap.parse_args()
    try:
        vault = KeyVault(args.key)
    except (OSError, ValueError) as e:
        sys.stderr.write(f"python-keyvault: {e}\n")
        return 1

    # A Ctrl-C at the daemon's terminal reaches the whole process group;
    # the daemon says when to stop, through Shutdown.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop = threading.Event()

    def shutdown(request, context):
        log("info", "Shutdown requested by the daemon")
        stop.set()
        return b""

    def health(request, context):
        return b"\x08\x01"  # HealthCheckResponse{status: SERVING}

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((
        grpc.method_handlers_generic_handler("wgplex.keyvault.v1.KeyVault", {
            "PublicKey": unary(vault.PublicKey),
            "DH": unary(vault.DH),
            "GenerateKey": unary(vault.GenerateKey),
        }),
        grpc.method_handlers_generic_handler("plugin.GRPCController", {"Shutdown": unary(shutdown)}),
        grpc.method_handlers_generic_handler("grpc.health.v1.Health", {"Check": unary(health)}),
    ))

    sock_dir = os.environ.get("PLUGIN_UNIX_SOCKET_DIR") or tempfile.gettempdir()
    fd, sock = tempfile.mkstemp(prefix="plugin", dir=sock_dir)
    os.close(fd)
    os.unlink(sock)
    client_cert = os.environ.get("PLUGIN_CLIENT_CERT")
    cert_field = ""
    if client_cert:
        key_pem, cert_pem, cert_der = server_certificate()
        creds = grpc.ssl_server_credentials(
            [(key_pem, cert_pem)], root_certificates=client_cert.encode(), require_client_auth=True
        )
        server.add_secure_port("unix:" + sock, creds)
        # Unpadded standard base64: go-plugin decodes it with
        # RawStdEncoding and fails on '=' padding.
        cert_field = base64.b64encode(cert_der).decode().rstrip("=")
    else:
        server.add_insecure_port("unix:" + sock)
    server.start()
    print(f"{CORE_PROTOCOL_VERSION}|{APP_PROTOCOL_VERSION}|unix|{sock}|grpc|{cert_field}", flush=True)
    log("info", "Key vault serving", address=sock,
        public_key=base64.b64encode(vault.public).decode())
    stop.wait()
    server.stop(grace=1).wait()
    try:
        os.unlink(sock)
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
