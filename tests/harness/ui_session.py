"""What a browser does when it opens a page of a Streamlit app, without a browser.

A page view only happens over Streamlit's WebSocket: the browser opens ``/_stcore/stream``, asks
for a script run (a ``BackMsg`` protobuf) and draws the ``ForwardMsg`` deltas that come back.
:func:`open_page` does the same with the ``websockets`` client Streamlit itself depends on, and
reports what the run produced. It works through anything that carries a WebSocket (a
``kubectl port-forward``, Traefik), so the image and end-to-end tests can check that a
real session runs the app and that the UI's ``page_views_total`` counts it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from harness.timing import DEADLINE


@dataclass
class PageRun:
    """What one script run sent back."""

    messages: list[str] = field(default_factory=list)
    """ForwardMsg kinds in order (``new_session``, ``delta``, ..., ``script_finished``)."""
    elements: list[str] = field(default_factory=list)
    """Kinds of the elements drawn (``markdown``, ``alert``, ``dataframe``...)."""
    errors: list[str] = field(default_factory=list)
    """Bodies of error alerts and messages of exceptions shown on the page."""
    status: str = ""
    """How the run ended (``FINISHED_SUCCESSFULLY`` when it ran to the end)."""


def open_page(url: str, page: str = "", timeout: float = DEADLINE) -> PageRun:
    """Open ``page`` (its URL path; "" = the default page) of the Streamlit app at ``url`` in a
    new session and wait for its script run to finish."""
    return asyncio.run(_open_page(url, page, timeout))


async def _open_page(url: str, page: str, timeout: float) -> PageRun:
    import websockets
    from streamlit.proto.Alert_pb2 import Alert
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.typing import Subprotocol

    stream = "ws" + url.removeprefix("http").rstrip("/") + "/_stcore/stream"
    run = PageRun()
    async with (
        asyncio.timeout(timeout),
        websockets.connect(
            stream, subprotocols=[Subprotocol("streamlit")], max_size=None, open_timeout=timeout
        ) as socket,
    ):
        request = BackMsg()
        request.rerun_script.query_string = ""
        request.rerun_script.page_name = page
        await socket.send(request.SerializeToString())
        while True:
            message = ForwardMsg()
            message.ParseFromString(await socket.recv(decode=False))
            kind = message.WhichOneof("type") or ""
            run.messages.append(kind)
            if kind == "delta" and message.delta.WhichOneof("type") == "new_element":
                element = message.delta.new_element
                element_kind = element.WhichOneof("type") or ""
                run.elements.append(element_kind)
                if element_kind == "exception":
                    run.errors.append(element.exception.message)
                elif element_kind == "alert" and element.alert.format == Alert.Format.ERROR:
                    run.errors.append(element.alert.body)
            elif kind == "script_finished":
                run.status = ForwardMsg.ScriptFinishedStatus.Name(message.script_finished)
                return run
