// @modelcontextprotocol/client 2.x (the current line): negotiates the protocol era with server/discover
// (--era auto, the default), pins 2026-07-28 (--era modern), or runs the 2025 handshake (--era legacy).
import { Client, SSEClientTransport, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { listAndCall, parseCommandLine } from "./common.mjs";

const MODERN_REVISION = "2026-07-28";

const options = parseCommandLine();
const init = { requestInit: { headers: options.headers } };
const transport =
  options.transport === "sse"
    ? new SSEClientTransport(options.url, init)
    : new StreamableHTTPClientTransport(options.url, init);
const mode = { legacy: "legacy", auto: "auto", modern: { pin: MODERN_REVISION } }[options.era];
const client = new Client(
  { name: "mcphub-e2e-client2", version: "2.0.0" },
  { capabilities: {}, versionNegotiation: { mode } },
);
await listAndCall("@modelcontextprotocol/client", client, transport, options, {
  describe: (c) => ({ era: c.getProtocolEra() ?? null, protocolVersion: c.getNegotiatedProtocolVersion() ?? null }),
  callTool: (c, params, requestOptions) => c.callTool(params, requestOptions),
});
