"""A gRPC C-core xDS-enabled server with xDS server credentials (gRFC A29), through Python's grpcio.

Usage: tls_server.py <ip:port>. Like server.py, but the port is added with
grpc.xds_server_credentials (plain text as the fallback): the Listener's DownstreamTlsContext
decides whether it does TLS, with the certificate provider instances of the bootstrap
(GRPC_XDS_BOOTSTRAP). Answers Who with the caller's verified SPIFFE ID (its certificate's URI
SAN), or "plaintext" when the call came without one. Prints {"started": true} once the port is
added; runs until stdin closes.
"""
import json
import sys
from concurrent import futures

import grpc

METHOD = "Who"
SERVICE = "switchyard.demo.Whoami"


def who(_request, context):
    sans = context.auth_context().get("x509_subject_alternative_name", [])
    spiffe = [san.decode() for san in sans if san.startswith(b"spiffe://")]
    return json.dumps({"backend": spiffe[0] if spiffe else "plaintext"}).encode()


def main():
    address = sys.argv[1]
    # Connections live about a second, so new handshakes (with rotated certificates) keep happening.
    options = [("grpc.max_connection_age_ms", 1000), ("grpc.max_connection_age_grace_ms", 1000)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=options, xds=True)
    handler = grpc.method_handlers_generic_handler(SERVICE, {METHOD: grpc.unary_unary_rpc_method_handler(who)})
    server.add_generic_rpc_handlers((handler,))
    server.add_secure_port(address, grpc.xds_server_credentials(grpc.insecure_server_credentials()))
    server.start()
    print(json.dumps({"started": True, "grpc": grpc.__version__}), flush=True)
    sys.stdin.read()
    server.stop(0)


if __name__ == "__main__":
    main()
