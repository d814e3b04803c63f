"""A gRPC C-core xDS client for the e2e tests, through Python's grpcio.

C-core reads its xDS bootstrap from GRPC_XDS_BOOTSTRAP (one xDS client, so one node, per
process). The Jest test drives this process over stdin/stdout, one JSON object per line:

  in:  {"target": "xds:///svc.ns.svc.cluster.local:80", "calls": [{"x-user-id": "a"}, {}],
        "concurrency": 16, "timeout": 5}
       (one entry per call: the metadata to send with it)
  out: {"results": [{"backend": "svc-0"}, {"code": "UNAVAILABLE", "details": "..."}]}
       (in call order), or {"error": "..."} for a bad request line.

The service is the e2e backends' Whoami: any bytes in, JSON {"backend": name} out, so a generic
bytes call is enough (no generated code).

With SWITCHYARD_CCORE_CREDENTIALS=xds the channels use xDS channel credentials (gRFC A29, plain
text as the fallback): each Cluster's UpstreamTlsContext decides whether a call uses TLS.
"""
import json
import os
import sys

import grpc
import grpc.experimental

METHOD = "/switchyard.demo.Whoami/Who"
REQUEST = b"{}"

channels = {}


def who(target):
    """The Who method on a channel to `target`, one channel per target for the process's life."""
    if target not in channels:
        if os.environ.get("SWITCHYARD_CCORE_CREDENTIALS") == "xds":
            credentials = grpc.xds_channel_credentials(grpc.experimental.insecure_channel_credentials())
            channel = grpc.secure_channel(target, credentials)
        else:
            channel = grpc.insecure_channel(target)
        channels[target] = channel.unary_unary(METHOD)
    return channels[target]


def outcome(future):
    try:
        reply = json.loads(future.result())
        return {"backend": reply["backend"]}
    except grpc.RpcError as err:
        return {"code": err.code().name, "details": err.details() or ""}


def run(request):
    call = who(request["target"])
    timeout = request.get("timeout", 5)
    concurrency = max(1, request.get("concurrency", 16))
    calls = request["calls"]
    results = []
    # Up to `concurrency` calls in flight; each batch completes before the next starts.
    for start in range(0, len(calls), concurrency):
        futures = [
            call.future(REQUEST, timeout=timeout, metadata=tuple(headers.items()))
            for headers in calls[start:start + concurrency]
        ]
        results.extend(outcome(f) for f in futures)
    return {"results": results}


def main():
    print(json.dumps({"ready": True, "grpc": grpc.__version__}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            answer = run(json.loads(line))
        except Exception as err:  # a bad request line is answered, the process goes on
            answer = {"error": f"{type(err).__name__}: {err}"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
