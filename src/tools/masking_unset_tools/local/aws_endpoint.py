"""A local AWS endpoint: moto's server, in-process, on loopback.

moto is a dev dependency, so it is imported only in :meth:`LocalAwsEndpoint.start`; this module
stays importable without it. moto keeps its state in process-wide backends: two endpoints in one
process share their resources.
"""

from __future__ import annotations

import functools
import logging
import socket
import threading
from typing import TYPE_CHECKING, Any, Final, Literal, cast, overload

import boto3
import botocore.session

from masking_unset_tools.local.http_server import Served

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from moto.server import ThreadedMotoServer
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

__all__ = ["DUMMY_ACCESS_KEY_ID", "DUMMY_SECRET_ACCESS_KEY", "REGION", "LocalAwsEndpoint"]

REGION: Final = "us-east-1"
DUMMY_ACCESS_KEY_ID: Final = "testing"
DUMMY_SECRET_ACCESS_KEY: Final = "testing"  # noqa: S105 - moto accepts any credentials


class LocalAwsEndpoint(Served):
    """Start and stop a moto server on ``host`` (loopback) and hand out clients aimed at it.

    ``port=0`` lets the OS pick a free port; the real one is read back from the server.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: ThreadedMotoServer | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` of the running server."""
        if self._url is None:
            raise RuntimeError("the AWS endpoint is not started")
        return self._url

    def start(self) -> None:
        """Start moto's server in a background thread and wait until it listens."""
        if self._server is not None:
            raise RuntimeError("the AWS endpoint is already started")
        from moto.server import ThreadedMotoServer  # moto is a dev dependency

        _silence_werkzeug()
        _atomic_dynamodb_items()
        if self._port != 0:
            # ThreadedMotoServer.start() waits forever when its thread fails to bind, so fail
            # early on a taken port. The port could still be taken between this probe and
            # moto's bind; port 0 (the default) has no such race.
            _probe_port(self._host, self._port)
        server = ThreadedMotoServer(ip_address=self._host, port=self._port, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        self._server = server
        self._url = f"http://{host}:{port}"

    def stop(self) -> None:
        """Stop the server and release its port."""
        server = self._server
        if server is None:
            return
        server.stop()
        # moto's stop() only ends serve_forever(); close the listening socket too so the port is
        # released now rather than at garbage collection.
        wsgi_server = getattr(server, "_server", None)
        if wsgi_server is not None:
            wsgi_server.server_close()
        self._server = None
        self._url = None

    def session(self) -> boto3.session.Session:
        """A boto3 session in us-east-1 with dummy credentials whose clients target :attr:`url`."""
        core = botocore.session.Session()
        # The config store is where AWS_ENDPOINT_URL lands; setting it here makes every client
        # and resource of this session use the local endpoint, whatever the environment says.
        core.get_component("config_store").set_config_variable("endpoint_url", self.url)
        return boto3.session.Session(
            aws_access_key_id=DUMMY_ACCESS_KEY_ID,
            aws_secret_access_key=DUMMY_SECRET_ACCESS_KEY,
            region_name=REGION,
            botocore_session=core,
        )

    @overload
    def client(self, service_name: Literal["secretsmanager"]) -> SecretsManagerClient: ...
    @overload
    def client(self, service_name: Literal["sqs"]) -> SQSClient: ...
    @overload
    def client(self, service_name: Literal["dynamodb"]) -> DynamoDBClient: ...
    @overload
    def client(self, service_name: str) -> BaseClient: ...
    def client(self, service_name: str) -> Any:
        """A boto3 client for ``service_name`` with ``endpoint_url`` set to :attr:`url`."""
        # cast: boto3-stubs only types the literal service names, not a plain str.
        return cast(Any, self.session()).client(service_name, endpoint_url=self.url)

    def env(self) -> dict[str, str]:
        """The environment variables a subprocess needs to use this endpoint."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_ACCESS_KEY,
        }


_DYNAMODB_LOCK = threading.RLock()
# What moto's DynamoDB does to one item, which DynamoDB does atomically. moto checks a condition,
# then writes (an UpdateItem of a new item first creates it with its key alone), with no lock: two
# concurrent conditional writes could both pass, and a read could see half an update.
_DYNAMODB_ITEM_CALLS = ("put_item", "update_item", "delete_item", "get_item")


def _atomic_dynamodb_items() -> None:
    """Serialise moto's item reads and writes (once per process), as DynamoDB's are atomic."""
    from moto.dynamodb.models import DynamoDBBackend  # moto is a dev dependency

    for name in _DYNAMODB_ITEM_CALLS:
        method = getattr(DynamoDBBackend, name)
        if getattr(method, "_serialised", False):
            continue

        def serialised(*args: Any, _method: Any = method, **kwargs: Any) -> Any:
            with _DYNAMODB_LOCK:
                return _method(*args, **kwargs)

        functools.update_wrapper(serialised, method)
        serialised._serialised = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, serialised)


def _silence_werkzeug() -> None:
    # werkzeug logs every request at INFO and, with no handler configured, adds its own
    # stderr handler; WARNING keeps real problems visible and the request log quiet.
    logger = logging.getLogger("werkzeug")
    if logger.level < logging.WARNING:
        logger.setLevel(logging.WARNING)


def _probe_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Same option werkzeug sets, so a port in TIME_WAIT is not reported as taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
