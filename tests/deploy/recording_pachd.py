"""A gRPC server on loopback that answers like an empty pachd and records every request.

The deploy script talks to it through the real `pachyderm_sdk.Client`, so a test sees the
protobuf requests exactly as they would reach a cluster (decoded back into the SDK's message
classes), without Kubernetes.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import grpc
from pachyderm_sdk.api import pfs, pps

#: Request message class of each pachd method the deploy script may call.
REQUEST_TYPES: dict[str, type] = {
    "/pfs_v2.API/CreateRepo": pfs.CreateRepoRequest,
    "/pfs_v2.API/InspectRepo": pfs.InspectRepoRequest,
    "/pfs_v2.API/StartCommit": pfs.StartCommitRequest,
    "/pfs_v2.API/FinishCommit": pfs.FinishCommitRequest,
    "/pfs_v2.API/DropCommitSet": pfs.DropCommitSetRequest,
    "/pfs_v2.API/ModifyFile": pfs.ModifyFileRequest,
    "/pps_v2.API/CreatePipelineV2": pps.CreatePipelineV2Request,
}
STREAMING_REQUESTS = {"/pfs_v2.API/ModifyFile"}


@dataclass
class Call:
    """One RPC: its method and its request message(s), decoded."""

    method: str
    requests: list[Any] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.method.rsplit("/", 1)[-1]


class RecordingPachd(grpc.GenericRpcHandler):
    """Start with ``with RecordingPachd() as pachd:``; ``pachd.address`` is for ``--pachd-address``."""

    def __init__(self, fail: dict[str, grpc.StatusCode] | None = None) -> None:
        self.calls: list[Call] = []
        self.fail = fail or {}
        self._lock = threading.Lock()
        self._server = grpc.server(ThreadPoolExecutor(max_workers=4))
        self._server.add_generic_rpc_handlers([self])
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.address = f"grpc://127.0.0.1:{self.port}"

    def __enter__(self) -> RecordingPachd:
        self._server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.stop(grace=1).wait()

    def names(self) -> list[str]:
        return [call.name for call in self.calls]

    def requests_of(self, name: str) -> list[Any]:
        return [request for call in self.calls if call.name == name for request in call.requests]

    # grpc.GenericRpcHandler
    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        if method not in REQUEST_TYPES:
            return None  # the client gets UNIMPLEMENTED, as from a pachd without that method
        if method in STREAMING_REQUESTS:
            return grpc.stream_unary_rpc_method_handler(
                lambda requests, context: self._answer(method, list(requests), context)
            )
        return grpc.unary_unary_rpc_method_handler(
            lambda request, context: self._answer(method, [request], context)
        )

    def _answer(self, method: str, raw_requests: list[bytes], context: grpc.ServicerContext) -> bytes:
        request_type = REQUEST_TYPES[method]
        call = Call(method, [request_type().parse(raw) for raw in raw_requests])
        with self._lock:
            self.calls.append(call)
        if call.name in self.fail:
            context.abort(self.fail[call.name], f"recording pachd: {call.name} fails as asked")
        if call.name == "StartCommit":
            branch = call.requests[0].branch
            return bytes(pfs.Commit(id=uuid.uuid4().hex, branch=branch, repo=branch.repo))
        return b""  # google.protobuf.Empty, or a response with every field at its default
