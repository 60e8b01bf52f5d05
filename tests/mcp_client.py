"""Drives a colony MCP server with the official Python client (PyPI package `mcp`).

Reads a plan (JSON) from stdin: {"stdio": [command, args...]} or {"http": URL}, and
"calls": a list of steps, each one of
  {"tool": NAME, "args": {...}}      -> {"is_error", "structured", "text"}
  {"list_tools": true}               -> {"tools": [{"name", "description", "input_schema"}]}
  {"list_resources": CURSOR|null}    -> {"resources": [{"uri", "name", "size"}], "next_cursor"}
  {"templates": true}                -> {"templates": [uri_template, ...]}
  {"read_resource": URI}             -> {"contents": [{"uri", "text"|"blob", "mime_type"}]}
A step the server answers with a protocol error gives {"protocol_error": {"code", "message"}}.
Prints the list of answers as JSON on stdout, one per step, in order.
"""

import json
import sys

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError


async def step(session, s):
    try:
        if "tool" in s:
            r = await session.call_tool(s["tool"], s.get("args") or {})
            text = "".join(getattr(c, "text", "") for c in r.content)
            return {"is_error": bool(r.is_error), "structured": r.structured_content, "text": text}
        if "list_tools" in s:
            r = await session.list_tools()
            return {
                "tools": [
                    {"name": t.name, "description": t.description, "input_schema": t.input_schema}
                    for t in r.tools
                ]
            }
        if "list_resources" in s:
            cursor = s["list_resources"]
            params = None
            if cursor is not None:
                from mcp_types import PaginatedRequestParams

                params = PaginatedRequestParams(cursor=cursor)
            r = await session.list_resources(params=params)
            return {
                "resources": [{"uri": str(x.uri), "name": x.name, "size": x.size} for x in r.resources],
                "next_cursor": r.next_cursor,
            }
        if "templates" in s:
            r = await session.list_resource_templates()
            return {"templates": [t.uri_template for t in r.resource_templates]}
        if "read_resource" in s:
            r = await session.read_resource(s["read_resource"])
            out = []
            for c in r.contents:
                d = {"uri": str(c.uri), "mime_type": c.mime_type}
                if getattr(c, "text", None) is not None:
                    d["text"] = c.text
                else:
                    d["blob"] = c.blob
                out.append(d)
            return {"contents": out}
        raise ValueError(f"unknown step {s}")
    except MCPError as e:
        return {"protocol_error": {"code": e.error.code, "message": e.error.message}}


async def main():
    plan = json.load(sys.stdin)
    answers = []
    if "stdio" in plan:
        cmd = plan["stdio"]
        params = StdioServerParameters(command=cmd[0], args=cmd[1:])
        transport = stdio_client(params)
    else:
        transport = streamable_http_client(plan["http"])
    async with transport as streams:
        async with ClientSession(streams[0], streams[1]) as session:
            await session.initialize()
            for s in plan["calls"]:
                answers.append(await step(session, s))
    json.dump(answers, sys.stdout)


anyio.run(main)
