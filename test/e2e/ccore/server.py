"""A gRPC C-core xDS-enabled server (gRFC A36) for the e2e tests, through Python's grpcio.

Usage: server.py <ip:port>. C-core reads its bootstrap from GRPC_XDS_BOOTSTRAP (it must carry
server_listener_resource_name_template) and asks the control plane for the Listener of that
address; until it has accepted one it refuses connections. The service is the e2e backends'
Whoami (any bytes in, JSON {"backend": "ccore-server"} out). Prints {"started": true} once the
port is added; runs until stdin closes.
"""
import json
import sys
from concurrent import futures

import grpc

METHOD = "Who"
SERVICE = "switchyard.demo.Whoami"


def who(_request, _context):
    return json.dumps({"backend": "ccore-server"}).encode()


def main():
    address = sys.argv[1]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), xds=True)
    handler = grpc.method_handlers_generic_handler(SERVICE, {METHOD: grpc.unary_unary_rpc_method_handler(who)})
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(address)
    server.start()
    print(json.dumps({"started": True, "grpc": grpc.__version__}), flush=True)
    sys.stdin.read()
    server.stop(0)


if __name__ == "__main__":
    main()
