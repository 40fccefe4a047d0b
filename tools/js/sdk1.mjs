// @modelcontextprotocol/sdk 1.x (the maintenance line, handshake era): Streamable HTTP or legacy SSE.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { listAndCall, parseCommandLine } from "./common.mjs";

const options = parseCommandLine();
const init = { requestInit: { headers: options.headers } };
const transport =
  options.transport === "sse"
    ? new SSEClientTransport(options.url, init)
    : new StreamableHTTPClientTransport(options.url, init);
const client = new Client({ name: "mcphub-e2e-sdk1", version: "1.0.0" }, { capabilities: {} });
await listAndCall("@modelcontextprotocol/sdk", client, transport, options, {
  describe: () => ({ protocolVersion: transport.protocolVersion ?? null, sessionId: transport.sessionId ?? null }),
  callTool: (c, params, requestOptions) => c.callTool(params, undefined, requestOptions),
});
